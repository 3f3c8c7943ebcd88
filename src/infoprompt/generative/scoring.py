"""Helpers for running a causal LM on padded batches (greedy generation left-aligns its inputs).

Label likelihoods themselves are the backbone family's (`infoprompt.families.causal` and `.seq2seq`,
`score_labels`): every method reads them through `PromptMethod.classify`.
"""

from __future__ import annotations

import functools
import inspect

import torch
from torch import nn


def left_align(embeds: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-padded (B, L, D) inputs -> left-padded, so that what follows the input is one column for all rows."""
    length = embeds.shape[1]
    shift = length - mask.sum(1)
    index = (torch.arange(length, device=mask.device).unsqueeze(0) - shift.unsqueeze(1)) % length
    return embeds.gather(1, index.unsqueeze(-1).expand(-1, -1, embeds.shape[-1])), mask.gather(1, index)


def position_ids(mask: torch.Tensor) -> torch.Tensor:
    """Positions that start at 0 on each row's first real token (left padding does not shift them)."""
    return (mask.long().cumsum(-1) - 1).clamp(min=0)


def causal_logits(model: nn.Module, embeds: torch.Tensor, mask: torch.Tensor, keep_last: int) -> torch.Tensor:
    """Logits of a causal LM on left-padded inputs; only the last `keep_last` positions where the model
    supports `logits_to_keep` (a (B, L, V) tensor over a 49k vocabulary is the memory bottleneck)."""
    kwargs = {"logits_to_keep": keep_last} if "logits_to_keep" in _forward_params(type(model)) else {}
    return model(inputs_embeds=embeds, attention_mask=mask, position_ids=position_ids(mask), **kwargs).logits


@functools.cache
def _forward_params(model_class: type) -> frozenset[str]:
    return frozenset(inspect.signature(model_class.forward).parameters)
