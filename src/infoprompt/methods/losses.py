"""InfoNCE lower bounds on mutual information, and the Gaussian KL, used by InfoPrompt.

With K candidates (one positive, K-1 negatives), I ≥ log K − L_NCE, so the estimate log K − L_NCE
is at most log K: the bound saturates when the positive always wins.
"""

from __future__ import annotations

import math

import torch
from torch.nn import functional as F

CLAMP_MODES = ("scale", "hard", "none")


def info_nce(pos: torch.Tensor, neg: torch.Tensor, neg_mask: torch.Tensor | None = None) -> torch.Tensor:
    """Per-example InfoNCE loss −log( e^{s+} / (e^{s+} + Σ e^{s−}) ).

    pos: (B,) scores of the positive pair; neg: (B, K−1) scores; neg_mask: (B, K−1) bool, False for
    padding (those negatives are ignored).
    """
    scores = torch.cat([pos.unsqueeze(1), neg], dim=1)
    if neg_mask is not None:
        keep = torch.cat([torch.ones_like(neg_mask[:, :1]), neg_mask], dim=1)
        scores = scores.masked_fill(~keep, float("-inf"))
    return -F.log_softmax(scores, dim=1)[:, 0]


def mi_lower_bound(loss: torch.Tensor, k: int | torch.Tensor) -> torch.Tensor:
    """log K − L_NCE: the InfoNCE estimate of I (never above log K)."""
    log_k = torch.log(torch.as_tensor(k, dtype=loss.dtype)) if isinstance(k, torch.Tensor) else math.log(k)
    return log_k - loss


def clamp_loss(loss: torch.Tensor, limit: float | None, mode: str = "scale") -> torch.Tensor:
    """Bound each example's NCE loss at `limit` for stability.

    `hard` is torch.clamp: an example above the limit gets no gradient at all, which at
    initialisation (loss ≈ log 32 ≈ 3.47 > 2) silences the whole term. `scale` (default) keeps the
    reported value at the limit but rescales the gradient by limit/loss, so the term still teaches.
    """
    if limit is None or mode == "none":
        return loss
    if mode == "hard":
        return loss.clamp(max=limit)
    if mode == "scale":
        factor = (limit / loss.detach().clamp(min=limit)).detach()
        return loss * factor
    raise ValueError(f"unknown clamp mode '{mode}' (choose from {CLAMP_MODES})")


def gaussian_kl(mu: torch.Tensor, log_sigma: torch.Tensor) -> torch.Tensor:
    """KL(N(μ, σ²) ‖ N(0, I)) per example, summed over latent dimensions."""
    return 0.5 * (mu.pow(2) + torch.exp(2 * log_sigma) - 1.0 - 2 * log_sigma).sum(-1)
