"""Stage 3 of XPrompt: rewind the surviving parameters to their post-tuning values and retrain.

Retraining is `api.train` with the stage-1 run's own TrainConfig (same data draw, seed, epochs,
batch size, learning rate and schedule), so there is one training loop; the `prepare` hook
installs the masks and the rewound values on the freshly built method before `fit` starts.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import torch

from infoprompt.api import TrainConfig, load, train
from infoprompt.atomic_files import atomic_write_json
from infoprompt.errors import CheckpointError
from infoprompt.pruning.masker import attach_masker, prompt_parameter_counts, zero_pruned

DONE = "retrain.json"  # written last: a retraining with this file is finished and is skipped on a rerun


def install(method, post_tuning: dict[str, torch.Tensor], masks: dict[str, torch.Tensor], pieces: int) -> None:
    """Give `method` the post-tuning values, a masker holding `masks`, and zeros at every pruned entry."""
    masker = attach_masker(method, pieces)
    live = dict(method.named_parameters())
    live.update(dict(method.named_buffers()))
    unknown = sorted(set(post_tuning) - set(live))
    if unknown:
        raise CheckpointError(f"stage-1 tensors {unknown[:3]} do not belong to method '{method.method_name}'")
    with torch.no_grad():
        for name, value in post_tuning.items():
            live[name].copy_(value)
        masker.token_mask.copy_(masks["token_mask"])
        masker.piece_mask.copy_(masks["piece_mask"])
    zero_pruned(method, masker)


def rewind_and_retrain(cfg: TrainConfig, post_tuning: dict[str, torch.Tensor], masks: dict[str, torch.Tensor],
                       pruning: dict, out_dir: str | Path, backbone=None) -> dict:
    """Retrain the rewound sub-prompt into `out_dir` (resumable); returns its dev metrics and true sizes."""
    out_dir = Path(out_dir)
    if (out_dir / DONE).is_file():
        return json.loads((out_dir / DONE).read_text(encoding="utf-8"))

    def prepare(method) -> dict:
        install(method, post_tuning, masks, int(pruning["pieces"]))
        counts = prompt_parameter_counts(method, method.prompt_masker)
        return {"pruning": {**pruning, "rewound": True, **counts}}

    result = train(replace(cfg, output=str(out_dir), resume=True, progress=False), backbone, prepare)
    best = load(out_dir, backbone)  # the dev-chosen checkpoint, counted as saved
    summary = {"dev": result.metrics, "best_step": result.summary["best_step"], "steps": result.summary["steps"],
               "train_seconds": result.summary["train_seconds"], "checkpoint": str(out_dir),
               **prompt_parameter_counts(best.method, best.method.prompt_masker)}
    atomic_write_json(out_dir / DONE, summary)
    return summary
