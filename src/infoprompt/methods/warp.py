"""WARP (Hambardzumyan et al. 2021): free prompts in the template's slots around the mask, and
class embeddings initialised from verbalizer words. `--mi-losses` adds InfoPrompt's MI losses (off by default)."""

from __future__ import annotations

from dataclasses import dataclass

from infoprompt.methods.base import MethodConfig, register_method
from infoprompt.methods.mi import MISwitchConfig
from infoprompt.methods.prompt_tuning import SwitchablePrompt


@dataclass
class WarpConfig(MISwitchConfig, MethodConfig):
    layout: str = "warp"
    seed: int = 0


@register_method("warp", WarpConfig, rank=4, display="WARP", row=7,
                 no_peft="WARP's prompt slots sit inside the template (around the sentence and the mask), peft's "
                         "prompt tuning only prepends")
class Warp(SwitchablePrompt):
    """Same parameters as prompt tuning; only the template layout differs."""


@dataclass
class LegacyGenWarpConfig(WarpConfig):
    predict: str = "label"


@register_method("gen-warp", LegacyGenWarpConfig, listed=False, rank=15, help="warp",
                 no_peft="WARP's prompt slots sit inside the template, peft's prompt tuning only prepends")
class LegacyGenWarp(Warp):
    """The name WARP on generative backbones had before families: old checkpoints load as `warp --predict label`."""
