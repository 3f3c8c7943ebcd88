"""What XPrompt's steps share: the stage-1 run being pruned, its masks, and the iterative pruning path.

`pipeline.py` (the whole run) and `compare.py` (negative vs random masking) both walk the path and
score masks here, so neither imports the other's internals.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from infoprompt.api import LoadedModel, TrainConfig
from infoprompt.atomic_files import atomic_write_json
from infoprompt.backbones import Backbone
from infoprompt.devices import resolve_device
from infoprompt.errors import check_settings
from infoprompt.methods import Capability
from infoprompt.prompting.template import Feature
from infoprompt.pruning.importance import importance_scores
from infoprompt.pruning.masker import DEFAULT_PIECES, attach_masker, zero_pruned
from infoprompt.pruning.schedule import (
    DEFAULT_SWEEP,
    check_granularity,
    check_ratio,
    lowest,
    ratio_path,
    target_counts,
)
from infoprompt.training.checkpoint import save_tensors
from infoprompt.training.inference import evaluate_features

Log = Callable[[str], None]


@dataclass
class PruneSettings:
    ratios: tuple[float, ...] = DEFAULT_SWEEP  # one ratio (--ratio) or a sweep with dev selection
    granularity: str = "both"  # token | piece | both
    pieces: int = DEFAULT_PIECES
    rewind: bool = True
    step: float = 0.1  # the iterative path's grid: importance is recomputed at each of its ratios
    compare: bool = True  # the Fig. 2 experiment: lowest-importance vs random tokens
    compare_ratio: float | None = None  # default: the dev-selected ratio
    random_seeds: int = 3
    compare_retrain: bool = True
    score_batch_size: int | None = None  # default: the run's training batch size

    def validate(self) -> None:
        for ratio in self.ratios:
            check_ratio(ratio)
        check_granularity(self.granularity)
        if self.compare_ratio is not None:
            check_ratio(self.compare_ratio, "--compare-ratio")
        check_settings([
            (len(self.ratios) >= 1, "give --ratio R or --sweep R1,R2,..."),
            (self.pieces >= 1, f"--pieces must be >= 1, got {self.pieces}"),
            (0 < self.step < 1, f"--step must be in (0, 1), got {self.step}"),
            (self.random_seeds >= 1, f"--random-seeds must be >= 1, got {self.random_seeds}"),
            (self.score_batch_size is None or self.score_batch_size >= 1,
             f"--score-batch-size must be >= 1, got {self.score_batch_size}"),
        ])


@dataclass
class StageOne:
    """The trained run being pruned: its model (post-tuning values), config, data and backbone."""

    run_dir: Path
    model: LoadedModel
    cfg: TrainConfig
    train_features: list[Feature]
    dev_features: list[Feature]
    backbone: Backbone

    @property
    def method(self):
        return self.model.method

    @property
    def metric(self) -> str:
        return self.method.task.primary_metric


def masks_of(masker) -> dict[str, torch.Tensor]:
    return {"token_mask": masker.token_mask.detach().cpu().clone(), "piece_mask": masker.piece_mask.detach().cpu().clone()}


def set_masks(method, masks: dict[str, torch.Tensor], zero: bool = True) -> None:
    """Put `masks` in the method's masker; `zero`: also set the pruned parameter entries to 0."""
    with torch.no_grad():
        method.prompt_masker.token_mask.copy_(masks["token_mask"])
        method.prompt_masker.piece_mask.copy_(masks["piece_mask"])
    if zero:
        zero_pruned(method, method.prompt_masker)


def prune_tokens(stage: StageOne, n_tokens: int, batch_size: int) -> list | None:
    """Mask the lowest-importance alive tokens until `n_tokens` are masked (importance at the current masks)."""
    masker = stage.method.prompt_masker
    extra = n_tokens - int((masker.token_mask == 0).sum())
    if extra <= 0:
        return None
    scores = importance_scores(stage.method, stage.train_features, "token", batch_size=batch_size,
                               seed=stage.cfg.seed, device=resolve_device(stage.cfg.device))
    chosen = lowest(scores, masker.token_mask > 0, extra).to(masker.token_mask.device)
    with torch.no_grad():
        masker.token_mask.index_fill_(0, chosen, 0.0)
    return scores.tolist()


