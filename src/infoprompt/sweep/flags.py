"""The `infoprompt train` settings a sweep may set: the configuration schema (`infoprompt.config`).

A sweep key is a TrainConfig field or a method option (`n_prompts`, `beta`, ...); its type, range and
choices are the schema's, so a field added to TrainConfig or to a method config is usable in a
sweep file at once, and a bad value fails before any run starts.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from infoprompt.config import Setting, train_settings
from infoprompt.errors import ConfigError

# Set by the sweep itself for every run: the run directory, machine-readable output, no progress
# output, and --resume when a crashed run is restarted.
SWEEP_MANAGED = frozenset({"output", "json", "quiet", "resume", "progress", "help"})
# Friendly plural spellings for the grid axes the issue and the paper talk about.
ALIASES = {"methods": "method", "tasks": "task", "seeds": "seed"}


@dataclass(frozen=True)
class TrainFlag:
    """One `infoprompt train` setting as a sweep key: how to check a value and spell it on the command line."""

    setting: Setting

    @property
    def dest(self) -> str:
        return self.setting.name

    @property
    def option(self) -> str:
        return self.setting.option

    @property
    def default(self) -> Any:
        return self.setting.default

    @property
    def is_switch(self) -> bool:
        return self.setting.is_switch

    @property
    def choices(self) -> tuple | None:
        return self.setting.allowed()

    def convert(self, value: Any, where: str) -> Any:
        """A value read from a sweep file, checked by the schema; raises ConfigError naming `where`."""
        if value is None:
            return None
        if isinstance(value, (list, dict, tuple)):
            raise ConfigError(f"{where}: expected a single value, got {type(value).__name__}")
        if not self.is_switch and isinstance(value, bool):  # YAML reads yes/no/on/off as booleans
            raise ConfigError(f"{where}: {self.option} takes a value, got the boolean {value!r} (quote it)")
        try:
            checked = self.setting.check(str(value) if self.setting.kind is list else value)
        except ConfigError as err:
            raise ConfigError(f"{where}: {err}") from None
        return ",".join(checked) if self.setting.kind is list else checked  # as typed on the command line

    def to_argv(self, value: Any) -> list[str]:
        if self.is_switch:
            sets = not self.option.startswith("--no-")  # the value the bare flag sets
            return [self.option] if value is sets else []
        if isinstance(value, list):
            value = ",".join(value)
        # `--opt=value` keeps values that start with '-' (a negative number) from reading as options.
        return [f"{self.option}={value}"]


@lru_cache(maxsize=1)
def train_flags() -> dict[str, TrainFlag]:
    """Every settable `infoprompt train` setting by name (e.g. "n_prompts"), from the schema."""
    return {name: TrainFlag(spec) for name, spec in train_settings().items() if name not in SWEEP_MANAGED}


def resolve_key(key: Any, where: str) -> TrainFlag:
    """Map a sweep-file key (`n_prompts`, `n-prompts`, `--n-prompts`, `seeds`) to its train setting."""
    if not isinstance(key, str):
        raise ConfigError(f"{where}: keys must be flag names, got {key!r}")
    dest = key.lstrip("-").replace("-", "_")
    dest = ALIASES.get(dest, dest)
    flags = train_flags()
    if dest in SWEEP_MANAGED:
        raise ConfigError(f"{where}: '{key}' is set by the sweep itself and cannot be given")
    if dest not in flags:
        raise ConfigError(f"{where}: '{key}' is not an `infoprompt train` flag")
    return flags[dest]
