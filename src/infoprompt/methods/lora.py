"""LoRA (Hu et al., ICLR 2022) through peft: low-rank updates B·A on attention projections.

peft injects the LoRA layers in place (`inject_adapter_in_model`), so the backbone keeps its own
class and forward. Targets default to peft's per-model-type choice (query and value for BERT and
RoBERTa, the paper's setting); `--lora-targets a,b` overrides. No LoRA dropout: regularisation
follows `--backbone-dropout` like every other method. Template, frozen slots and head as in
`infoprompt.methods.finetune`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from torch import nn

from infoprompt.errors import ConfigError
from infoprompt.methods.base import register_method
from infoprompt.methods.finetune import TunedBackboneConfig, TunedBackboneMethod
from infoprompt.schema import setting


@dataclass
class LoRAConfig(TunedBackboneConfig):
    lora_r: int = setting(8, "LoRA rank (Hu et al., RoBERTa-base on GLUE: r = 8)", min=1)
    lora_alpha: int = setting(8, "LoRA scaling alpha", above=0)
    lora_targets: str = setting("", "comma-separated module names (empty: peft's default for the model type)")


@register_method("lora", LoRAConfig, rank=10, group="baselines", display="LoRA", row=4, peft_type="LORA", peft_init=True,
                 test_options={"lora_r": 2})
class LoRA(TunedBackboneMethod):
    # Hu et al. (2022), Table 9: RoBERTa-base uses 4e-4 to 5e-4 on GLUE (5e-4 on SST-2).
    default_lr: ClassVar[float] = 5e-4

    def tuned_existing(self) -> str | None:
        return None  # LoRA's A and B are new modules; W stays frozen and shared

    def prepare_backbone(self, model: nn.Module) -> nn.Module:
        from peft import LoraConfig as PeftLoraConfig
        from peft import inject_adapter_in_model

        targets = [t.strip() for t in self.config.lora_targets.split(",") if t.strip()] or None
        peft_config = PeftLoraConfig(r=self.config.lora_r, lora_alpha=self.config.lora_alpha, lora_dropout=0.0,
                                     target_modules=targets, bias="none")
        try:
            return inject_adapter_in_model(peft_config, model)
        except ValueError as err:
            raise ConfigError(f"--lora-targets: {str(err).splitlines()[0]}") from None
