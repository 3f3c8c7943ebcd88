"""XPrompt's masks on a method's prompts: which parameters feed which prompt unit, and the true prompt size.

The masker itself (`PromptMasker`, token mask α (np,) and piece mask β (np, k)) is part of the
method's prompt seam and lives in `infoprompt.methods.prompt_masks`; it is re-exported here. It acts
the same way on free prompts (`prompt`, `warp`) and on the output of a prompt generator (`idpg`,
`infoprompt`).
"""

from __future__ import annotations

import torch

from infoprompt.methods.base import Capability
from infoprompt.methods.prompt_masks import DEFAULT_PIECES, PromptMasker, piece_sizes  # noqa: F401  (re-exported)


def attach_masker(method, pieces: int = DEFAULT_PIECES) -> PromptMasker:
    """Install a fresh all-ones masker in `method`'s prompt seam (any previous one is replaced)."""
    return method.attach_prompt_masker(pieces)


def _free(method) -> bool:
    return Capability.FREE_PROMPT in method.capabilities


def masked_tensors(method, masker: PromptMasker) -> list[tuple[str, torch.Tensor, torch.Tensor]]:
    """(name, parameter, 0/1 keep-mask of the same shape) for every parameter that feeds only pruned units.

    Free prompts: the prompt matrix itself. Generated prompts: the generator's per-token bias and the
    rows (and biases) of its up-projection that produce a pruned output unit. The shared
    down-projection feeds every unit and is never reduced.
    """
    keep = masker.scale()  # (np, D)
    if _free(method):
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
    if _free(method):
        param = method.prompt.detach()
        return {"prompt_kind": "free", "prompt_params_total": param.numel(),
                "nonzero_prompt_params": int(torch.count_nonzero(param * masker.scale()).item()),
                "prompt_units_kept": units}
    params = list(method.generator.parameters())
    return {"prompt_kind": "generated", "prompt_params_total": sum(p.numel() for p in params),
            "nonzero_prompt_params": sum(int(torch.count_nonzero(p.detach()).item()) for p in params),
            "prompt_units_kept": units, "prompt_units_total": masker.n_prompts * sum(masker.sizes)}
