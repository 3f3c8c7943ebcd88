"""Lester et al. (2021) prompt tuning: np free prompt vectors prepended to the input.

Classification reads Z where the backbone's family reads it (infoprompt.families) into the
class-embedding head, the same head WARP uses, or scores each label by the LM's likelihood
(`--predict label`, LM families); the methods differ only in where prompts come from and where they sit.
On causal and seq2seq backbones this is Lester prompt tuning as in Lester et al. and XPrompt.
`--mi-losses` adds InfoPrompt's MI losses (infoprompt.methods.mi); off by default, the method is unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from infoprompt.methods.base import Capability, MethodConfig, MethodOutput, PromptMethod, register_method
from infoprompt.methods.mi import MISwitch, MISwitchConfig


@dataclass
class PromptTuningConfig(MISwitchConfig, MethodConfig):
    layout: str = "prefix"
    seed: int = 0  # draws the vocabulary tokens the prompt starts from


class FreePromptMethod(PromptMethod):
    """Free prompt parameters P (np, D), shared by all inputs, plus the class-embedding head (none when
    labels are scored by the LM's likelihood)."""

    capabilities = Capability.PROMPTS | Capability.FREE_PROMPT

    def __init__(self, config, backbone, task):
        super().__init__(config, backbone, task)
        generator = torch.Generator().manual_seed(config.seed)
        self.prompt = nn.Parameter(self.initial_prompts(config.n_prompts, generator))
        self.head = self.make_head() if self.predict == "head" else None

    def prompt_values(self) -> torch.Tensor:
        """(np, D): the prompt that enters the model (subclasses reparameterise `prompt`, e.g. residual)."""
        return self.prompt

    def prompts(self, batch: dict) -> torch.Tensor:
        """(B, np, D): the same prompt for every example, after any pruning mask."""
        batch_size = batch["input_ids"].shape[0]
        return self.mask_prompts(self.prompt_values().unsqueeze(0).expand(batch_size, -1, -1))

    def forward(self, batch: dict) -> MethodOutput:
        prompts = self.prompts(batch)
        return self.prompted_output(self.read(batch, prompts), batch, prompts)

    def prompted_output(self, reading, batch: dict, prompts: torch.Tensor) -> MethodOutput:
        """The output for the prompted reading: the prediction (the MI switch adds its terms)."""
        return self.classify(reading, batch)


class SwitchablePrompt(MISwitch, FreePromptMethod):
    """Free prompts with the `--mi-losses` switch (prompt, warp, residual)."""

    capabilities = Capability.PROMPTS | Capability.FREE_PROMPT | Capability.RUN_STATE  # RUN_STATE: the switch's cache

    def __init__(self, config, backbone, task):
        super().__init__(config, backbone, task)
        self.init_mi_switch(backbone.tokenizer)


@register_method("prompt", PromptTuningConfig, rank=1, display="Prompt tuning", row=6, peft_type="PROMPT_TUNING",
                 peft_init=True)
class PromptTuning(SwitchablePrompt):
    """Lester prompt tuning (prefix layout)."""


@dataclass
class LegacyGenPromptConfig(PromptTuningConfig):
    predict: str = "label"


@register_method("gen-prompt", LegacyGenPromptConfig, listed=False, rank=14, help="prompt",
                 no_peft="prompts on generative backbones are not exported yet")
class LegacyGenPrompt(PromptTuning):
    """The name generative prompt tuning had before families: old checkpoints load as `prompt --predict label`."""
