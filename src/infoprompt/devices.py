"""Which device a run uses: `--device auto` resolved, an explicit one checked to exist here (a leaf).

torch is imported only when a device is resolved, so option checks and `--help` stay fast.
"""

from __future__ import annotations

import re

from infoprompt.errors import ConfigError

DEVICE_PATTERN = re.compile(r"^(auto|cpu|mps|cuda(:\d+)?)$")


def resolve_device(name: str) -> str:
    """'auto' -> cuda, then mps, then cpu; an explicit device must exist here (else a one-line ConfigError)."""
    if not DEVICE_PATTERN.match(name):
        raise ConfigError(f"--device must be auto, cpu, cuda, cuda:N or mps; got '{name}'")
    import torch

    cuda = torch.cuda.is_available()
    mps = bool(getattr(torch.backends, "mps", None)) and torch.backends.mps.is_available()
    if name == "auto":
        return "cuda" if cuda else "mps" if mps else "cpu"
    if name.startswith("cuda"):
        if not cuda:
            raise ConfigError(f"--device {name}: CUDA is not available on this machine (use --device auto or cpu)")
        index = int(name.partition(":")[2] or 0)
        if index >= torch.cuda.device_count():
            raise ConfigError(f"--device {name}: this machine has {torch.cuda.device_count()} CUDA device(s)")
    if name == "mps" and not mps:
        raise ConfigError("--device mps: MPS is not available on this machine (use --device auto or cpu)")
    return name
