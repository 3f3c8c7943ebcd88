"""Every reader of a run's metrics log goes through infoprompt.rundir and so shares its one torn-line policy:
a torn last line (a killed run's last write, no line break) is skipped; a damaged line anywhere else is a
DataError naming file:line (issue 24; issue 25 wants damage named, never skipped)."""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path

import pytest
from runfactory import make_run

from infoprompt.errors import DataError
from infoprompt.report.learning_curve import read_log
from infoprompt.report.runs import load_runs
from infoprompt.rundir import METRICS_LOG

ROOT = Path(__file__).resolve().parents[2]
EVAL = {"type": "eval", "step": 10, "metrics": {"accuracy": 0.7}}
TRAIN = {"type": "train", "step": 1, "total": 0.5}


def _keep_records():
    spec = importlib.util.spec_from_file_location("keep_records", ROOT / "scripts/keep_records.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _run_with_log(tmp_path: Path, text: bytes) -> Path:
    run_dir = make_run(tmp_path / "runs", {"method": "warp", "task": "sst2", "seed": 0}, {"accuracy": 0.7})
    (run_dir / METRICS_LOG).write_bytes(text)
    return run_dir


def _lines(*records: dict) -> bytes:
    return b"".join(json.dumps(r).encode() + b"\n" for r in records)


def test_a_torn_last_line_is_skipped_by_every_reader(tmp_path):
    run_dir = _run_with_log(tmp_path, _lines(TRAIN, EVAL) + b'{"type": "ev')
    record = load_runs(tmp_path / "runs")[0][0]
    assert record.log == [TRAIN, EVAL] and [e["step"] for e in record.evaluations] == [10]
    assert read_log(run_dir / METRICS_LOG) == [TRAIN, EVAL]
    assert _keep_records().eval_records(run_dir / METRICS_LOG) == _lines(EVAL)


@pytest.mark.parametrize("damage", [b"{not json\n", b"[1, 2]\n", b"\xff\xfe\n"])
def test_a_damaged_middle_line_is_an_error_naming_it(tmp_path, damage):
    run_dir = _run_with_log(tmp_path, _lines(TRAIN) + damage + _lines(EVAL))
    where = re.escape(f"{run_dir / METRICS_LOG}:2:")
    record = load_runs(tmp_path / "runs")[0][0]
    with pytest.raises(DataError, match=f"^{where}"):
        _ = record.log
    with pytest.raises(DataError, match=f"^{where}"):
        read_log(run_dir / METRICS_LOG)
    with pytest.raises(DataError, match=f"^{where}"):
        _keep_records().eval_records(run_dir / METRICS_LOG)


def test_kept_records_are_the_raw_lines_byte_for_byte(tmp_path):
    spaced = b'{"type":  "eval", "step": 10,"metrics": {"accuracy": 0.70}}\n'
    unended = b'{"type": "test", "step": 12}'  # a complete last record without its line break gets one
    run_dir = _run_with_log(tmp_path, _lines(TRAIN) + b"\n" + spaced + unended)
    assert _keep_records().eval_records(run_dir / METRICS_LOG) == spaced + unended + b"\n"
