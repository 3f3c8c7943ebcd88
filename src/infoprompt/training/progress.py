"""Progress feedback: a tqdm bar on a terminal, plain periodic lines on stderr otherwise.

tqdm on a non-terminal writes carriage-return updates that pile up as one unreadable line in a log
file, so without a terminal we print whole lines instead (at most one per `interval` seconds, plus
one at the end), each formatted by tqdm's own `format_meter`, so both read the same.
"""

from __future__ import annotations

import sys
import time
from typing import Any

LINE_INTERVAL = 30.0  # seconds between progress lines when stderr is not a terminal


class LineProgress:
    """The subset of tqdm's interface the loop uses, printing a line every `interval` seconds."""

    def __init__(self, total: int, desc: str, unit: str, initial: int = 0, interval: float = LINE_INTERVAL,
                 stream=None):
        self.total, self.desc, self.unit, self.n = total, desc, unit, initial
        self.interval, self.stream = interval, stream or sys.stderr
        self.start = self.last = time.monotonic()
        self.postfix = ""
        self.printed_at = -1

    def update(self, n: int = 1) -> None:
        self.n += n
        now = time.monotonic()
        if now - self.last >= self.interval:
            self._print(now)

    def set_postfix(self, values: dict[str, Any] | None = None, **kwargs: Any) -> None:
        items = {**(values or {}), **kwargs}
        self.postfix = ", ".join(f"{k}={v}" for k, v in items.items())

    def _print(self, now: float) -> None:
        from tqdm import tqdm

        self.last, self.printed_at = now, self.n
        line = tqdm.format_meter(self.n, self.total, now - self.start, prefix=self.desc, unit=self.unit, ncols=0,
                                 postfix=self.postfix or None)
        print(line, file=self.stream, flush=True)

    def close(self) -> None:
        if self.printed_at != self.n and self.n > 0 and time.monotonic() - self.start >= self.interval:
            self._print(time.monotonic())


def progress_bar(total: int, desc: str, unit: str, enabled: bool, initial: int = 0, interval: float = LINE_INTERVAL):
    """A tqdm bar on a terminal, `LineProgress` without one, a disabled bar when `enabled` is false."""
    from tqdm.auto import tqdm

    if enabled and not sys.stderr.isatty():
        return LineProgress(total, desc, unit, initial, interval)
    return tqdm(total=total, initial=initial, disable=not enabled, desc=desc, unit=unit, dynamic_ncols=True,
                leave=False)


def close_at_stop(progress) -> None:
    """An early stop ends the bar at 100 % of what ran (not frozen at the planned share, e.g. 33 %)."""
    progress.total = progress.n
    if hasattr(progress, "refresh"):
        progress.refresh()
