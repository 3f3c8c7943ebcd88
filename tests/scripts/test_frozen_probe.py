"""scripts/frozen_probe.py: the probe of issue 17's acceptance, scored on the study's own dev halves."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

from infoprompt.training.selection import split_dev

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "docs/results/honest_fewshot_minilm"
spec = importlib.util.spec_from_file_location("frozen_probe", ROOT / "scripts/frozen_probe.py")
probe = importlib.util.module_from_spec(spec)
spec.loader.exec_module(probe)


def test_a_separable_cell_is_perfect_and_a_featureless_one_collapses_to_the_majority():
    rng = np.random.default_rng(0)
    train_y, dev_y = np.array([0, 1] * 20), np.array([0, 1, 1] * 20)
    shift = lambda y: rng.normal(size=(len(y), 4)) + 4 * y[:, None]  # noqa: E731
    split = split_dev(dev_y.tolist(), seed=0)
    cell = probe.probe_cell(shift(train_y), train_y, shift(dev_y), dev_y, split)
    assert cell["report_accuracy"] == 1.0 and not cell["collapsed"] and cell["C"] == probe.C_GRID[0]
    flat = probe.probe_cell(np.zeros((60, 4)), dev_y, np.zeros((60, 4)), dev_y, split)  # only a prior to learn
    assert flat["collapsed"] and flat["report_accuracy"] == pytest.approx(flat["majority_rate"])


def test_paired_differences_against_the_committed_records(capsys):
    from infoprompt.report.runs import load_runs

    records = [json.loads(line) for line in (RESULTS / "probe.jsonl").read_text().splitlines()]
    assert len(records) == 10 and {r["shots"] for r in records} == {64, 256}
    result = probe.paired_against(records, str(RESULTS / "records"), "prompt", shots=256)
    runs = load_runs(RESULTS / "records")[0]
    mine = {r["seed"]: r["report_accuracy"] for r in records if r["shots"] == 256}
    theirs = {r.seed: r.score() for r in runs if r.method == "prompt" and r.shots == 256}
    assert result["n"] == 5 and result["mean"] == pytest.approx(np.mean([theirs[s] - mine[s] for s in mine]))
    assert probe.main(["--data-dir", "unused", "--from", str(RESULTS / "probe.jsonl"), "--against",
                       str(RESULTS / "records"), "--condition", "infoprompt"]) == 0
    out = capsys.readouterr().out
    assert "probe sst2 shots=256:" in out and "infoprompt - probe, shots=64:" in out and "95 % CI" in out
    assert probe.main(["--data-dir", "unused", "--from", str(RESULTS / "probe.jsonl"), "--against",
                       str(RESULTS / "records"), "--condition", "nonesuch"]) == 2
