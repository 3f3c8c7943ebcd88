"""The speed limit: this machine's measured matrix-multiply throughput, and a step's FLOPs.

A step cannot run faster than (its FLOPs) / (the best FLOP/s a large matmul reaches here), so the
report shows every step time as a multiple of that floor.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import torch


def matmul_flops_per_second(device: str | torch.device = "cpu", precision: str = "fp32", seconds: float = 1.0) -> float:
    """Best FLOP/s of an n×n×n matmul (n = 1024 on CPU, 8192 on GPU) over about `seconds` of repeats."""
    device = torch.device(device)
    n = 8192 if device.type == "cuda" else 1024
    dtype = torch.bfloat16 if precision == "bf16" else torch.float32
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)

    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    for _ in range(2):
        a @ b
    sync()
    best = float("inf")
    deadline = time.perf_counter() + seconds
    repeats = 0
    while repeats < 3 or time.perf_counter() < deadline:
        start = time.perf_counter()
        a @ b
        sync()
        best = min(best, time.perf_counter() - start)
        repeats += 1
    return 2 * n**3 / best


def count_flops(fn: Callable[[], object]) -> int:
    """FLOPs of the matrix products, attention and convolutions `fn` runs (torch's FlopCounterMode)."""
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with counter:
        fn()
    return int(counter.get_total_flops())
