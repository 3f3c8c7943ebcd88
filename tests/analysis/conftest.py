"""One torch thread for these small models: on a shared 2-core machine, more threads only contend."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _one_thread(one_torch_thread):
    yield
