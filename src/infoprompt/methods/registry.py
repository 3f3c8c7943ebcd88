"""The methods registry: every method's name, classes and the facts other commands list about it.

A method is one module with a `PromptMethod` subclass and one registry line,

    @register_method("warp", WarpConfig, display="WARP", row=7, rank=4, no_peft="...")

and from its entry come, with no other edit: the `--method` choices and help, the sweep schema's
`method` values, the report's row label and order, export's accept/refuse (`peft_type`, `no_peft`),
`--ablation`'s names, and the method x family test matrix's options (`test_options`, `test_variants`).
This module imports no torch, so anything may read it; `infoprompt.methods` registers every built-in
method when it is imported.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from infoprompt.registry import Entry, Registry

if TYPE_CHECKING:
    from infoprompt.backbones import Backbone
    from infoprompt.data.spec import TaskSpec

LEGACY_ERA = "on generative backbones, before every method ran on every family"  # what the unlisted names were


@dataclass(frozen=True)
class Ablation:
    """A named ablation: method options it zeroes, its label in report rows, its words in `--ablation`'s help."""

    zeros: dict[str, float]
    label: str
    help: str


@dataclass(frozen=True)
class MethodEntry(Entry):
    """A method's registration. `rank` orders the `--method` help (within its `group`): the built-in methods take
    1-15, so a new method (default 100) is listed after them."""

    rank: float = 100
    config: type = object  # the method's MethodConfig subclass
    listed: bool = True  # False: a legacy name, built for old checkpoints but not offered
    group: str = ""  # heading in the `--method` help ("" = the prompt methods, listed first; "baselines"; "peft")
    help: str | None = None  # what the `--method` help says of it (default: its name)
    display: str | None = None  # its name in report rows (default: the method name)
    row: int | None = None  # the paper's row order in reports (None: after those rows, by name)
    peft_type: str | None = None  # the peft adapter type its checkpoint exports as (`infoprompt export`)
    peft_init: bool = False  # can start from a peft adapter of `peft_type` (`--init-from-peft`)
    no_peft: str | None = None  # why there is no peft equivalent (export's refusal)
    ablations: dict[str, Ablation] = field(default_factory=dict)  # --ablation names this method introduces
    test_options: dict[str, Any] | None = field(default_factory=dict)  # its matrix cell's options (None: no cell)
    test_variants: dict[str, dict[str, Any]] = field(default_factory=dict)  # extra cells "<name>-<suffix>"

    @property
    def cls(self) -> type:  # the PromptMethod subclass
        return self.obj

    @property
    def label(self) -> str:
        return self.display or self.name


def _set_method_name(name: str, cls: type) -> type:
    cls.method_name = name
    return cls


METHODS: Registry[MethodEntry] = Registry("method", MethodEntry, make=_set_method_name,
                                          choices=lambda registry: list_methods())


def register_method(name: str, config_cls: type, **fields: Any):
    """Class decorator, the one registry line of a method module (`fields`: MethodEntry's)."""
    return METHODS.register(name, config=config_cls, **fields)


def list_methods() -> list[str]:
    """The offered names, sorted (legacy names are accepted but not listed)."""
    return sorted(e.name for e in METHODS.entries.values() if e.listed)


def legacy_methods() -> list[str]:
    return [e.name for e in METHODS.ordered() if not e.listed]


def method_classes(name: str) -> tuple[type, type]:
    """(the MethodConfig subclass, the PromptMethod subclass) of a registered method."""
    entry = METHODS.entry(name)
    return entry.config, entry.cls


def build_method(name: str, backbone: Backbone, task: TaskSpec, config: Any = None) -> Any:
    """Instantiate a registered method (a PromptMethod) on a backbone for a task; `config`: its MethodConfig,
    a dict of its options, or None (the defaults)."""
    config_cls, method_cls = method_classes(name)
    if config is None:
        config = config_cls()
    elif isinstance(config, dict):
        config = config_cls.from_dict(config)
    config.validate()
    return method_cls(config, backbone, task)


# -- tables derived from the entries -------------------------------------------------------------


def methods_help() -> str:
    """The `--method` help: the offered names by group, then the legacy names."""
    groups: dict[str, list[str]] = {}
    for e in METHODS.ordered():
        if e.listed:
            groups.setdefault(e.group, []).append(e.help or e.name)
    text = "; ".join(f"{group}: {', '.join(items)}" if group else ", ".join(items) for group, items in groups.items())
    legacy = [e for e in METHODS.ordered() if not e.listed]
    if legacy:
        text += (f". The legacy names {' and '.join(e.name for e in legacy)} ({' and '.join(e.help or e.name for e in legacy)} "
                 f"{LEGACY_ERA}) are still accepted for old checkpoints")
    return text


def ablations() -> dict[str, tuple[str, Ablation | None]]:
    """Every `--ablation` name -> (the method that introduced it, the ablation); "none" first."""
    out: dict[str, tuple[str, Ablation | None]] = {"none": ("", None)}
    for e in METHODS.ordered():
        out.update({name: (e.name, ablation) for name, ablation in e.ablations.items()})
    return out


def report_names() -> dict[str, str]:
    """Method -> its label in report rows, in the paper's row order (methods with a row), then by name."""
    entries = sorted(METHODS.entries.values(), key=lambda e: (e.row is None, e.row or 0, e.name))
    return {e.name: e.label for e in entries}


def report_rows() -> list[str]:
    """The methods with a paper row, in that order (reports list the others after them, by name)."""
    return [e.name for e in sorted(METHODS.entries.values(), key=lambda e: e.row or 0) if e.row is not None]


def ablation_zeros() -> dict[str, dict[str, float]]:
    """`--ablation` name -> the method options it sets to 0 ("none": nothing)."""
    return {name: dict(a.zeros) if a else {} for name, (_, a) in ablations().items()}


def ablations_help(note: str = "") -> str:
    """`--ablation`'s help: '<Method> ablations<note>: no-head (gamma=0), ...'."""
    found = [(METHODS.entry(owner).label, name, a) for name, (owner, a) in ablations().items() if a]
    owners = ", ".join(dict.fromkeys(label for label, _, _ in found))
    return f"{owners} ablations{note}: " + ", ".join(f"{name} ({a.help})" for _, name, a in found)
