"""Backbone families, registered by name; `family_for_config` / `family_for_model` pick one.

Detection order matters: the first family that claims a config wins. Families are asked by registry
rank (`infoprompt.families.registry`); the pooled encoder claims everything, so it is asked last.
A new family: one module, one `@register_family(name)` line (recipe: `infoprompt.registry`).
"""

from __future__ import annotations

from torch import nn

from infoprompt.families import causal, encoder, mlm, seq2seq  # noqa: F401  (registration)
from infoprompt.families.base import Family, ModuleMap, Reading
from infoprompt.families.registry import FAMILIES, families, register_family


def get_family(name: str) -> Family:
    return FAMILIES.get(name)


def family_for_config(config) -> Family:
    """The family a checkpoint with this Hugging Face config loads as."""
    return next(f for f in families() if f.claims(config))


def family_for_model(model: nn.Module) -> Family:
    """The family of a model that is already built (a test's tiny model, a user's own model)."""
    return next(f for f in families() if f.claims_model(model))


__all__ = ["FAMILIES", "Family", "ModuleMap", "Reading", "families", "family_for_config", "family_for_model",
           "get_family", "register_family"]
