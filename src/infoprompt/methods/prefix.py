"""Prefix tuning / P-tuning v2 (Li & Liang 2021; Liu et al. 2022): deep prompts at every layer.

Trainable key/value vectors for `prefix_length` virtual tokens are prepended in every attention
layer, through peft's PrefixTuning (`infoprompt.delta.PrefixedEncoder`, which keeps token type
ids that peft's own forward would drop). `--prefix-hidden 0` (default) is P-tuning v2's direct
parameterisation; `--prefix-hidden H` is Li & Liang's MLP reparameterisation with hidden size H.
Template (whose slots hold frozen vectors, so the only prompts trained are the deep ones), readout
and head as in `infoprompt.methods.finetune`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from torch import nn

from infoprompt.delta import PrefixedEncoder
from infoprompt.methods.base import register_method
from infoprompt.methods.finetune import TunedBackboneConfig, TunedBackboneMethod
from infoprompt.schema import setting


@dataclass
class PrefixConfig(TunedBackboneConfig):
    prefix_length: int = setting(16, "prefix tokens per layer (P-tuning v2: <= 20 is enough for classification)",
                                 min=1)
    prefix_hidden: int = setting(0, "0: no reparameterisation (P-tuning v2); H > 0: an MLP with hidden size H", min=0)


@register_method("prefix", PrefixConfig, rank=12, group="baselines", display="Prefix tuning", row=5,
                 peft_type="PREFIX_TUNING", peft_init=True, test_options={"prefix_length": 2})
class PrefixTuning(TunedBackboneMethod):
    # P-tuning v2's released scripts use 5e-3 to 1e-2 for BERT/RoBERTa on SuperGLUE and GLUE-style tasks.
    default_lr: ClassVar[float] = 1e-2

    def tuned_existing(self) -> str | None:
        return None  # only the prefix states are trained

    def packing_safe(self) -> bool:
        return False  # one prefix per row: a packed row would share it across examples

    def prepare_backbone(self, model: nn.Module) -> nn.Module:
        body = self.family.body(model)  # the prefix enters the family's body (encoder, decoder stack)
        return self.family.replace_body(model, PrefixedEncoder(body, self.config.prefix_length, self.config.prefix_hidden))
