"""The `infoprompt train` flags a sweep may set, read from the train command's own parser.

Reading the parser (instead of keeping a second list here) means a flag added to `infoprompt train`
is usable in a sweep file at once, with the same type conversion and the same choices.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from infoprompt.errors import ConfigError

# Flags the sweep sets itself for every run: the run directory, machine-readable output, no
# progress bar, and --resume when a crashed run is restarted.
SWEEP_MANAGED = frozenset({"output", "json", "quiet", "resume", "help"})
# Friendly plural spellings for the grid axes the issue and the paper talk about.
ALIASES = {"methods": "method", "tasks": "task", "seeds": "seed"}


@dataclass(frozen=True)
class TrainFlag:
    """One `infoprompt train` option: how to spell it, convert it and what it defaults to."""

    dest: str
    option: str
    kind: Callable[[str], Any] | None
    choices: tuple | None
    default: Any
    is_switch: bool  # store_true: true -> the bare flag, false -> omitted

    def convert(self, value: Any, where: str) -> Any:
        """Turn a value read from a sweep file into what argparse would produce, or raise ConfigError."""
        if value is None:
            return None
        if isinstance(value, (list, dict, tuple)):
            raise ConfigError(f"{where}: expected a single value, got {type(value).__name__}")
        if self.is_switch:
            if not isinstance(value, bool):
                raise ConfigError(f"{where}: {self.option} is a switch: use true or false, got {value!r}")
            return value
        if isinstance(value, bool):  # YAML turns yes/no/on/off into booleans: never what a value flag wants
            raise ConfigError(f"{where}: {self.option} takes a value, got the boolean {value!r} (quote it)")
        try:
            out = self.kind(str(value)) if self.kind is not None else str(value)
        except (TypeError, ValueError) as err:
            raise ConfigError(f"{where}: {self.option}: invalid value {value!r} ({err})") from None
        if self.choices is not None and out not in self.choices:
            raise ConfigError(f"{where}: {self.option}: {value!r} is not one of {list(self.choices)}")
        return out

    def to_argv(self, value: Any) -> list[str]:
        if self.is_switch:
            return [self.option] if value else []
        # `--opt=value` keeps values that start with '-' (a negative beta) from reading as options.
        return [f"{self.option}={value}"]


@lru_cache(maxsize=1)
def train_flags() -> dict[str, TrainFlag]:
    """All settable `infoprompt train` flags by argparse dest (e.g. "n_prompts")."""
    from infoprompt import cli

    parser = argparse.ArgumentParser(add_help=False)
    sub = parser.add_subparsers()
    cli._add_train(sub)  # the train command's definition is the single source of truth
    train = sub.choices["train"]
    flags: dict[str, TrainFlag] = {}
    for action in train._actions:
        if action.dest in SWEEP_MANAGED or not action.option_strings:
            continue
        option = max(action.option_strings, key=len)
        is_switch = isinstance(action, argparse._StoreTrueAction)
        choices = tuple(action.choices) if action.choices is not None else None
        flags[action.dest] = TrainFlag(action.dest, option, action.type, choices, action.default, is_switch)
    return flags


def resolve_key(key: Any, where: str) -> TrainFlag:
    """Map a sweep-file key (`n_prompts`, `n-prompts`, `--n-prompts`, `seeds`) to its train flag."""
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
