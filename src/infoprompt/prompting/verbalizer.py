"""Verbalizer words -> class embeddings, initialised from the backbone's input embeddings."""

from __future__ import annotations

import torch
from torch import nn

from infoprompt.errors import ConfigError


def word_ids(tokenizer, word: str) -> list[int]:
    """Sub-word ids of a verbalizer word as it appears mid-sentence (leading space for BPE)."""
    ids = tokenizer(" " + word, add_special_tokens=False)["input_ids"]
    if not ids:
        raise ConfigError(f"verbalizer word '{word}' tokenises to nothing")
    return ids


def verbalizer_embeddings(tokenizer, embeddings: nn.Embedding, words: list[str]) -> torch.Tensor:
    """One D-vector per class: the mean input embedding of the word's sub-word tokens."""
    weight = embeddings.weight.detach()
    return torch.stack([weight[word_ids(tokenizer, w)].mean(0) for w in words]).clone()
