"""Lester et al. (2021) prompt tuning: np free prompt vectors prepended to the input.

Classification reads Z (mask/mean/cls, see infoprompt.readout) into the class-embedding head, the
same head WARP uses, so the methods differ only in where prompts come from and where they sit.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from infoprompt.methods.base import Capability, MethodConfig, MethodOutput, PromptMethod, register_method
from infoprompt.methods.heads import ClassEmbeddingHead


@dataclass
class PromptTuningConfig(MethodConfig):
    layout: str = "prefix"
    seed: int = 0  # draws the vocabulary tokens the prompt starts from


class FreePromptMethod(PromptMethod):
    """Free prompt parameters P (np, D), shared by all inputs, plus the class-embedding head."""

    capabilities = Capability.PROMPTS | Capability.FREE_PROMPT

    def __init__(self, config, backbone, task):
        super().__init__(config, backbone, task)
        generator = torch.Generator().manual_seed(getattr(config, "seed", 0))
        self.prompt = nn.Parameter(self.initial_prompts(config.n_prompts, generator))
        self.head = ClassEmbeddingHead(backbone.tokenizer, backbone.input_embeddings, task.verbalizer)

    def prompts(self, batch: dict) -> torch.Tensor:
        """(B, np, D): the same prompt for every example, after any pruning mask."""
        batch_size = batch["input_ids"].shape[0]
        return self.mask_prompts(self.prompt.unsqueeze(0).expand(batch_size, -1, -1))

    def forward(self, batch: dict) -> MethodOutput:
        z = self.encode(batch, self.prompts(batch))
        logits = self.head(z)
        losses = {}
        if "labels" in batch:
            losses["pred"] = F.cross_entropy(logits, batch["labels"])
        return MethodOutput(logits, losses, {"pred": 1.0})


@register_method("prompt", PromptTuningConfig)
class PromptTuning(FreePromptMethod):
    """Lester prompt tuning (prefix layout)."""
