"""Peak memory of a stretch of code, the same way for our methods and for peft.

CPU: tracemalloc sees only Python objects, not torch's tensors, so we read the kernel's own peak
resident set size (VmHWM in /proc/self/status) after resetting it (`5` into /proc/self/clear_refs,
Linux >= 4.0), and subtract the resident size just before, taken after `malloc_trim` has handed
freed heap pages back. Each configuration runs in a fresh process, so nothing of another
configuration is resident. Where the reset is not allowed, the process's lifetime peak
(getrusage maxrss) is reported instead and the method says so.
GPU: torch.cuda.max_memory_allocated after reset_peak_memory_stats (the caching allocator's view).
"""

from __future__ import annotations

import ctypes
import gc
import resource
from pathlib import Path

import torch

_STATUS = Path("/proc/self/status")
_CLEAR_REFS = Path("/proc/self/clear_refs")
MB = 1024 * 1024


def _status_kb(field: str) -> int | None:
    try:
        for line in _STATUS.read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def _trim_heap() -> None:
    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass  # not glibc: freed pages may stay resident, which only overstates the baseline


class PeakMemory:
    """Context manager: `.peak_mb` (everything resident or allocated at the peak) and `.delta_mb`
    (the peak above what was there when the block began), plus `.method` naming how it was measured."""

    def __init__(self, device: torch.device):
        self.device = device
        self.peak_mb = self.delta_mb = float("nan")
        self.method = ""

    def __enter__(self) -> PeakMemory:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            self._base = torch.cuda.memory_allocated(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
            self.method = "torch.cuda.max_memory_allocated"
            return self
        _trim_heap()
        self._base = (_status_kb("VmRSS") or 0) * 1024
        try:
            _CLEAR_REFS.write_text("5")
            self.method = "VmHWM after clear_refs (peak RSS of this block)"
        except OSError:
            self.method = "getrusage maxrss (lifetime peak RSS: clear_refs not permitted)"
        return self

    def __exit__(self, *exc) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            peak = torch.cuda.max_memory_allocated(self.device)
        else:
            hwm = _status_kb("VmHWM") if self.method.startswith("VmHWM") else None
            peak = hwm * 1024 if hwm is not None else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        self.peak_mb = peak / MB
        self.delta_mb = (peak - self._base) / MB
