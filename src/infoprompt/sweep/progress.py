"""Whole-sweep progress: runs done / left and an estimate of the time left.

On a terminal this is a tqdm bar (its rate and ETA count only this session's runs, so runs
finished by an earlier sweep do not make the estimate optimistic). Elsewhere (a log file, CI) a
redrawn bar is unreadable, so each finished run prints one line with the same numbers.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

from tqdm.auto import tqdm

from infoprompt.sweep.runners import ALREADY_DONE, FAILED, Outcome


class SweepProgress:
    def __init__(self, total: int, done_before: int, *, stream: TextIO | None = None, enabled: bool = True,
                 bar: bool | None = None):
        self.total, self.done_before = total, done_before
        self.done, self.failed = done_before, 0
        self.stream = stream or sys.stderr
        self.enabled = enabled
        self.start = time.perf_counter()
        self.completed_here = 0  # runs this session carried out (finished or failed)
        use_bar = self.stream.isatty() if bar is None else bar
        self.bar = tqdm(total=total, initial=done_before, unit="run", desc="sweep", file=self.stream,
                        dynamic_ncols=True) if enabled and use_bar else None

    def eta_seconds(self) -> float | None:
        """Time left from this session's throughput (runs per wall-clock second, so parallelism counts)."""
        left = self.total - self.done - self.failed
        if self.completed_here == 0:
            return None
        return (time.perf_counter() - self.start) / self.completed_here * left

    def line(self, outcome: Outcome) -> str:
        left = self.total - self.done - self.failed
        eta = self.eta_seconds()
        what = {"finished": f"finished in {outcome.seconds:.1f}s" + (" (resumed)" if outcome.resumed else ""),
                "failed": f"FAILED: {outcome.message}", ALREADY_DONE: "finished by another sweep"}[outcome.status]
        eta_text = f", ~{tqdm.format_interval(eta)} left" if eta is not None and left else ""
        return f"[{self.done}/{self.total} done, {left} left, {self.failed} failed{eta_text}] {outcome.name}: {what}"

    def update(self, outcome: Outcome) -> None:
        if outcome.status == FAILED:
            self.failed += 1
        else:
            self.done += 1
        if outcome.status != ALREADY_DONE:
            self.completed_here += 1
        if not self.enabled:
            return
        if self.bar is not None:
            self.bar.update(1)
            self.bar.set_postfix(failed=self.failed)
            if outcome.status == FAILED:
                self.bar.write(self.line(outcome), file=self.stream)
        else:
            print(self.line(outcome), file=self.stream, flush=True)

    def note(self, text: str) -> None:
        if not self.enabled:
            return
        if self.bar is not None:
            self.bar.write(text, file=self.stream)
        else:
            print(text, file=self.stream, flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
