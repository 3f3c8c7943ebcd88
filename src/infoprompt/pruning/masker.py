"""XPrompt's masks: a token mask α (np,) and a piece mask β (np, k) on a method's (B, np, D) prompts.

The masker sits in the method's prompt seam (`PromptMethod.prompt_masker`, applied by
`mask_prompts`), so it acts the same way on free prompts (`prompt`, `warp`) and on the output of a
prompt generator (`idpg`, `infoprompt`). Both masks are buffers of the masker, hence part of
`trainable_state_dict()` and of every checkpoint; a checkpoint's `pruning` record tells
`load_checkpoint` to attach a masker before the tensors are copied in.

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


def attach_masker(method, pieces: int = DEFAULT_PIECES) -> PromptMasker:
    """Install a fresh all-ones masker in `method`'s prompt seam (any previous one is replaced)."""
    if not is_prunable(method):
        raise ConfigError(f"method '{method.method_name}' has no soft prompt to prune "
                          "(XPrompt applies to prompt, warp, idpg and infoprompt)")
    masker = PromptMasker(method.config.n_prompts, method.hidden_size, pieces)
    param = next((p for p in method.parameters() if p.requires_grad), None)
    if param is not None:
        masker.to(param.device)
    method.prompt_masker = masker
    return masker


def is_prunable(method) -> bool:
    """True for methods whose prompts pass through the masker seam: a trainable free prompt (prompt, warp,
    and the generative backbones' gen-prompt / gen-warp) or a prompt generator's output (idpg, infoprompt)."""
    prompt = getattr(method, "prompt", None)
    free = isinstance(prompt, nn.Parameter) and prompt.requires_grad
    return hasattr(method, "mask_prompts") and hasattr(method, "prompts") and (free or hasattr(method, "generator"))


def masked_tensors(method, masker: PromptMasker) -> list[tuple[str, torch.Tensor, torch.Tensor]]:
    """(name, parameter, 0/1 keep-mask of the same shape) for every parameter that feeds only pruned units.

    Free prompts: the prompt matrix itself. Generated prompts: the generator's per-token bias and the
    rows (and biases) of its up-projection that produce a pruned output unit. The shared
    down-projection feeds every unit and is never reduced.
    """
    keep = masker.scale()  # (np, D)
    if hasattr(method, "prompt"):
        return [("prompt", method.prompt, keep)]
    generator = method.generator
    out = [("generator.bias", generator.bias, keep)]
    if len(generator.up) == 1:  # shared: one Linear to np·D outputs, row i·D + d is unit (i, d)
        flat = keep.reshape(-1)
        up = generator.up[0]
        out += [("generator.up.0.weight", up.weight, flat.unsqueeze(1).expand_as(up.weight)),
                ("generator.up.0.bias", up.bias, flat)]
    else:  # per_token: up[i] produces token i
        for i, up in enumerate(generator.up):
            out += [(f"generator.up.{i}.weight", up.weight, keep[i].unsqueeze(1).expand_as(up.weight)),
                    (f"generator.up.{i}.bias", up.bias, keep[i])]
    return out


@torch.no_grad()
def zero_pruned(method, masker: PromptMasker) -> None:
    """Set every parameter entry that feeds only pruned units to exactly 0.

    They get zero gradient afterwards (their output is multiplied by 0), and a fresh AdamW with zero
    moments leaves a zero-gradient entry at 0, with or without weight decay, so they stay 0.
    """
    for _, param, keep in masked_tensors(method, masker):
        param.mul_(keep.to(param.dtype))


def prompt_parameter_counts(method, masker: PromptMasker) -> dict:
    """The prompt's true size: total and non-zero entries of the parameters that make the prompt.

    Free prompts: entries of the np×D prompt matrix. Generated prompts: the generator's parameters
    (down-projection included; it is shared by all units and not reduced), plus the number of
    surviving output units (np×D scale), which is what the mask removes from every generated prompt.
    """
    units = int(masker.scale().sum().item())
    if hasattr(method, "prompt"):
        param = method.prompt.detach()
        return {"prompt_kind": "free", "prompt_params_total": param.numel(),
                "nonzero_prompt_params": int(torch.count_nonzero(param * masker.scale()).item()),
                "prompt_units_kept": units}
    params = list(method.generator.parameters())
    return {"prompt_kind": "generated", "prompt_params_total": sum(p.numel() for p in params),
            "nonzero_prompt_params": sum(int(torch.count_nonzero(p.detach()).item()) for p in params),
            "prompt_units_kept": units, "prompt_units_total": masker.n_prompts * sum(masker.sizes)}
