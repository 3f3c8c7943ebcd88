"""XPrompt's masks as a module of the method's prompt seam: a token mask α (np,) and a piece mask β (np, k).

The masker sits in `PromptMethod.prompt_masker` and is applied by `mask_prompts`, so it acts the same
way on free prompts and on a prompt generator's output. Both masks are buffers, hence part of
`trainable_state_dict()` and of every checkpoint; a checkpoint's `pruning` record makes the run
assembly attach one (`PromptMethod.attach_prompt_masker`) before the tensors are copied in. It lives
with the methods, not in `pruning/`, so that loading a pruned checkpoint needs nothing from pruning;
how masks are chosen (importance, schedule, rewinding) is `infoprompt.pruning`'s.

Pieces: each token's D dimensions are split into k contiguous pieces. When k does not divide D the
first D mod k pieces are one dimension longer (numpy's `array_split` rule), so every dimension
belongs to exactly one piece and the piece sizes differ by at most one.

A pruned token is a zero vector in its slot: the slot stays in the template (with its position
embedding), as multiplying the embedding by α = 0 in the paper does.
"""

from __future__ import annotations

import contextlib

import torch
from torch import nn

from infoprompt.errors import ConfigError

DEFAULT_PIECES = 16


def piece_sizes(hidden: int, pieces: int) -> list[int]:
    """Sizes of the k contiguous pieces of a D-vector (array_split rule)."""
    if not 1 <= pieces <= hidden:
        raise ConfigError(f"--pieces must be between 1 and the hidden size {hidden}, got {pieces}")
    base, extra = divmod(hidden, pieces)
    return [base + 1] * extra + [base] * (pieces - extra)


class PromptMasker(nn.Module):
    """prompts (B, np, D) -> prompts ⊙ α_i ⊙ β_ij, β expanded over each piece's dimensions."""

    def __init__(self, n_prompts: int, hidden: int, pieces: int = DEFAULT_PIECES):
        super().__init__()
        self.sizes = piece_sizes(hidden, pieces)
        self.register_buffer("token_mask", torch.ones(n_prompts))
        self.register_buffer("piece_mask", torch.ones(n_prompts, pieces))
        self._probe: tuple[str, torch.Tensor] | None = None  # importance scoring only (see `probing`)

    @property
    def n_prompts(self) -> int:
        return self.token_mask.shape[0]

    @property
    def pieces(self) -> int:
        return self.piece_mask.shape[1]

    def unit_mask(self) -> torch.Tensor:
        """(np, k) 1 where a piece survives both levels (its token and itself kept)."""
        return self.token_mask.unsqueeze(1) * self.piece_mask

    def scale(self, token: torch.Tensor | None = None, piece: torch.Tensor | None = None) -> torch.Tensor:
        """(..., np, D) multiplier from token (..., np) and piece (..., np, k) masks (default: the buffers)."""
        token = self.token_mask if token is None else token
        piece = self.piece_mask if piece is None else piece
        sizes = torch.tensor(self.sizes, device=piece.device)
        return token.unsqueeze(-1) * piece.repeat_interleave(sizes, dim=-1)

    def forward(self, prompts: torch.Tensor) -> torch.Tensor:
        token, piece = self.token_mask, self.piece_mask
        if self._probe is not None:  # per-example multipliers (B, np) or (B, np, k) at 1
            level, probe = self._probe
            token, piece = (token * probe, piece) if level == "token" else (token, piece * probe)
        return prompts * self.scale(token.to(prompts.dtype), piece.to(prompts.dtype))

    @contextlib.contextmanager
    def probing(self, level: str, probe: torch.Tensor):
        """Multiply the token (or piece) mask by `probe`, a tensor of ones that requires grad, so that
        ∂L/∂probe is ∂L/∂α (or ∂L/∂β) at the current masks, one row per example."""
        self._probe = (level, probe)
        try:
            yield
        finally:
            self._probe = None

    def summary(self) -> dict:
        """Surviving tokens and pieces (a piece of a pruned token does not survive)."""
        units = self.unit_mask()
        return {
            "tokens_kept": int(self.token_mask.sum().item()),
            "pieces_kept": int(units.sum().item()),
            "tokens_total": self.n_prompts,
            "pieces_total": int(units.numel()),
        }
