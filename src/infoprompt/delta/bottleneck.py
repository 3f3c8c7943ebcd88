"""The Houlsby bottleneck: h + up(σ(down(h))), near the identity at initialisation."""

from __future__ import annotations

import torch
from torch import nn

from infoprompt.errors import ConfigError


def bottleneck_parameter_count(dim: int, size: int) -> int:
    """Tunable parameters of one bottleneck: down (dim·size + size) plus up (size·dim + dim)."""
    return 2 * dim * size + size + dim


class Bottleneck(nn.Module):
    """Down-projection, nonlinearity, up-projection, skip connection (Houlsby et al. 2019, Fig. 2).

    Weights start from a zero-mean truncated normal of small std and biases at zero, so the module
    starts close to the identity and the frozen network's function is preserved at step 0 (the
    paper's "near-identity initialisation"; std 1e-3 and GELU as in the authors' adapter-bert code).
    """

    def __init__(self, dim: int, size: int, activation: str = "gelu", init_std: float = 1e-3):
        super().__init__()
        from transformers.activations import ACT2FN  # imported here: the module is slow to import (≈1 s)

        if size < 1:
            raise ConfigError(f"bottleneck size must be >= 1, got {size}")
        if activation not in ACT2FN:
            raise ConfigError(f"unknown activation '{activation}' (choose from: {', '.join(sorted(ACT2FN))})")
        self.down = nn.Linear(dim, size)
        self.up = nn.Linear(size, dim)
        self.act = ACT2FN[activation]
        for layer in (self.down, self.up):
            nn.init.trunc_normal_(layer.weight, std=init_std, a=-2 * init_std, b=2 * init_std)
            nn.init.zeros_(layer.bias)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        return hidden + self.up(self.act(self.down(hidden)))
