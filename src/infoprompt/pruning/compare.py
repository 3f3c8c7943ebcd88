"""The paper's Fig. 2 as a built-in experiment: mask the lowest-importance ("negative") prompt tokens,
or the same number of random tokens, and compare dev scores without and with retraining; the full
prompt, retrained on the same schedule, is the control.

Negative tokens come from the token-level iterative path (importance recomputed at each step of
the grid) to n = round(R · np) tokens; random masks draw n of the np tokens with seeds 0..S−1.
Random rows are reported as mean ± sample std over the seeds. Retraining is the same rewinding
as XPrompt's stage 3, so "with retraining" differs between rows only in which tokens are masked.
"""

from __future__ import annotations

import json
import statistics
from dataclasses import replace
from pathlib import Path

import torch

from infoprompt.atomic_files import atomic_write_json
from infoprompt.pruning.rewind import rewind_and_retrain
from infoprompt.pruning.schedule import half_up
from infoprompt.pruning.stage import evaluate_dev, ratio_name, restore_values, set_masks, walk_path


def random_token_masks(n_prompts: int, pieces: int, n: int, seed: int) -> dict[str, torch.Tensor]:
    """Masks with n random tokens pruned (all pieces of the others kept)."""
    token = torch.ones(n_prompts)
    token[torch.randperm(n_prompts, generator=torch.Generator().manual_seed(seed))[:n]] = 0.0
    return {"token_mask": token, "piece_mask": torch.ones(n_prompts, pieces)}


def mean_std(values: list[float]) -> dict:
    return {"mean": statistics.fmean(values), "std": statistics.stdev(values) if len(values) > 1 else 0.0,
            "values": values}


def compare_masking(stage, out_dir: Path, settings, ratio: float, post: dict[str, torch.Tensor], batch_size: int,
                    sweep_masks: dict | None = None, sweep_rewound: Path | None = None,
                    on_progress=lambda partial: None, log=lambda message: None) -> dict:
    """Dev metric (before and, optionally, after retraining) of negative vs random token masking at `ratio`."""
    method, metric = stage.method, stage.metric
    n_prompts, pieces = method.config.n_prompts, settings.pieces
    n = half_up(ratio * n_prompts)
    result = {"ratio": ratio, "tokens_masked": n, "n_prompts": n_prompts, "random_seeds": settings.random_seeds,
              "full": stage.model.record["dev_metrics"][metric], "metric": metric, "rows": {}}
    if n == 0:
        result["note"] = f"round({ratio} x {n_prompts}) = 0 tokens: nothing to compare"
        return result
    reuse = sweep_masks is not None and ratio in sweep_masks  # token granularity: the sweep's own masks
    if reuse:
        negative = sweep_masks[ratio]
    else:
        negative = walk_path(stage, out_dir, replace(settings, ratios=(ratio,)), "token", "token", batch_size, log)[ratio]
    # "none" is the control: the full prompt rewound and retrained on the same schedule, so that a gain
    # of a masked prompt after retraining is not mistaken for the effect of the extra training alone
    variants = [("none", random_token_masks(n_prompts, pieces, 0, 0)), ("negative", negative)] + [
        (f"random_s{s}", random_token_masks(n_prompts, pieces, n, s)) for s in range(settings.random_seeds)]
    scores: dict[str, dict] = {}
    for name, masks in variants:
        folder = out_dir / (name if name == "none" else f"{ratio_name(ratio)}_{name}")
        done = folder / "masked.json"
        if name == "none":  # all masks at 1: the stage-1 prompt itself, whose dev score is recorded
            entry = {"tokens_pruned": [], "dev_before": result["full"]}
        elif done.is_file():
            entry = json.loads(done.read_text(encoding="utf-8"))
        else:
            set_masks(method, masks)
            entry = {"tokens_pruned": [i for i, a in enumerate(masks["token_mask"].tolist()) if a == 0],
                     "dev_before": evaluate_dev(stage)[metric]}
            restore_values(method, post)
            atomic_write_json(done, entry)
        if settings.compare_retrain:
            pruning = {"pieces": pieces, "granularity": "token", "ratio": 0.0 if name == "none" else ratio,
                       "source": str(stage.run_dir), "masking": name}
            target = sweep_rewound if reuse and name == "negative" and sweep_rewound else folder / "rewound"
            summary = rewind_and_retrain(stage.cfg, post, masks, pruning, target, stage.backbone)
            entry["dev_after"] = summary["dev"][metric]
        scores[name] = entry
        log(f"compare {name}: {entry}")
        result["rows"] = _rows(scores)
        on_progress(result)
    return result


def _rows(scores: dict[str, dict]) -> dict:
    """none, negative: their scores; random: mean ± std over the seeds done so far."""
    rows = {}
    if "none" in scores:
        rows["none"] = {k: v for k, v in scores["none"].items() if k != "tokens_pruned"}
    if "negative" in scores:
        rows["negative"] = {k: v for k, v in scores["negative"].items() if k != "tokens_pruned"}
        rows["negative"]["tokens_pruned"] = scores["negative"]["tokens_pruned"]
    randoms = [v for k, v in scores.items() if k.startswith("random_")]
    if randoms:
        rows["random"] = {key: mean_std([r[key] for r in randoms]) for key in ("dev_before", "dev_after")
                          if all(key in r for r in randoms)}
        rows["random"]["seeds_done"] = len(randoms)
    return rows
