"""How a pruning ratio maps to tokens and pieces, and the nested path of ratios pruning follows.

A ratio R is always the fraction of the np × k prompt pieces (so, up to piece-size rounding, of the
np × D prompt entries) that are masked:
- `token`: n_tok = round(R · np) whole tokens, i.e. n_tok · k pieces;
- `piece`: round(R · np · k) pieces, ranked over all tokens, no token removed as such;
- `both` (hierarchical): first tokens at the per-level ratio r = 1 − √(1 − R) (so a token level and
  a piece level of the same strength compound to R), n_tok = round(r · np); then pieces of the
  surviving tokens until round(R · np · k) pieces in total are masked (pruned tokens count k each).
`round` is half-up. Pruning is iterative and nested: the masks for R are obtained from those of
the previous ratio on the path by removing more units (importance recomputed at the current
masks), so a sweep computes every ratio on one path, and `--ratio 0.5` alone reaches the same
masks as the sweep's 0.5 by passing through 0.1 … 0.4 (`step`).
"""

from __future__ import annotations

import math

import torch

from infoprompt.errors import ConfigError

GRANULARITIES = ("token", "piece", "both")
DEFAULT_SWEEP = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)


def half_up(x: float) -> int:
    return int(math.floor(x + 0.5 + 1e-9))


def check_ratio(ratio: float, flag: str = "--ratio") -> float:
    if not (isinstance(ratio, (int, float)) and 0 < ratio < 1):
        raise ConfigError(f"{flag} must be in (0, 1) (a fraction of the prompt to mask), got {ratio}")
    return float(ratio)


def parse_ratios(text: str, flag: str = "--sweep") -> list[float]:
    """'0.1,0.2' -> [0.1, 0.2] (sorted, unique); one-line ConfigError on anything else."""
    values = []
    for part in str(text).split(","):
        part = part.strip()
        if not part:
            continue
        try:
            values.append(float(part))
        except ValueError:
            raise ConfigError(f"{flag}: '{part}' is not a number (give ratios like 0.1,0.2,...,0.9)") from None
    if not values:
        raise ConfigError(f"{flag}: no ratio given")
    return sorted({round(check_ratio(v, flag), 6) for v in values})


def check_granularity(granularity: str) -> str:
    if granularity not in GRANULARITIES:
        raise ConfigError(f"--granularity must be one of {', '.join(GRANULARITIES)}, got '{granularity}'")
    return granularity


def target_counts(ratio: float, n_prompts: int, pieces: int, granularity: str) -> tuple[int, int]:
    """(tokens to mask, pieces masked in total) for one ratio; a masked token counts as its k pieces."""
    check_ratio(ratio)
    check_granularity(granularity)
    if granularity == "token":
        tokens = half_up(ratio * n_prompts)
        return tokens, tokens * pieces
    if granularity == "piece":
        return 0, half_up(ratio * n_prompts * pieces)
    tokens = half_up((1 - math.sqrt(1 - ratio)) * n_prompts)
    return tokens, max(tokens * pieces, half_up(ratio * n_prompts * pieces))


def ratio_path(targets: list[float], step: float = 0.1) -> list[float]:
    """Every ratio pruning passes through on its way to max(targets): the grid of `step` plus the targets."""
    if not 0 < step < 1:
        raise ConfigError(f"--step must be in (0, 1), got {step}")
    top = max(targets)
    grid = [round(step * i, 6) for i in range(1, int(top / step + 1e-9) + 1)]
    return sorted({*grid, *(round(t, 6) for t in targets)})


def lowest(scores: torch.Tensor, alive: torch.Tensor, n: int) -> torch.Tensor:
    """Flat indices of the n lowest-scoring alive units (ties: lower index first)."""
    flat_scores, flat_alive = scores.reshape(-1).double(), alive.reshape(-1).bool()
    candidates = torch.nonzero(flat_alive).squeeze(1)
    if n > candidates.numel():
        raise ConfigError(f"cannot prune {n} more units: only {candidates.numel()} are left")
    order = torch.argsort(flat_scores[candidates], stable=True)
    return candidates[order[:n]]
