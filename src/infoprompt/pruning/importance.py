"""Importance of prompt tokens and pieces: I = E_x |∂L(x)/∂mask| (Michel et al. 2019; XPrompt eq. 3-4).

L is the method's own training objective, `MethodOutput.total()` (for InfoPrompt: the prediction
loss plus its weighted MI and KL terms), evaluated in training mode, at the current masks (all
ones before any pruning), over the training examples.

Per-example gradients in one backward pass: every example gets its own multiplier (a tensor of
ones) on the mask, so ∂L_batch/∂probe[b] = ∂L_batch/∂α seen through example b only. The batch loss
is a mean of per-example terms for all four prompt methods, hence ∂ℓ_b/∂α = B · ∂L_batch/∂probe[b]
exactly, and E_x|·| is an average of absolute per-example gradients rather than the absolute
value of a batch gradient (which would let examples cancel out).
"""

from __future__ import annotations

import torch

from infoprompt.prompting.batches import to_device
from infoprompt.prompting.template import Feature, collate, pad_token_id
from infoprompt.pruning.masker import PromptMasker

LEVELS = ("token", "piece")


def importance_scores(method, features: list[Feature], level: str, *, batch_size: int = 8, seed: int = 0,
                      device: str | torch.device = "cpu") -> torch.Tensor:
    """(np,) token or (np, k) piece importance of `method`'s masker over `features`.

    Deterministic for a given seed (InfoPrompt's sampled negatives draw from a forked RNG), and free
    of side effects on parameters, their .grad, the global RNG and the method's train/eval mode.
    """
    if level not in LEVELS:
        raise ValueError(f"level must be one of {LEVELS}, got '{level}'")
    masker: PromptMasker = method.prompt_masker
    shape = (masker.n_prompts,) if level == "token" else (masker.n_prompts, masker.pieces)
    device = torch.device(device)
    total = torch.zeros(shape, dtype=torch.float64, device=device)
    pad_id = pad_token_id(method.backbone_info.tokenizer)
    was_training = method.training
    method.train()
    try:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            for start in range(0, len(features), batch_size):
                chunk = features[start: start + batch_size]
                batch = to_device(collate(chunk, pad_id), device)
                probe = torch.ones((len(chunk), *shape), device=device, requires_grad=True)
                with masker.probing(level, probe):
                    loss = method(batch).total()
                (grad,) = torch.autograd.grad(loss, probe)
                total += (grad.double() * len(chunk)).abs().sum(0)
    finally:
        method.train(was_training)
    return (total / max(1, len(features))).float().cpu()
