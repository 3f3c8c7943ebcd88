"""Adapter tuning (Houlsby et al., ICML 2019): a bottleneck after sub-layers of every layer.

Placement `houlsby` (default, the issue's): after the attention output projection and after the
feed-forward output projection of every layer, before each residual add and LayerNorm. Placement
`output`: only after the last linear layer of every layer, the InfoPrompt paper's Adapter baseline.
As in Houlsby et al., the layers' LayerNorm parameters are trained too (`train_layer_norm`).
Module names come from the backbone family's module map (BERT/RoBERTa `attention.output.dense` and
`output.dense`, Llama `o_proj` and `down_proj`, T5 `SelfAttention.o` and `DenseReluDense.wo`).
Template, frozen slots and head as in `infoprompt.methods.finetune`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from torch import nn

from infoprompt.delta import Bottleneck, mark_trainable, wrap_outputs
from infoprompt.methods.base import register_method
from infoprompt.methods.finetune import TunedBackboneConfig, TunedBackboneMethod
from infoprompt.schema import setting

PLACEMENTS = ("houlsby", "output")


@dataclass
class AdapterConfig(TunedBackboneConfig):
    adapter_size: int = setting(64, "adapter bottleneck width (Houlsby et al. search 8, 64, 256)", min=1)
    adapter_placement: str = setting("houlsby", "houlsby (after attention and feed-forward) or output (after "
                                                "feed-forward only)", choices=PLACEMENTS, one_of=True)
    train_layer_norm: bool = setting(True, "keep the backbone's layer norms frozen (by default they train along with "
                                           "the adapters, as in Houlsby et al.)")


@register_method("adapter", AdapterConfig, rank=9, group="baselines", display="Adapter", row=2,
                 no_peft="peft has no bottleneck-adapter (Houlsby/Pfeiffer) tuner", test_options={"adapter_size": 4})
class Adapter(TunedBackboneMethod):
    # Houlsby et al. search {3e-5, 3e-4, 3e-3}; 1e-3 sits between the two upper values, for short few-shot runs.
    default_lr: ClassVar[float] = 1e-3

    def tuned_existing(self) -> str | None:
        return self.family.module_map(self.backbone_info.model).layer_norms if self.config.train_layer_norm else None

    def prepare_backbone(self, model: nn.Module) -> nn.Module:
        size, names = self.config.adapter_size, self.family.module_map(model)
        sites = names.houlsby if self.config.adapter_placement == "houlsby" else names.ffn_output
        wrap_outputs(model, sites, lambda name, module: Bottleneck(self.hidden_size, size))
        if self.config.train_layer_norm:
            mark_trainable(model, names.layer_norms)
        return model
