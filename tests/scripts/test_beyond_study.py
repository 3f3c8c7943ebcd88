"""scripts/beyond_study.py: the four-task report of issue 23, on synthetic records whose numbers are known."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location("beyond_study", ROOT / "scripts/beyond_study.py")
study = importlib.util.module_from_spec(spec)
spec.loader.exec_module(study)


def write_run(root: Path, task: str, method: str, seed: int, score: float, *, majority: float = 0.5,
              collapsed: bool = False, seconds: float = 1.0, few_shot: bool = True) -> None:
    run = root / f"{task}_{method}_{seed}_{'fs' if few_shot else '256'}"
    run.mkdir(parents=True)
    args = {"task": task, "method": method, "seed": seed, "n_prompts": 4, "ablation": "none",
            "select_on": "few-shot" if few_shot else "dev-split", "shots": None if few_shot else 256,
            "shots_per_class": 16 if few_shot else None}
    summary = {"task": task, "method": method, "seed": seed, "seconds_per_epoch": seconds, "peak_rss_mb": 900.0,
               "reported": {"split": "test (n=2000)", "selected": {"accuracy": score}, "last": {"accuracy": score},
                            "collapsed": collapsed, "majority": {"metrics": {"accuracy": majority}}}}
    (run / "run.json").write_text(json.dumps({"args": args}))
    (run / "result.json").write_text(json.dumps(summary))
    selection = {"type": "selection", "selected": {"accuracy": 1.0 - score}}  # tuning score: the reverse order
    (run / "metrics.jsonl").write_text(json.dumps({"type": "eval", "step": 1, "metrics": {"accuracy": 0.5}}) + "\n"
                                       + json.dumps(selection) + "\n")


@pytest.fixture
def records(tmp_path: Path) -> Path:
    root = tmp_path / "records"
    for seed, (p, r) in zip((13, 21, 42), ((0.70, 0.74), (0.72, 0.75), (0.71, 0.76))):
        for task, shift in (("sst2", 0.0), ("cr", 0.1)):
            write_run(root, task, "prompt", seed, p + shift, seconds=2.0)
            write_run(root, task, "residual", seed, r + shift, seconds=3.0, collapsed=(task == "cr" and seed == 13))
    write_run(root, "sst2", "prompt", 13, 0.80, few_shot=False)  # another setting: never mixed in
    return root


def test_cells_and_paired_differences_are_the_hand_computed_ones(records: Path):
    summary = study.summarise(study.load_runs(records)[0], "prompt")
    few = summary["settings"]["few-shot 16/class"]
    assert few["tasks"] == ["sst2", "cr"] and few["conditions"] == ["prompt", "residual"]
    cell = few["cells"]["cr|residual"]
    assert cell["mean"] == pytest.approx(0.85) and cell["n"] == 3 and cell["collapsed"] == 1
    assert cell["majority"] == 0.5 and cell["seconds_per_epoch"] == 3.0
    paired = few["paired"]["residual"]
    assert paired["sst2"]["mean"] == pytest.approx(0.04) and paired["sst2"]["seeds"] == 3
    # per seed the difference is the same on both tasks, so the average equals it and its interval brackets it
    assert paired["average"]["mean"] == pytest.approx(0.04)
    low, high = paired["average"]["ci95"]
    assert low < 0.04 < high and low > 0  # differences 0.04, 0.03, 0.05: an interval above zero
    assert summary["settings"]["256 shots"]["cells"]["sst2|prompt"]["mean"] == 0.80


def test_report_is_written_byte_for_byte_the_same_and_flags_collapse(records: Path, tmp_path: Path):
    assert study.main([str(records), "--out", str(tmp_path / "a")]) == 0
    assert study.main([str(records), "--out", str(tmp_path / "b")]) == 0
    for name in ("report.md", "summary.json"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    text = (tmp_path / "a" / "report.md").read_text()
    assert "| *majority* | 0.5000 | 0.5000 | 0.5000 |" in text
    assert "⚠ 1 collapsed" in text and "+4.00" in text


def test_an_empty_folder_is_a_one_line_error(tmp_path: Path, capsys):
    (tmp_path / "empty").mkdir()
    assert study.main([str(tmp_path / "empty")]) == 2
    assert "no finished run" in capsys.readouterr().err


def test_choose_reads_the_selection_split_never_the_reported_one(records: Path, tmp_path: Path):
    # residual reports higher, but its selection-split scores (1 - score) are lower: prompt must be chosen
    result = study.choose(records, ["prompt", "residual"], "few-shot 16/class")
    assert result["chosen"] == "prompt" and result["ranking"]["residual"]["runs"] == 6
    assert result["ranking"]["prompt"]["mean_selection_score"] == pytest.approx(1 - (0.71 + 0.81) / 2)
    assert study.main([str(records), "--choose", "prompt,nonesuch", "--out", str(tmp_path / "c.json")]) == 2


@pytest.mark.parametrize("records, report", [("records", "report"), ("records_256", "report_256")])
def test_the_committed_study_report_regenerates_byte_for_byte(tmp_path: Path, records: str, report: str):
    results = ROOT / "docs/results/beyond_minilm"
    assert study.main([str(results / records), "--out", str(tmp_path)]) == 0
    for name in ("report.md", "summary.json"):
        assert (tmp_path / name).read_bytes() == (results / report / name).read_bytes(), name
