"""The class-embedding head shared by every prompt method."""

from __future__ import annotations

import torch
from torch import nn

from infoprompt.prompting.verbalizer import verbalizer_embeddings


class ClassEmbeddingHead(nn.Module):
    """logits = Z · E_cᵀ + b_c, with E initialised from the verbalizer words' input embeddings.

    This is WARP's head; InfoPrompt's θ (the head loss's second argument) is the mean of E's rows.
    On a backbone family with an LM head, `from_rows` starts E and b from the LM head's output rows of
    the verbalizer tokens, so the head begins as the pretrained LM's own verbalizer scores.
    """

    def __init__(self, tokenizer=None, embeddings: nn.Embedding | None = None, words: list[str] | None = None, *,
                 rows: torch.Tensor | None = None, bias: torch.Tensor | None = None):
        super().__init__()
        weight = rows.detach().clone() if rows is not None else verbalizer_embeddings(tokenizer, embeddings, words)
        self.class_embeddings = nn.Parameter(weight)
        self.bias = nn.Parameter(bias.detach().clone() if bias is not None else torch.zeros(weight.shape[0]))

    @classmethod
    def from_rows(cls, rows: torch.Tensor, bias: torch.Tensor) -> ClassEmbeddingHead:
        return cls(rows=rows, bias=bias)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return z @ self.class_embeddings.t() + self.bias

    def theta(self) -> torch.Tensor:
        """θ as a D-vector: the mean class embedding."""
        return self.class_embeddings.mean(0)
