"""The option schema: a dataclass field that carries its CLI spelling, help, type and bounds (a leaf).

Every option of the toolkit (training, evaluation, method options) is declared once as a `setting(...)`
field; the CLI, the sweep schema and the API validation are generated from it, so a bound is written in
one place. This module imports nothing of the package but `errors`.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from collections.abc import Callable
from dataclasses import MISSING, dataclass, field, fields
from typing import Any

from infoprompt.errors import ConfigError

SEED_MAX = 2**32 - 1  # numpy and torch seeds are unsigned 32-bit
INT_MAX = 2**31 - 1  # no count or size in this toolkit is meaningfully larger


def setting(default: Any = MISSING, help: str | Callable[[], str] = "", *, factory: Callable[[], Any] | None = None,
            choices: tuple | Callable[[], tuple] | None = None, min: float | None = None, max: float | None = None,
            above: float | None = None, below: float | None = None, flag: str | None = None, cli: bool = True,
            group: str = "training", kind: type | None = None, default_text: str | None = None,
            accepts: tuple[type, ...] = (), noun: str | None = None, one_of: bool = False):
    """A dataclass field carrying its CLI help and checks in `metadata` (see `Setting`).

    `accepts`: Python-only types taken as they are from API callers (a verbalizer dict); `noun`: what a
    value outside `choices` is called in the error ("unknown task 'x'"); `one_of`: that error reads
    "--x must be one of a, b, got 'v'" (the method options' wording). `help` and `choices` may be functions
    (lists derived from a registry), called when the Setting is read."""
    meta = {"help": help, "choices": choices, "min": min, "max": max, "above": above, "below": below, "flag": flag,
            "cli": cli, "group": group, "kind": kind, "default_text": default_text, "accepts": accepts,
            "noun": noun, "one_of": one_of}
    if factory is not None:
        return field(default_factory=factory, metadata=meta)
    return field(default=default, metadata=meta)


@dataclass(frozen=True)
class Setting:
    """One option of the schema: how it is spelled, typed, bounded and explained."""

    name: str
    kind: type  # int, float, str, bool, list (comma-separated strings)
    default: Any
    help: str
    nullable: bool = False
    choices: tuple | Callable[[], tuple] | None = None
    min: float | None = None
    max: float | None = None
    above: float | None = None  # strict lower bound
    below: float | None = None  # strict upper bound
    flag: str | None = None
    group: str = "training"
    default_text: str | None = None
    accepts: tuple[type, ...] = ()
    noun: str | None = None
    one_of: bool = False

    @property
    def option(self) -> str:
        """The flag; a switch that is on by default is spelled --no-NAME (it sets False)."""
        if self.flag:
            return self.flag
        return ("--no-" if self.kind is bool and self.default is True else "--") + self.name.replace("_", "-")

    @property
    def is_switch(self) -> bool:
        return self.kind is bool

    def allowed(self) -> tuple | None:
        return self.choices() if callable(self.choices) else self.choices

    def parse(self, text: str) -> Any:
        """A command-line string to a value of this setting's type (argparse's `type=`)."""
        if self.kind is list:
            return [part.strip() for part in text.split(",") if part.strip()]
        if self.kind is bool:
            lowered = text.strip().lower()
            if lowered not in ("true", "false"):
                raise ValueError(f"expected true or false, got '{text}'")
            return lowered == "true"
        if self.kind is int:
            number = float(text)  # accepts 1e3; rejected below when not integral
            if not math.isfinite(number) or number != int(number):
                raise ValueError(f"expected an integer, got '{text}'")
            return int(number)
        return self.kind(text)

    def check(self, value: Any) -> Any:
        """`value` checked (and, for int-valued floats and numeric strings, converted); raises ConfigError."""
        option = self.option
        if value is None:
            if self.nullable:
                return None
            raise ConfigError(f"{option} must be given (got None)")
        if self.accepts and isinstance(value, self.accepts):
            return value
        if isinstance(value, str) and self.nullable and value.strip().lower() in ("none", "null"):
            return None
        if isinstance(value, str) and self.kind not in (str, list, bool):
            try:
                value = self.parse(value)
            except (TypeError, ValueError) as err:
                raise ConfigError(f"{option}: invalid value {value!r} ({err})") from None
        if self.kind is bool:
            if not isinstance(value, bool):
                raise ConfigError(f"{option} is a switch: true or false, got {value!r}")
            return value
        if isinstance(value, bool):
            raise ConfigError(f"{option} takes a {self.kind.__name__}, got the boolean {value!r}")
        if self.kind is int:
            if isinstance(value, numbers.Integral):  # NumPy integers too
                value = int(value)
            elif isinstance(value, numbers.Real) and math.isfinite(value) and value == int(value):
                value = int(value)
            if not isinstance(value, int):
                raise ConfigError(f"{option} must be an integer, got {value!r}")
        elif self.kind is float:
            if isinstance(value, numbers.Real):  # NumPy floats and integers too
                value = float(value)
            if not isinstance(value, (int, float)):
                raise ConfigError(f"{option} must be a number, got {value!r}")
            value = float(value)
            if not math.isfinite(value):
                raise ConfigError(f"{option} must be a finite number, got {value}")
        elif self.kind is list:
            if isinstance(value, str):
                value = self.parse(value)
            if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) and v for v in value):
                raise ConfigError(f"{option} must be a list of names (a or a,b), got {value!r}")
            value = list(value)
        elif self.kind is str and not isinstance(value, str):
            raise ConfigError(f"{option} must be a string, got {value!r}")
        self._check_bounds(value)
        allowed = self.allowed()
        if allowed is not None and value not in allowed and self.noun:
            raise ConfigError(f"unknown {self.noun} '{value}' (choose from: {', '.join(map(str, allowed))})")
        if allowed is not None and value not in allowed and self.one_of:
            raise ConfigError(f"{option} must be one of {', '.join(map(str, allowed))}, got '{value}'")
        if allowed is not None and value not in allowed:
            raise ConfigError(f"{option}: '{value}' is not one of: {', '.join(map(str, allowed))}")
        return value

    def _check_bounds(self, value: Any) -> None:
        if self.kind not in (int, float):
            return
        low = self.min if self.min is not None else (-INT_MAX if self.kind is int else None)
        high = self.max if self.max is not None else (INT_MAX if self.kind is int else None)
        if low is not None and value < low:
            raise ConfigError(f"{self.option} must be >= {low}, got {value}")
        if high is not None and value > high:
            raise ConfigError(f"{self.option} must be <= {high}, got {value}")
        if self.above is not None and not value > self.above:
            raise ConfigError(f"{self.option} must be > {self.above}, got {value}")
        if self.below is not None and not value < self.below:
            raise ConfigError(f"{self.option} must be < {self.below}, got {value}")

    def help_text(self) -> str:
        """The help with its default, as `--help` shows it."""
        shown = self.default_text if self.default_text is not None else show_value(self.default)
        return f"{self.help} (default: {shown})"


def show_value(value: Any) -> str:
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, list):
        return ",".join(map(str, value)) or "none"
    return str(value) if value != "" else "none"


_KINDS = {"int": int, "float": float, "str": str, "bool": bool, "list[str]": list}


def setting_of(f: dataclasses.Field) -> Setting | None:
    """The Setting a dataclass field describes, or None for fields that are not options (Python-only values)."""
    meta = f.metadata
    if meta.get("cli") is False:
        return None
    annotation = f.type if isinstance(f.type, str) else getattr(f.type, "__name__", str(f.type))
    parts = [p.strip() for p in annotation.split("|")]
    nullable = "None" in parts
    kind = meta.get("kind") or _KINDS.get(next((p for p in parts if p != "None"), ""))
    if kind is None:
        return None
    default = f.default if f.default is not MISSING else (f.default_factory() if f.default_factory is not MISSING
                                                          else None)
    help = meta.get("help", "")
    return Setting(f.name, kind, default, help() if callable(help) else help, nullable, meta.get("choices"), meta.get("min"),
                   meta.get("max"), meta.get("above"), meta.get("below"), meta.get("flag"),
                   meta.get("group", "training"), meta.get("default_text"), tuple(meta.get("accepts") or ()),
                   meta.get("noun"), bool(meta.get("one_of")))


def check_fields(obj: Any, *, declared: bool = False) -> None:
    """Check each schema field of a dataclass instance in place (types, finiteness, ranges, choices).

    declared: only the fields declared with metadata (`setting(...)`), and only the bounds they declare; a plain
    field (a subclass's new default for a shared value, say) is no option of its own, and a size without a
    declared upper bound is left to the checks that know what it allocates (a checkpoint's record)."""
    for f in fields(obj):
        if declared and not f.metadata:
            continue
        spec = setting_of(f)
        if spec is not None and declared:
            spec = dataclasses.replace(spec, min=-math.inf if spec.min is None else spec.min,
                                       max=math.inf if spec.max is None else spec.max)
        if spec is not None:
            setattr(obj, f.name, spec.check(getattr(obj, f.name)))
