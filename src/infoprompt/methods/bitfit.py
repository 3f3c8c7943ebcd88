"""BitFit (Ben Zaken, Ravfogel and Goldberg, ACL 2022): only the backbone's bias terms are trained.

"All bias terms": the query/key/value, attention-output, intermediate and output projections'
biases and the LayerNorm biases (embedding LayerNorm included), but not the pooler's, which is off
the readout's path. Template, frozen slots and head as in `infoprompt.methods.finetune`.
"""

from __future__ import annotations

from typing import ClassVar

from torch import nn

from infoprompt.delta import mark_trainable
from infoprompt.methods.base import register_method
from infoprompt.methods.finetune import OFF_READOUT_PATH, TunedBackboneConfig, TunedBackboneMethod

BIAS_PATTERN = r".*\.bias"


@register_method("bitfit", TunedBackboneConfig)
class BitFit(TunedBackboneMethod):
    # Ben Zaken et al. (2022) search {1e-4, 4e-4, 7e-4, 1e-3}; the top of that range suits short few-shot runs.
    default_lr: ClassVar[float] = 1e-3

    def tuned_existing(self) -> str | None:
        return BIAS_PATTERN

    def prepare_backbone(self, model: nn.Module) -> nn.Module:
        mark_trainable(model, BIAS_PATTERN, exclude=OFF_READOUT_PATH)
        return model
