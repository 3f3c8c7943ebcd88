"""Shared setup for the theory-lab tests: import path and single-threaded torch."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

_SRC = Path(__file__).resolve().parents[2] / "src"
if str(_SRC) not in sys.path:  # allow running without an editable install
    sys.path.insert(0, str(_SRC))


@pytest.fixture(autouse=True)
def _single_thread_torch() -> Iterator[None]:
    """Tiny dense problems: torch's thread pool costs more than the arithmetic."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
