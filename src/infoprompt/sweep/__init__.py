"""Sweeps: a grid of `infoprompt train` runs from a YAML/TOML file, resumable and parallel.

    from infoprompt.sweep import load_sweep, expand, run_sweep
    result = run_sweep(expand(load_sweep("configs/sweeps/table1.yaml")), "runs/table1", workers=2)

See docs/sweeps.md. Importing this package does not load torch.
"""

from infoprompt.sweep.config import SweepConfig, load_sweep
from infoprompt.sweep.executor import SweepResult, run_sweep
from infoprompt.sweep.grid import expand
from infoprompt.sweep.runners import Outcome, execute_run, train_cli
from infoprompt.sweep.spec import RunSpec

__all__ = ["SweepConfig", "load_sweep", "RunSpec", "expand", "run_sweep", "SweepResult", "Outcome", "execute_run",
           "train_cli"]
