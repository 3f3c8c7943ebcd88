"""The loop's log: its records (the run's `metrics.jsonl`, mirrored to the trackers) and its progress bar.

Only rank 0 writes records; every rank keeps the bar's count. A resumed run first drops the records
past its saved step (`truncate_log`), so the log reads as one uninterrupted run's.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

from infoprompt.atomic_files import atomic_write_bytes
from infoprompt.rundir import METRICS_LOG, jsonl_entries
from infoprompt.training.logging import JsonlLog
from infoprompt.training.progress import close_at_stop, progress_bar
from infoprompt.training.state import LoopPosition


class _NoLog:
    """Stands in for the JSONL log on ranks other than 0."""

    def write(self, record: dict) -> None:
        pass

    def close(self) -> None:
        pass


class LoopLog:
    """The metrics log (rank 0, with `trackers` attached: training.tracking.Trackers) and the training bar."""

    def __init__(self, run_dir: Path, main: bool, trackers, total_steps: int, show: bool, initial: int):
        self.run_dir, self.main = Path(run_dir), main
        log = JsonlLog(self.run_dir / METRICS_LOG) if main else _NoLog()
        self.log = trackers.attach(log) if main and trackers is not None else log
        self.progress = progress_bar(total_steps, "train", "step", show and main, initial=initial)

    def train(self, pos: LoopPosition, lr: float, loss, out) -> None:
        """The record of the step just done (every named loss term) and one tick of the bar."""
        if self.main:
            self.log.write({
                "type": "train", "step": pos.step, "epoch": pos.epoch + 1, "lr": lr,
                "total": loss.item(), "losses": {k: v.item() for k, v in out.losses.items()},
            })
        self.progress.update(1)

    def write(self, record: dict) -> None:
        self.log.write(record)

    def show(self, values: dict) -> None:
        """What the bar shows beside the count (the last evaluation's score and the kept step)."""
        self.progress.set_postfix(values)

    def stopped(self) -> None:
        close_at_stop(self.progress)

    def close(self) -> None:
        self.progress.close()
        self.log.close()

    def append(self, record: dict) -> None:
        """One more record after the loop (the closing selection record; not sent to the trackers)."""
        if self.main:
            append_record(self.run_dir, record)


def append_record(run_dir: Path, record: dict) -> None:
    with contextlib.closing(JsonlLog(Path(run_dir) / METRICS_LOG)) as tail:
        tail.write(record)


CLOSING = ("selection", "test", "report")  # the records written after the loop (by fit, then by the API)


def truncate_log(path: Path, step: int, closing: bool = False) -> None:
    """Drop log records past `step` (and a torn last line) before a resumed run appends again; the records
    kept are kept byte for byte. `closing`: drop the closing records too (a finished run resumed writes them
    again, once: a kill during the closing phase must not leave them missing or twice)."""
    if not path.exists():
        return
    kept = [raw for raw, record in jsonl_entries(path)
            if record.get("step", 0) <= step and not (closing and record.get("type") in CLOSING)]
    atomic_write_bytes(path, b"".join(kept))
