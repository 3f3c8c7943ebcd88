"""The backbone-family registry (no torch here): one `@register_family(name)` line per family module.

A family is asked whether it claims a checkpoint in registry order: by `rank` (lower first), then
registration order. The built-in families take ranks 10 (seq2seq) to 100 (the pooled encoder, which
claims everything); a new family keeps the default rank 0, so it is asked first and can take over
checkpoints a generic family would claim (e.g. GPT-2 before the causal LMs). Recipe: `infoprompt.registry`.
"""

from __future__ import annotations

from typing import Any

from infoprompt.registry import Registry


def _instance(name: str, cls: type) -> Any:
    cls.name = name
    return cls()


FAMILIES: Registry = Registry("backbone family", make=_instance)


def register_family(name: str, **fields: Any):
    """Class decorator, the one registry line of a family module (`rank=`: where it is asked, lower first)."""
    return FAMILIES.register(name, **fields)


def families() -> list:
    """Every registered family (instances), in the order they are asked."""
    return [e.obj for e in FAMILIES.ordered()]
