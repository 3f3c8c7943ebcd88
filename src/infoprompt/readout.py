"""How Z is read from the last hidden states: at the mask token, by mean pooling, or at the first token.

The paper reads the mask token because RoBERTa was pretrained to predict masked tokens there. On a
backbone without masked-LM pretraining (the offline default all-MiniLM-L6-v2) the mask state is a
weak readout (measured: 0.620 vs 0.756 for mean pooling on 256-shot SST-2), so `auto` picks `mask`
only for MLM-pretrained backbones and mean pooling over the input's own tokens (`mean-text`)
otherwise. `mean-text` rather than `mean` (which also averages the prompt and mask positions):
WARP on 256-shot SST-2 with MiniLM, seed 0, 10 epochs, reached 0.759 with `mean-text` against
0.742 with `mean`, measured with `infoprompt train --task sst2 --method warp --shots 256
--n-prompts 4 --seed 0 --epochs 10 --data-dir ../shared/data --readout mean-text` (and `--readout mean`).
"""

from __future__ import annotations

import torch

from infoprompt.errors import ConfigError

READOUTS = ("auto", "mask", "mean", "mean-text", "cls")


def resolve_readout(choice: str, has_mlm_head: bool) -> str:
    if choice not in READOUTS:
        raise ConfigError(f"--readout must be one of {READOUTS}, got '{choice}'")
    if choice == "auto":
        return "mask" if has_mlm_head else "mean-text"
    return choice


def read_out(
    kind: str, hidden: torch.Tensor, attention_mask: torch.Tensor, mask_pos: torch.Tensor,
    prompt_index: torch.Tensor | None = None,
) -> torch.Tensor:
    """(B, L, D) hidden states -> (B, D) representation Z.

    `mean-text` averages only the input's own tokens (no prompt slot, no mask): the pooling a
    sentence-embedding model was trained with, while the prompts still act through attention.
    """
    if kind == "mask":
        return hidden[torch.arange(hidden.shape[0], device=hidden.device), mask_pos]
    if kind == "cls":
        return hidden[:, 0]
    if kind in ("mean", "mean-text"):
        keep = attention_mask.bool()
        if kind == "mean-text":
            keep = keep.clone()
            keep[torch.arange(hidden.shape[0], device=hidden.device), mask_pos] = False
            if prompt_index is not None:
                keep &= prompt_index < 0
        weights = keep.to(hidden.dtype).unsqueeze(-1)
        return (hidden * weights).sum(1) / weights.sum(1).clamp(min=1.0)
    raise ConfigError(f"unknown readout '{kind}'")
