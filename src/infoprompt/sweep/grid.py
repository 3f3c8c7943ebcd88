"""Grid expansion: every distinct run (`RunSpec`, sweep/spec.py) of a sweep file, in grid order."""

from __future__ import annotations

import itertools

from infoprompt.errors import ConfigError
from infoprompt.sweep.config import MAX_RUNS, SweepConfig, check_grid_size
from infoprompt.sweep.spec import RunSpec


def expand(config: SweepConfig) -> list[RunSpec]:
    """All distinct runs of the sweep, in grid order (the last key varies fastest); a run listed by two grids
    appears once. itertools.product, not sklearn's ParameterGrid: same result, without a 2-5 s import.

    Each grid entry is counted before it is expanded (`check_grid_size`: at most MAX_RUNS runs), and the
    expansion stops once the grids together hold more than MAX_RUNS distinct runs."""
    specs: dict[str, RunSpec] = {}
    for index, grid in enumerate(config.grids):
        at = f"{config.path}: grid entry {index}" if len(config.grids) > 1 else f"{config.path}: grid"
        check_grid_size(grid, at, "it")
        keys = list(grid)
        for values in itertools.product(*(grid[k] for k in keys)):
            spec = RunSpec({**config.fixed, **dict(zip(keys, values))})
            specs.setdefault(spec.hash, spec)
            if len(specs) > MAX_RUNS:
                raise ConfigError(f"{config.path}: the grids together hold more than {MAX_RUNS:,} distinct runs, "
                                  "the limit a sweep may hold; split the sweep into several files")
    return list(specs.values())
