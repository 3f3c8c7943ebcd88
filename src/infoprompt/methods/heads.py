"""The class-embedding head shared by every prompt method."""

from __future__ import annotations

import torch
from torch import nn

from infoprompt.prompting.verbalizer import verbalizer_embeddings


class ClassEmbeddingHead(nn.Module):
    """logits = Z · E_cᵀ + b_c, with E initialised from the verbalizer words' input embeddings.

    This is WARP's head; InfoPrompt's θ (the head loss's second argument) is the mean of E's rows.
    """

    def __init__(self, tokenizer, embeddings: nn.Embedding, words: list[str]):
        super().__init__()
        self.class_embeddings = nn.Parameter(verbalizer_embeddings(tokenizer, embeddings, words))
        self.bias = nn.Parameter(torch.zeros(len(words)))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return z @ self.class_embeddings.t() + self.bias

    def theta(self) -> torch.Tensor:
        """θ as a D-vector: the mean class embedding."""
        return self.class_embeddings.mean(0)
