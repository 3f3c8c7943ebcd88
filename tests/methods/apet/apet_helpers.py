"""Helpers for the APET tests: tiny models of every family, batches, parameter snapshots."""

from __future__ import annotations

import torch

from infoprompt.backbones import freeze
from infoprompt.data.example import Example
from infoprompt.methods.apet import Sizes
from infoprompt.prompting.template import Template, collate
from infoprompt.testing import tiny_llama, tiny_t5

PAIRS = [Example("one two three", "three two one", label=0), Example("hello world", "hello world", label=1),
         Example("a great movie", "a terrible film", label=0)]
SIZES = Sizes(bottleneck=8, rank=4, tokens=2, n_prompts=4, hidden=32)  # small full units for tiny models
HEAD = 2 * 32 + 2  # the class-embedding head every method trains (2 classes, D = 32); not part of a budget


def batch_for(method, examples=PAIRS):
    tokenizer = method.backbone_info.tokenizer
    template = Template(tokenizer, method.config.n_prompts, layout=method.config.layout, max_length=64)
    return collate(template.encode(examples), tokenizer.pad_token_id)


def snapshot(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {n: p.detach().clone() for n, p in module.named_parameters()}


def generative(family: str, tokenizer):
    """A frozen tiny T5 or Llama and a function computing a scalar loss from it."""
    model = freeze(tiny_t5(tokenizer) if family == "t5" else tiny_llama(tokenizer))
    ids = torch.tensor([[5, 6, 7, 8, 9], [5, 6, 7, 1, 1]])
    mask = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]])

    def loss(run) -> torch.Tensor:
        extra = {"decoder_input_ids": ids[:, :3]} if family == "t5" else {}
        return run(input_ids=ids, attention_mask=mask, **extra).logits.float().pow(2).mean()

    return model, loss
