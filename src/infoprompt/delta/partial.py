"""Tunable tensors of ANY size: the first k entries of a tensor are trained, the rest stay fixed.

APET budgets are exact parameter counts, so the last tensor a budget reaches is usually partial.
One rule covers every operation: each delta has a canonical flat order of its entries, and a delta
of size k trains exactly the first k of them (`FlatSlice`); the remaining entries keep their initial
values as a frozen buffer (0 for additive deltas, the usual random init for bottleneck and low-rank
weights), so they are constants, not parameters. The orders are chosen so that a partial delta is
still a live, meaningful module:

- `VectorAdd` (ADD on a module's output, BitFit-like): the vector's first k dimensions.
- `ParamDelta` (ADD on an existing parameter): the parameter's first k entries in row-major order.
- `FlatBottleneck` (PLUG, the Houlsby adapter): the up-projection bias first, then one hidden unit
  at a time (its down-projection row, its down bias, its up-projection column), so a partial
  bottleneck is a smaller bottleneck whose last hidden unit sees only some inputs or writes only
  some outputs.
- `LowRankAdd` (ADD of a low-rank matrix, LoRA-sized): one rank at a time, B's column first, then A's
  row: B starts at 0, so a partial rank trains B against a fixed random A row and still learns
  (A first would leave a dead unit, since A's gradient is 0 while B is 0).

A full-size delta (k = capacity) is exactly the classic module: `FlatBottleneck.from_bottleneck`
and `LowRankAdd.from_lora` map weights one to one, which the classic-equivalence tests rely on.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from infoprompt.errors import ConfigError


class FlatSlice(nn.Module):
    """`size` trainable entries: the first `size` entries of a tensor of `shape`; the rest a frozen buffer.

    The buffer is not persistent: it is the seeded initial value, rebuilt identically when a
    checkpoint's method is rebuilt, so checkpoints hold only the trained entries.
    """

    def __init__(self, shape: tuple[int, ...], size: int, init: torch.Tensor | None = None):
        super().__init__()
        self.shape = tuple(int(s) for s in shape)
        self.capacity = math.prod(self.shape)
        if not 1 <= size <= self.capacity:
            raise ConfigError(f"a delta of shape {self.shape} holds 1..{self.capacity} parameters, not {size}")
        flat = init.detach().reshape(-1).clone() if init is not None else torch.zeros(self.capacity)
        self.theta = nn.Parameter(flat[:size].clone())
        self.register_buffer("rest", flat[size:].clone(), persistent=False)

    @property
    def size(self) -> int:
        return self.theta.numel()

    def full(self) -> torch.Tensor:
        """The whole tensor: the trained entries, then the frozen rest."""
        if self.rest.numel() == 0:
            return self.theta.view(self.shape)
        return torch.cat([self.theta, self.rest.to(self.theta.dtype)]).view(self.shape)

    def load_full(self, tensor: torch.Tensor) -> None:
        """Set the trained entries from a full tensor (its first `size` entries)."""
        with torch.no_grad():
            self.theta.copy_(tensor.reshape(-1)[: self.size])


class VectorAdd(nn.Module):
    """ADD on a sub-layer output: h + w, with w trained on its first `size` dims (zero init)."""

    def __init__(self, dim: int, size: int):
        super().__init__()
        self.vector = FlatSlice((dim,), size)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        return hidden + self.vector.full().to(hidden.dtype)


class ParamDelta(nn.Module):
    """ADD on an existing parameter, as a `torch.nn.utils.parametrize` parametrization: W + ΔW.

    ΔW starts at 0 and trains its first `size` entries, so its gradient is the frozen parameter's
    gradient on those entries: a full ParamDelta on a bias is BitFit on that bias.
    """

    def __init__(self, shape: tuple[int, ...], size: int):
        super().__init__()
        self.delta = FlatSlice(shape, size)

    def forward(self, original: torch.Tensor) -> torch.Tensor:
        return original + self.delta.full().to(original.dtype)


def bottleneck_layout_size(dim: int, size: int) -> int:
    """Entries of a bottleneck of `size` hidden units on width `dim` (= Bottleneck's count)."""
    return dim + size * (2 * dim + 1)


class FlatBottleneck(nn.Module):
    """PLUG: h + up(σ(down(h))) whose first `budget` entries (in the layout above) are trained.

    `units` = ceil of what the budget reaches; init as `infoprompt.delta.Bottleneck` (truncated
    normal, std 1e-3, zero biases), so a full FlatBottleneck starts where an adapter starts.
    """

    def __init__(self, dim: int, units: int, budget: int, activation: str = "gelu", init_std: float = 1e-3):
        super().__init__()
        from transformers.activations import ACT2FN  # slow import (≈1 s): only when a bottleneck is built

        self.dim, self.units = dim, units
        down = torch.empty(units, dim)
        up = torch.empty(dim, units)
        for weight in (down, up):
            nn.init.trunc_normal_(weight, std=init_std, a=-2 * init_std, b=2 * init_std)
        init = self.layout(down, torch.zeros(units), up, torch.zeros(dim))
        self.params = FlatSlice((init.numel(),), budget, init)
        self.act = ACT2FN[activation]

    @staticmethod
    def layout(down_w: torch.Tensor, down_b: torch.Tensor, up_w: torch.Tensor, up_b: torch.Tensor) -> torch.Tensor:
        """Canonical flat order: up bias, then per hidden unit (down row, down bias, up column)."""
        units = torch.cat([down_w, down_b.unsqueeze(1), up_w.t()], dim=1)
        return torch.cat([up_b, units.reshape(-1)])

    @classmethod
    def from_bottleneck(cls, module) -> FlatBottleneck:
        """The same function as a full `infoprompt.delta.Bottleneck` (weights copied)."""
        dim, units = module.up.out_features, module.down.out_features
        flat = cls(dim, units, bottleneck_layout_size(dim, units))
        flat.params.load_full(cls.layout(module.down.weight, module.down.bias, module.up.weight, module.up.bias))
        return flat

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        full = self.params.full().to(hidden.dtype)
        up_b = full[: self.dim]
        units = full[self.dim:].view(self.units, 2 * self.dim + 1)
        down_w, down_b, up_w = units[:, : self.dim], units[:, self.dim], units[:, self.dim + 1:]
        return hidden + self.act(hidden @ down_w.t() + down_b) @ up_w + up_b


class LowRankAdd(nn.Module):
    """ADD of a low-rank matrix in parallel with a frozen Linear: y = base(x) + (α/r)·x·Aᵀ·Bᵀ (LoRA's form).

    Layout: one rank at a time, B's column (out_features) then A's row (in_features); A starts
    Kaiming-uniform and B at zero, as in peft, so the frozen function is unchanged at init.
    """

    def __init__(self, base: nn.Linear, rank: int, budget: int, alpha: float | None = None):
        super().__init__()
        self.base = base
        self.rank, self.scale = rank, (alpha if alpha is not None else rank) / rank
        self.n_in, self.n_out = base.in_features, base.out_features
        a = torch.empty(rank, self.n_in)
        nn.init.kaiming_uniform_(a, a=math.sqrt(5))
        init = self.layout(a, torch.zeros(self.n_out, rank))
        self.params = FlatSlice((init.numel(),), budget, init)

    @staticmethod
    def layout(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """A (rank, in), B (out, rank) -> per rank r: B[:, r] then A[r]."""
        return torch.cat([b.t(), a], dim=1).reshape(-1)

    def __getattr__(self, name: str):
        # Model code may read the replaced Linear's attributes (T5 checks `wo.weight.dtype`).
        try:
            return super().__getattr__(name)
        except AttributeError:
            return getattr(super().__getattr__("base"), name)

    def load_lora(self, a: torch.Tensor, b: torch.Tensor) -> None:
        self.params.load_full(self.layout(a, b))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        full = self.params.full().to(x.dtype).view(self.rank, self.n_out + self.n_in)
        b_t, a = full[:, : self.n_out], full[:, self.n_out:]
        return self.base(x) + (x @ a.t() @ b_t) * self.scale
