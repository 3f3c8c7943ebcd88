"""Backbone families, registered by name; `family_for_config` / `family_for_model` pick one.

Detection order matters: the first family that claims a config wins, and the pooled encoder
claims everything, so it comes last. A new family: one module, one line in FAMILIES.
"""

from __future__ import annotations

from torch import nn

from infoprompt.errors import ConfigError
from infoprompt.families.base import Family, ModuleMap, Reading
from infoprompt.families.causal import CausalLM
from infoprompt.families.encoder import PooledEncoder
from infoprompt.families.mlm import MaskedLM
from infoprompt.families.seq2seq import Seq2SeqLM

FAMILIES: dict[str, Family] = {f.name: f for f in (Seq2SeqLM(), CausalLM(), MaskedLM(), PooledEncoder())}


def get_family(name: str) -> Family:
    if name not in FAMILIES:
        raise ConfigError(f"unknown backbone family '{name}' (choose from: {', '.join(FAMILIES)})")
    return FAMILIES[name]


def family_for_config(config) -> Family:
    """The family a checkpoint with this Hugging Face config loads as."""
    return next(f for f in FAMILIES.values() if f.claims(config))


def family_for_model(model: nn.Module) -> Family:
    """The family of a model that is already built (a test's tiny model, a user's own model)."""
    return next(f for f in FAMILIES.values() if f.claims_model(model))


__all__ = ["FAMILIES", "Family", "ModuleMap", "Reading", "family_for_config", "family_for_model", "get_family"]