def prune_pieces(stage: StageOne, n_pieces: int, batch_size: int) -> list | None:
    """Mask the lowest-importance alive pieces of alive tokens until `n_pieces` pieces are masked in total
    (a masked token counts as its k pieces)."""
    masker = stage.method.prompt_masker
    extra = n_pieces - int((masker.unit_mask() == 0).sum())
    if extra <= 0:
        return None
    scores = importance_scores(stage.method, stage.train_features, "piece", batch_size=batch_size,
                               seed=stage.cfg.seed, device=resolve_device(stage.cfg.device))
    chosen = lowest(scores, masker.unit_mask() > 0, extra).to(masker.piece_mask.device)
    with torch.no_grad():
        masker.piece_mask.view(-1).index_fill_(0, chosen, 0.0)
    return scores.tolist()


def evaluate_dev(stage: StageOne) -> dict[str, float]:
    """Dev metrics of the method as it is now, computed as `infoprompt evaluate` computes them on its checkpoint."""
    method = stage.method
    if Capability.RUN_STATE in method.capabilities:
        method.clear_run_state()  # a loaded checkpoint starts with an empty prompt-free cache: so must this score
    batch_size = stage.model.record.get("eval_batch_size", 64)
    return evaluate_features(method, stage.dev_features, method.task.metrics, batch_size, resolve_device(stage.cfg.device))


def ratio_name(ratio: float) -> str:
    return f"r{ratio:.3f}"


def walk_path(stage: StageOne, out_dir: Path, settings: PruneSettings, granularity: str, tag: str,
              batch_size: int, log: Log) -> dict[float, dict[str, torch.Tensor]]:
    """Prune iteratively along the ratio path from all-ones masks; returns the masks of every requested ratio.

    `token` and `piece`: one nested path, importance recomputed at every grid point. `both`: the token
    level walks the nested path; at each requested ratio the pieces of its surviving tokens are then
    pruned (one importance pass) to the ratio's exact count, and the path goes on from the token-level
    masks, so a token pruned later never carries pieces pruned earlier (which would overshoot the count).
    Saved under out_dir/masks/<tag>/ (the path's state last: it is the resume point).
    """
    method = stage.method
    masker = attach_masker(method, settings.pieces)
    targets = {round(r, 6) for r in settings.ratios}
    reached: dict[float, dict[str, torch.Tensor]] = {}
    folder = out_dir / "masks" / tag
    for ratio in ratio_path(list(settings.ratios), settings.step):
        state_file = folder / f"{ratio_name(ratio)}.safetensors"
        target_file = folder / f"{ratio_name(ratio)}.target.safetensors"
        if state_file.is_file():
            set_masks(method, _read_masks(state_file), zero=False)
            if ratio in targets:
                reached[ratio] = _read_masks(target_file)
            continue
        start = time.perf_counter()
        n_tokens, n_pieces = target_counts(ratio, masker.n_prompts, masker.pieces, granularity)
        scores = {"token": prune_tokens(stage, n_tokens, batch_size)}
        if granularity != "both":
            scores["piece"] = prune_pieces(stage, n_pieces, batch_size)
        state = masks_of(masker)
        if ratio in targets:
            if granularity == "both":
                scores["piece"] = prune_pieces(stage, n_pieces, batch_size)
                reached[ratio] = masks_of(masker)
                set_masks(method, state, zero=False)
            else:
                reached[ratio] = state
            save_tensors(target_file, reached[ratio])
        atomic_write_json(state_file.with_suffix(".json"), {"ratio": ratio, "importance": scores})
        save_tensors(state_file, state)
        shown = reached.get(ratio, state)
        log(f"pruned to {ratio:.2f} ({granularity}): {int(shown['token_mask'].sum())} tokens, "
            f"{int((shown['token_mask'].unsqueeze(1) * shown['piece_mask']).sum())} pieces kept "
            f"in {time.perf_counter() - start:.1f}s")
    return reached


def _read_masks(path: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    return load_file(str(path))


def restore_values(method, post: dict[str, torch.Tensor]) -> None:
    live = dict(method.named_parameters())
    with torch.no_grad():
        for name, value in post.items():
            if name in live:
                live[name].copy_(value)
