"""The budget rule: an APET module's trainable-parameter count equals the requested budget exactly.

Sites are visited in order (model order for a pattern, a seeded shuffle for `random`, as the
authors' scripts pick tensors at random until the budget is reached); each gets a full unit while
the remaining budget allows, and the first site that does not fit gets a partial unit holding
exactly the rest (`infoprompt.delta.partial`: the first k entries of its canonical order). So every
unit is full except possibly the last, and sum(unit sizes) == budget. Budget 0 means "every site,
in full" (the classic methods' own sizes). `random.Random(seed)` gives the same draw on every
platform and Python version.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from infoprompt.errors import ConfigError
from infoprompt.methods.apet.sites import Site


@dataclass(frozen=True)
class Unit:
    site: Site
    size: int  # trainable parameters here: 1..site.capacity

    @property
    def partial(self) -> bool:
        return self.size < self.site.capacity


def allocate(sites: list[Site], budget: int, shuffle: bool, seed: int) -> list[Unit]:
    """Units whose sizes sum to `budget` (or to every site's capacity when budget is 0)."""
    if budget < 0:
        raise ConfigError(f"--budget must be >= 0 (0: every chosen site in full), got {budget}")
    total = sum(s.capacity for s in sites)
    if budget > total:
        raise ConfigError(f"--budget {budget} exceeds the {total} parameters the chosen positions can hold "
                          f"({len(sites)} sites); widen --apet-positions or raise the unit sizes")
    order = list(sites)
    if shuffle:
        random.Random(seed).shuffle(order)
    if budget == 0:
        return [Unit(s, s.capacity) for s in order]
    units, left = [], budget
    for site in order:
        if left == 0:
            break
        take = min(site.capacity, left)
        units.append(Unit(site, take))
        left -= take
    return units
