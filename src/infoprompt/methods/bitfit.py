"""BitFit (Ben Zaken, Ravfogel and Goldberg, ACL 2022): only the backbone's bias terms are trained.

"All bias terms": the query/key/value, attention-output, intermediate and output projections'
biases and the LayerNorm biases (embedding LayerNorm included), but not the pooler's, which is off
the readout's path. Template, frozen slots and head as in `infoprompt.methods.finetune`.
"""

from __future__ import annotations

from typing import ClassVar

from torch import nn

from infoprompt.delta import mark_trainable
from infoprompt.delta.insert import matching_names
from infoprompt.errors import ConfigError
from infoprompt.methods.base import register_method
from infoprompt.methods.finetune import TunedBackboneConfig, TunedBackboneMethod


@register_method("bitfit", TunedBackboneConfig, rank=11, group="baselines", display="BitFit", row=3,
                 no_peft="peft has no bias-only tuner")
class BitFit(TunedBackboneMethod):
    # Ben Zaken et al. (2022) search {1e-4, 4e-4, 7e-4, 1e-3}; the top of that range suits short few-shot runs.
    default_lr: ClassVar[float] = 1e-3

    def tuned_existing(self) -> str | None:
        return self.bias_pattern(self.backbone_info.model)

    def bias_pattern(self, model: nn.Module) -> str:
        """The family's bias names; a one-line error where the backbone has none (Llama-style decoders, T5)."""
        pattern = self.family.module_map(model).biases
        if pattern is None or not matching_names((n for n, _ in model.named_parameters()), pattern, required=False):
            raise ConfigError(f"bitfit trains bias terms, and the {self.family.name} backbone "
                              f"'{self.backbone_info.name}' has none in its layers")
        return pattern

    def prepare_backbone(self, model: nn.Module) -> nn.Module:
        mark_trainable(model, self.bias_pattern(model), exclude=self.family.module_map(model).off_readout)
        return model
