"""Every file name of a run directory, in one place (a leaf: it imports nothing of the package but `errors`).

A run directory is what `infoprompt train --output RUN_DIR` writes, plus what the sweep adds around
it. Training, resume, report, sweep, export and analysis all name these files through the constants
below, so a renamed file is one edit (the HF Trainer keeps its run-directory names in one block of
constants for the same reason).
"""

from __future__ import annotations

import json
from pathlib import Path

from infoprompt.errors import DataError

# written by training (the checkpoint keeper, the loop's log, the plot)
CONFIG = "config.json"  # the checkpoint's sealed record; written last in a save
TENSORS = "model.safetensors"  # the checkpoint's trainable tensors
METRICS_LOG = "metrics.jsonl"  # one JSON record per step, evaluation, selection and test score
LEARNING_CURVE = "learning_curve.png"
RESUME_DIR = "resume"  # the resumable training state (optimizer, RNG, loop position)
STATE_JSON = "state.json"  # inside RESUME_DIR, the sealed resume record
STATE_TENSORS = "state.safetensors"  # inside RESUME_DIR
RUN_LOCK = ".infoprompt.lock"  # one writer per run directory

# written by the sweep around a training run
SPEC = "run.json"  # the run's flags
RESULT = "result.json"  # the run's summary, written when it finished
SWEEP_LOCK = ".lock"
ATTEMPTS = "attempts.jsonl"
TRAIN_LOG = "train.log"

# written after a run finished (and beside every export)
MODEL_CARD = "README.md"  # the Hugging Face Hub model card
PENDING = ".pending"  # a save's tensors, written before their record commits them (training.checkpoint)

# files whose presence makes a directory a run directory (refused as a fresh output without --overwrite)
RUN_MARKERS = (CONFIG, TENSORS, f"{RESUME_DIR}/{STATE_JSON}", METRICS_LOG)
# what a fresh training run writes (removed by --overwrite)
RUN_FILES = (CONFIG, TENSORS, METRICS_LOG, LEARNING_CURVE, f"{RESUME_DIR}/{STATE_JSON}")


# --- the one reader of a JSON-lines log (metrics.jsonl, attempts.jsonl) ---------------------------------------------
# One torn-line policy for every reader: a kill can cut only the last write, so a last line that has no line break
# and is not valid JSON is a torn write and is skipped; an unreadable line anywhere else is damage, and is an error
# naming the file and the line. Blank lines are skipped.


def numbered_entries(path: Path) -> list[tuple[int, bytes, dict]]:
    """Each complete record of a JSON-lines file as (line number, raw line with its line break, record), for
    readers whose own messages name the line; [] without a file."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return []
    lines = data.splitlines(keepends=True)
    entries = []
    for number, raw in enumerate(lines, 1):
        if not raw.strip():
            continue
        try:
            record = json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError):
            if number == len(lines) and not raw.endswith(b"\n"):
                continue  # the torn last write of a killed run
            raise DataError(f"{path}:{number}: not a JSON record") from None
        if not isinstance(record, dict):
            raise DataError(f"{path}:{number}: a log record must be a JSON object, got {type(record).__name__}")
        entries.append((number, raw if raw.endswith(b"\n") else raw + b"\n", record))
    return entries


def jsonl_entries(path: Path) -> list[tuple[bytes, dict]]:
    """Each complete record of a JSON-lines file with its raw line (the line break included); [] without a file."""
    return [(raw, record) for _, raw, record in numbered_entries(path)]


def read_records(path: Path) -> list[dict]:
    """Every complete record of a JSON-lines log, in order (see the torn-line policy above)."""
    return [record for _, record in jsonl_entries(path)]


def read_metrics(run_dir: Path) -> list[dict]:
    """Every record of a run's metrics log, in order; [] without a log."""
    return read_records(Path(run_dir) / METRICS_LOG)
