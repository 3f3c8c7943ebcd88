"""Adapter tuning (Houlsby et al., ICML 2019): a bottleneck after sub-layers of every layer.

Placement `houlsby` (default, the issue's): after the attention output projection and after the
feed-forward output projection of every layer, before each residual add and LayerNorm. Placement
`output`: only after the last linear layer of every layer, the InfoPrompt paper's Adapter baseline.
As in Houlsby et al., the layers' LayerNorm parameters are trained too (`train_layer_norm`).
Patterns follow BERT/RoBERTa module names; another family gets a ConfigError naming the pattern.
Template, frozen slots and head as in `infoprompt.methods.finetune`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from torch import nn

from infoprompt.delta import Bottleneck, mark_trainable, wrap_outputs
from infoprompt.errors import ConfigError
from infoprompt.methods.base import register_method
from infoprompt.methods.finetune import TunedBackboneConfig, TunedBackboneMethod

PLACEMENTS = {
    "houlsby": r".*layer\.\d+\.(attention\.output|output)\.dense",
    "output": r".*layer\.\d+\.output\.dense",
}
LAYER_NORM_PATTERN = r".*layer\.\d+\..*LayerNorm\.(weight|bias)"


@dataclass
class AdapterConfig(TunedBackboneConfig):
    adapter_size: int = 64  # Houlsby et al. search {8, 64, 256}
    adapter_placement: str = "houlsby"  # houlsby | output
    train_layer_norm: bool = True

    def validate(self) -> None:
        super().validate()
        if self.adapter_size < 1:
            raise ConfigError(f"--adapter-size must be >= 1, got {self.adapter_size}")
        if self.adapter_placement not in PLACEMENTS:
            raise ConfigError(f"--adapter-placement must be one of {sorted(PLACEMENTS)}, got '{self.adapter_placement}'")


@register_method("adapter", AdapterConfig)
class Adapter(TunedBackboneMethod):
    # Houlsby et al. search {3e-5, 3e-4, 3e-3}; 1e-3 sits between the two upper values, for short few-shot runs.
    default_lr: ClassVar[float] = 1e-3

    def tuned_existing(self) -> str | None:
        return LAYER_NORM_PATTERN if self.config.train_layer_norm else None

    def prepare_backbone(self, model: nn.Module) -> nn.Module:
        size = self.config.adapter_size
        wrap_outputs(model, PLACEMENTS[self.config.adapter_placement], lambda name, module: Bottleneck(self.hidden_size, size))
        if self.config.train_layer_norm:
            mark_trainable(model, LAYER_NORM_PATTERN)
        return model
