"""`infoprompt bench` plumbing on a tiny random backbone: workers, ratios, acceptance, skipped methods."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from infoprompt.bench.e2e import find_peft_script, limited_data_dir
from infoprompt.bench.report import acceptance, summarise, to_markdown
from infoprompt.cli import main

ROWS = [("a great movie", 1), ("a terrible film", 0), ("wonderful and fun", 1), ("boring and long", 0)]


@pytest.fixture(scope="module")
def tiny_dir(tiny_model_dir) -> Path:
    return tiny_model_dir


@pytest.fixture(scope="module")
def sst2_dir(tmp_path_factory) -> Path:
    """A miniature glue/sst2 folder in the real layout."""
    root = tmp_path_factory.mktemp("data")
    folder = root / "glue" / "sst2"
    folder.mkdir(parents=True)
    for name, n in (("train.tsv", 40), ("dev.tsv", 12)):
        lines = ["sentence\tlabel"] + [f"{ROWS[i % 4][0]} number {i}\t{ROWS[i % 4][1]}" for i in range(n)]
        (folder / name).write_text("\n".join(lines) + "\n", encoding="utf-8")
    return root


@pytest.fixture
def broken_method(monkeypatch):
    """A registered method whose constructor fails: the benchmark must note it and go on."""
    from infoprompt.methods import METHODS, register_method
    from infoprompt.methods.prompt_tuning import PromptTuning, PromptTuningConfig

    class Broken(PromptTuning):
        def __init__(self, *args, **kwargs):
            raise RuntimeError("deliberately broken")

    monkeypatch.setattr(METHODS, "entries", dict(METHODS.entries))
    register_method("broken", PromptTuningConfig)(Broken)
    return "broken"


def test_bench_measures_ours_and_peft_and_notes_a_method_that_fails(tiny_dir, sst2_dir, broken_method, capsys):
    argv = ["bench", "--in-process", "--backbone", str(tiny_dir), "--data-dir", str(sst2_dir), "--methods",
            f"prompt,{broken_method}", "--lengths", "12", "--steps", "5", "--no-e2e", "--quick", "--json"]
    assert main(argv) == 0
    report = json.loads(capsys.readouterr().out)
    configs = {c["name"]: c for c in report["configs"]}
    assert set(configs) == {"prompt", "broken", "peft-prompt", "peft-lora"}
    assert configs["broken"]["error"].startswith("cannot build: RuntimeError: deliberately broken")
    for name in ("prompt", "peft-prompt", "peft-lora"):
        (step,) = configs[name]["steps"]
        assert step["step_ms"] > 0 and step["flops"] > 0 and len(step["step_ms_all"]) == 5
        assert step["peak_mb"] > 0 and step["peak_mb"] >= step["step_mb"]
    # same text on both sides; our template adds its 4 prompt slots and the mask, peft its virtual tokens
    assert configs["prompt"]["steps"][0]["tokens"] == 12 + 4 + 1
    assert configs["peft-prompt"]["steps"][0]["tokens"] == 12
    assert configs["prompt"]["trainable_params"] == configs["peft-prompt"]["trainable_params"] == 4 * 32 + 2 * 32 + 2
    assert {r["name"] for r in report["eval_table"]} == {"prompt", "peft-prompt"}
    (row,) = [r for r in report["step_table"] if r["name"] == "prompt"]
    assert row["vs_peft_prompt"] == pytest.approx(row["step_ms"] / configs["peft-prompt"]["steps"][0]["step_ms"])
    assert row["x_floor"] > 1.0  # no step beats the machine's matmul limit
    assert any(c["check"] == "step L=12: prompt / peft-prompt" and c["ok"] is not None for c in report["acceptance"])


def test_bench_refuses_fewer_than_five_measured_steps(capsys):
    assert main(["bench", "--steps", "3", "--no-e2e"]) == 2
    assert "--steps must be >= 5" in capsys.readouterr().err


def _raw(prompt_ms: float, peft_ms: float, info_ms: float, ours_wall: float, peft_wall: float) -> dict:
    def cfg(name, ms, peak):
        return {"name": name, "trainable_params": 1, "steps": [
            {"length": 64, "tokens": 64, "step_ms": ms, "first_step_ms": ms, "peak_mb": peak, "step_mb": 1.0,
             "flops": 10**9, "memory_method": "test"}]}

    return {
        "device": "cpu", "device_name": "test cpu", "precision": "fp32", "quick": False, "torch": "x", "threads": 2,
        "backbone": "tiny", "batch_size": 8, "steps": 5, "warmup": 2, "matmul_flops_per_s": 1e11,
        "configs": [cfg("prompt", prompt_ms, 100.0), cfg("infoprompt", info_ms, 101.0), cfg("peft-prompt", peft_ms, 110.0),
                    {"name": "lora", "error": "cannot build: boom"}],
        "e2e": [{"side": "infoprompt", "method": "prompt", "wall_s": ours_wall, "accuracy": 0.80, "command": "a"},
                {"side": "peft+Trainer", "method": "peft-prompt", "wall_s": peft_wall, "accuracy": 0.805, "command": "b"}],
        "e2e_settings": {"shots": 256, "epochs": 10, "batch_size": 8, "lr": 1e-3}, "notes": [],
    }


def test_acceptance_reads_the_issue_limits_from_the_run_figures():
    checks = {c["check"]: c for c in acceptance(_raw(9.0, 10.0, 11.0, 60.0, 100.0))}
    assert checks["step L=64: prompt / peft-prompt"]["value"] == pytest.approx(0.9)
    assert checks["step L=64: prompt / peft-prompt"]["ok"] is True
    assert checks["step L=64: infoprompt / prompt"]["value"] == pytest.approx(11 / 9)
    assert checks["end to end: prompt wall clock / peft+Trainer"]["ok"] is True
    assert checks["end to end: prompt accuracy − peft+Trainer (points)"]["value"] == pytest.approx(-0.5)
    assert checks["peak memory L=64: lora / peft-lora"]["ok"] is None  # lora failed to build: no verdict
    failing = {c["check"]: c for c in acceptance(_raw(12.0, 10.0, 16.0, 80.0, 100.0))}
    assert failing["step L=64: prompt / peft-prompt"]["ok"] is False
    assert failing["step L=64: infoprompt / prompt"]["ok"] is False
    assert failing["end to end: prompt wall clock / peft+Trainer"]["ok"] is False


def test_markdown_report_names_the_device_and_every_skipped_method():
    text = to_markdown(summarise(_raw(9.0, 10.0, 11.0, 60.0, 100.0)))
    assert "test cpu" in text and "lora: cannot build: boom" in text
    assert "| prompt | 64 |" in text and "### Acceptance" in text


def test_quick_dev_set_keeps_the_few_shot_draw(sst2_dir, tmp_path):
    from infoprompt.data.sampling import sample_few_shot
    from infoprompt.data.tasks import get_task, load_split

    limited = Path(limited_data_dir(str(sst2_dir), 5, tmp_path))
    task = get_task("sst2")
    assert len(load_split(task, "dev", limited)) == 5
    draw = [e.text_a for e in sample_few_shot(load_split(task, "train", limited), 8, 3)]
    assert draw == [e.text_a for e in sample_few_shot(load_split(task, "train", sst2_dir), 8, 3)]


def test_peft_trainer_baseline_script_trains_on_the_same_draw(tiny_dir, sst2_dir, tmp_path, capsys):
    spec = importlib.util.spec_from_file_location("peft_trainer_sst2", find_peft_script())
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    argv = ["--backbone", str(tiny_dir), "--data-dir", str(sst2_dir), "--shots", "16", "--epochs", "1",
            "--output", str(tmp_path / "peft")]
    assert script.main(argv) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["n_train"] == 16 and result["n_dev"] == 12 and result["steps"] == 2
    assert 0.0 <= result["accuracy"] <= 1.0


def test_one_worker_process_streams_a_result_per_configuration():
    from infoprompt.bench.run import run_workers
    from infoprompt.bench.subjects import Spec

    seen = []
    results = run_workers([Spec(name="no-such-method"), Spec(name="another-missing", label="renamed")],
                          one_process=True, timeout=300, on_result=seen.append)
    assert [r["name"] for r in results] == ["no-such-method", "renamed"] and seen == results
    assert all(r["error"].startswith("cannot build: ConfigError: unknown method") for r in results)


def test_unknown_peft_run_kind_is_refused(capsys):
    assert main(["bench", "--e2e-peft", "prefix", "--no-e2e"]) == 2
    assert "--e2e-peft" in capsys.readouterr().err
