"""The APET experiment commands: thresholds, resumable runs, partial outputs, the unified label set."""

from __future__ import annotations

import json

import pytest

from infoprompt.errors import ConfigError
from infoprompt.experiments.apet import a1, a2, common
from infoprompt.experiments.apet.a2 import standard_error, thresholds
from infoprompt.experiments.apet.common import Setup, unified_labels

LEVELS = {"chance": 50.0, "majority": 55.0, "dev_size": 10**6}  # a huge dev set: a margin of 0.05 points


def test_thresholds_are_the_first_budgets_past_each_level():
    budgets = [10, 100, 1000, 10000]
    assert thresholds(budgets, [50.0, 56.0, 80.0, 89.5], 55.0, 90.0, 1.0) == {"low": 100, "high": 10000}
    assert thresholds(budgets, [55.0, None, 54.0, 70.0], 55.0, 90.0, 1.0) == {"low": 10000, "high": None}
    assert thresholds(budgets, [60.0] * 4, 55.0, None, 1.0) == {"low": 10, "high": None}
    # a margin above the level; fine-tuning below the bar leaves the high threshold undefined
    assert thresholds(budgets, [56.0, 58.0, 80.0, 89.5], 55.0, 90.0, 1.0, margin=2.0) == {"low": 100, "high": 10000}
    assert thresholds(budgets, [50.0, 51.0, 52.0, 53.0], 55.0, 54.0, 1.0, margin=2.0) == {"low": None, "high": None}
    assert standard_error(50.0, 100) == pytest.approx(5.0)


def test_unified_labels():
    assert unified_labels("sst2") == [0, 1]  # negative, positive
    assert unified_labels("rte") == [1, 0]  # entailment, not_entailment
    assert unified_labels("mrpc") == [0, 1]  # not_equivalent, equivalent
    with pytest.raises(ConfigError, match="unified label set"):
        unified_labels("semeval")


def fake_accuracy(flags: dict) -> float:
    if flags["method"] == "finetune":
        return 0.90
    return min(0.5 + 0.1 * len(str(flags["budget"])), 0.95)  # grows with the budget's digits


def test_a2_writes_partial_results_and_a_rerun_completes_them(tmp_path, monkeypatch):
    calls = []

    def fake_run(flags, runs_dir):
        calls.append(flags)
        if len(calls) == 3 and not getattr(fake_run, "resumed", False):
            raise KeyboardInterrupt  # the experiment is killed during its third run
        return {"dev": {"accuracy": fake_accuracy(flags)}, "apet_params": flags.get("budget")}

    monkeypatch.setattr(common, "run_one", fake_run)
    monkeypatch.setattr(a2, "label_levels", lambda task, data_dir: LEVELS)
    setup = Setup(tasks=["sst2"], data_dir=None)
    with pytest.raises(KeyboardInterrupt):
        a2.run_a2(setup, [10, 1000, 100000], 1.0, tmp_path, tmp_path / "runs")
    partial = json.loads((tmp_path / "a2.json").read_text())
    assert partial["curves"]["sst2"]["finetune"] == pytest.approx(90.0)
    assert partial["curves"]["sst2"]["accuracy"][0] == pytest.approx(70.0)
    assert partial["curves"]["sst2"]["accuracy"][1:] == [None, None]
    fake_run.resumed = True
    record = a2.run_a2(setup, [10, 1000, 100000], 1.0, tmp_path, tmp_path / "runs")
    curve = record["curves"]["sst2"]
    assert curve["accuracy"] == pytest.approx([70.0, 90.0, 95.0])
    assert curve["thresholds"] == {"low": 10, "high": 1000}
    assert {p.name for p in tmp_path.iterdir()} >= {"a2.json", "a2.md", "a2.png"}
    assert "| 1,000 | 90.00 |" in (tmp_path / "a2.md").read_text()


def test_a1_groups_placements_by_budget(tmp_path, monkeypatch):
    budgets = {"prompt": 100, "bitfit": 200, "lora": 300, "adapter": 400}

    def fake_run(flags, runs_dir):
        return {"dev": {"accuracy": 0.6 + 0.01 * flags["apet_seed"]}, "apet_params": flags["budget"]}

    monkeypatch.setattr(common, "run_one", fake_run)
    monkeypatch.setattr(a1, "label_levels", lambda task, data_dir: LEVELS)
    monkeypatch.setattr(a1, "classic_budgets", lambda backbone: budgets)
    record = a1.run_a1(Setup(tasks=["rte"]), 3, tmp_path, tmp_path / "runs")
    assert [g["budget"] for g in record["groups"]] == [100, 200, 300, 400]
    assert all(g["runs"] == 3 and g["mean"] == pytest.approx(61.0) and g["std"] == pytest.approx(1.0)
               for g in record["groups"])
    assert (tmp_path / "a1.png").stat().st_size > 0


def test_run_one_skips_a_finished_run(tmp_path, monkeypatch):
    from infoprompt.sweep import runners

    trained = []

    def fake_train(spec, run_dir, resume):
        trained.append(run_dir)
        return {"dev": {"accuracy": 0.75}, "task": spec.args["task"]}

    monkeypatch.setattr(runners, "train_cli", fake_train)
    flags = Setup(tasks=["sst2"]).flags("sst2", "apet", budget=64)
    first = common.run_one(flags, tmp_path)
    second = common.run_one(flags, tmp_path)
    assert len(trained) == 1 and first["dev"] == second["dev"] == {"accuracy": 0.75}


def test_setup_names_packing_only_when_not_the_default():
    """Default runs keep the identity they had before `--packing` existed; `off` is passed on to train."""
    assert "packing" not in Setup(tasks=["sst2"]).flags("sst2", "apet", budget=64)
    assert Setup(tasks=["sst2"], packing="off").flags("sst2", "finetune")["packing"] == "off"


def test_replot_redraws_each_png_from_its_committed_json_without_running(tmp_path, monkeypatch):
    from infoprompt.experiments.apet.cli import replot

    monkeypatch.setattr(common, "run_one", lambda flags, runs_dir: pytest.fail("replot must not train"))
    monkeypatch.setattr(a2, "label_levels", lambda task, data_dir: LEVELS)
    monkeypatch.setattr(common, "label_levels", lambda task, data_dir: LEVELS)
    record = {"experiment": "A2", "setup": Setup(tasks=["sst2"]).__dict__, "tolerance": 1.0, "runs": [],
              "curves": {"sst2": {"budgets": [16, 4096, 262144], "accuracy": [60.0, 70.0, None], "finetune": 80.0,
                                  **LEVELS, "low_margin": 0.1, "thresholds": {"low": 16, "high": None}}}}
    (tmp_path / "a2.json").write_text(json.dumps(record))
    assert replot("a2", tmp_path).read_bytes()[:4] == b"\x89PNG"
    transfer = {"experiment": "E", "setup": Setup(tasks=["sst2", "rte"]).__dict__, "budget": 64, "sources": {},
                "matrix": {"sst2": {"sst2": 70.0, "rte": 50.0}}}
    (tmp_path / "transfer.json").write_text(json.dumps(transfer))
    assert replot("transfer", tmp_path).stat().st_size > 0  # levels filled in for the picture only
    assert "levels" not in json.loads((tmp_path / "transfer.json").read_text())
    with pytest.raises(ConfigError, match="a1.json not found"):
        replot("a1", tmp_path)


def test_budget_tick_labels_are_short():
    assert [a2.budget_label(b) for b in (16, 256, 1024, 16384, 262144)] == ["16", "256", "1.02k", "16.4k", "262k"]
