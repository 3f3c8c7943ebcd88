"""Wrap the outputs of modules chosen by name: the one place a backbone's modules are replaced.

Patterns are Python regular expressions matched against the whole dotted module name
(`re.fullmatch`, as peft does for a string `target_modules`), e.g.
`.*layer\\.\\d+\\.(attention\\.output|output)\\.dense` for BERT's attention-output and feed-forward
output projections. A pattern that matches nothing is an error, never a silent no-op.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

from torch import nn

from infoprompt.errors import ConfigError


def matching_names(names: Iterable[str], pattern: str, what: str = "module", required: bool = True) -> list[str]:
    """The names that fully match `pattern`, in order; ConfigError if none does and one is `required`."""
    try:
        regex = re.compile(pattern)
    except re.error as err:
        raise ConfigError(f"bad {what} pattern '{pattern}': {err}") from None
    hits = [name for name in names if regex.fullmatch(name)]
    if required and not hits:
        raise ConfigError(f"no {what} name matches the pattern '{pattern}'")
    return hits


class OutputDelta(nn.Module):
    """Runs `base` unchanged, then `delta` on its output (on the first element of a tuple output).

    The wrapped module keeps its own parameters under `<name>.base.*`; the delta's sit under
    `<name>.delta.*`, so a state dict names exactly what was inserted where.
    """

    def __init__(self, base: nn.Module, delta: nn.Module):
        super().__init__()
        self.base = base
        self.delta = delta

    def __getattr__(self, name: str):
        # Model code may read the wrapped module's attributes (T5's feed-forward checks `wo.weight.dtype`).
        try:
            return super().__getattr__(name)
        except AttributeError:
            return getattr(super().__getattr__("base"), name)

    def forward(self, *args, **kwargs):
        out = self.base(*args, **kwargs)
        if isinstance(out, tuple):
            return (self.delta(out[0]), *out[1:])
        return self.delta(out)


def wrap_outputs(model: nn.Module, pattern: str, make_delta: Callable[[str, nn.Module], nn.Module]) -> dict[str, nn.Module]:
    """Replace every module whose name matches `pattern` by `OutputDelta(module, make_delta(name, module))`.

    Returns {module name: delta}. Names are collected before any replacement, so a wrapper is never
    wrapped again by the same call. Each delta is moved to its module's device and dtype.
    """
    names = matching_names((name for name, _ in model.named_modules() if name), pattern)
    deltas: dict[str, nn.Module] = {}
    for name in names:
        module = model.get_submodule(name)
        delta = make_delta(name, module)
        reference = next(module.parameters(), None)
        if reference is not None:
            delta.to(device=reference.device, dtype=reference.dtype)
        parent_name, _, child = name.rpartition(".")
        setattr(model.get_submodule(parent_name) if parent_name else model, child, OutputDelta(module, delta))
        deltas[name] = delta
    return deltas


def replace_module(model: nn.Module, name: str, new: nn.Module) -> None:
    """Put `new` where the submodule `name` is (the one in-place edit every insertion needs)."""
    parent_name, _, child = name.rpartition(".")
    setattr(model.get_submodule(parent_name) if parent_name else model, child, new)
