"""Named registries: the one way methods, backbone families and tasks are made available by name (a leaf).

A `Registry(kind)` maps a name to an `Entry`: the registered object plus the facts that hand-written
lists used to carry (a method's display name, peft equivalent, ablations, test options, help). Each
kind extends `Entry` with its own fields; every list the toolkit shows (CLI choices and help, the sweep
schema, report labels, export's refusals, the test matrix) is derived from the entries, so a new name
shows up everywhere at once. A second registration under a taken name is refused (one-line
ConfigError), never a silent overwrite; an unknown name is a one-line "unknown <kind> 'x' (choose
from: ...)". Order: by `Entry.rank`, then registration order.

Add a method (one file, one registry line): in `mypkg/mymethod.py`,

    from infoprompt.methods import register_method
    from infoprompt.methods.prompt_tuning import PromptTuning, PromptTuningConfig

    @register_method("mine", PromptTuningConfig, display="Mine", peft_type="PROMPT_TUNING")
    class Mine(PromptTuning):
        ...

then `import mypkg.mymethod` (or put the module in `infoprompt/methods/` and import it in that
package's `__init__`). The fields are `infoprompt.methods.registry.MethodEntry`'s.

Add a backbone family: in `mypkg/gpt2.py`, `@register_family("gpt2")` on a `Family` subclass
(`infoprompt.families.registry`); its `claims`/`claims_model` pick the checkpoints it loads, and a
family of rank 0 (the default) is asked before the built-in ones (the pooled encoder, which claims
everything, is asked last).

Add a task: in `mypkg/mytask.py`, build a `TaskSpec` (`infoprompt.data.spec`) and a loader
`(split, data_dir, policy) -> list[Example]`, then `register_task(SPEC, loader)`
(`infoprompt.data.registry`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from infoprompt.errors import ConfigError


@dataclass(frozen=True)
class Entry:
    """One registered name: the object, and where it sits in the registry's order (lower first)."""

    name: str
    obj: Any
    rank: float = 0


E = TypeVar("E", bound=Entry)


class Registry(Generic[E]):
    """Names -> entries of one kind, refusing duplicates.

    `entry`: the kind's Entry subclass (its extra fields are `register`'s keyword arguments); `make`:
    turns the decorated object into the stored one (e.g. a family class into its instance); `choices`:
    the names an "unknown" error offers (default: every name, in order)."""

    def __init__(self, kind: str, entry: type[E] = Entry, *, make: Callable[[str, Any], Any] | None = None,
                 choices: Callable[[Registry[E]], Iterable[str]] | None = None):
        self.kind = kind
        self.entry_type = entry
        self.make = make
        self.choices = choices
        self.entries: dict[str, E] = {}  # read freely; add through `add`/`register` (tests may swap in a copy)

    # -- adding ---------------------------------------------------------------------------------
    def add(self, name: str, obj: Any, **fields: Any) -> E:
        """Register `obj` under `name` with the entry's `fields`; a taken name is a one-line ConfigError."""
        self._refuse_taken(name)
        entry = self.entry_type(name=name, obj=obj, **fields)
        self.entries[name] = entry
        return entry

    def _refuse_taken(self, name: str) -> None:
        if name in self.entries:
            held = self.entries[name].obj
            raise ConfigError(f"{self.kind} '{name}' is already registered (by "
                              f"{getattr(held, '__module__', '?')}.{getattr(held, '__qualname__', type(held).__name__)})")

    def register(self, name: str, **fields: Any) -> Callable:
        """Decorator form of `add`: `@REGISTRY.register("name", field=value)` on a class or function."""

        def wrap(obj):
            self._refuse_taken(name)  # before `make` touches the object
            self.add(name, self.make(name, obj) if self.make else obj, **fields)
            return obj

        return wrap

    def remove(self, name: str) -> None:
        """Drop a name (tests that registered one of their own)."""
        del self.entries[name]

    @contextlib.contextmanager
    def scratch(self) -> Iterator[Registry[E]]:
        """Registrations made inside the block are dropped when it ends (tests)."""
        saved = dict(self.entries)
        try:
            yield self
        finally:
            self.entries = saved

    # -- looking up -----------------------------------------------------------------------------
    def __contains__(self, name: object) -> bool:
        return name in self.entries

    def __len__(self) -> int:
        return len(self.entries)

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def ordered(self) -> list[E]:
        """Every entry, by rank, then registration order."""
        return sorted(self.entries.values(), key=lambda e: e.rank)  # sorted() is stable

    def names(self) -> list[str]:
        return [e.name for e in self.ordered()]

    def entry(self, name: str) -> E:
        if name not in self.entries:
            raise self.unknown(name)
        return self.entries[name]

    def get(self, name: str) -> Any:
        return self.entry(name).obj

    def unknown(self, name: str) -> ConfigError:
        offered = self.choices(self) if self.choices else self.names()
        return ConfigError(f"unknown {self.kind} '{name}' (choose from: {', '.join(offered)})")


class Derived(Mapping):
    """A read-only mapping computed by `table()` on every use: a module can name a table derived from a
    registry at import time without importing the registered modules (and what they import) then."""

    def __init__(self, table: Callable[[], dict]):
        self.table = table

    def __getitem__(self, key: Any) -> Any:
        return self.table()[key]

    def __iter__(self) -> Iterator:
        return iter(self.table())

    def __len__(self) -> int:
        return len(self.table())
