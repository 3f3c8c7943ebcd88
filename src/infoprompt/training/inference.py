"""Scoring: a method's logits for a list of features, in length-sorted batches, and the task's metrics of them."""

from __future__ import annotations

import contextlib

import torch

from infoprompt.evaluation.metrics import compute_metrics
from infoprompt.prompting.batches import eval_batches
from infoprompt.prompting.template import Feature
from infoprompt.training.progress import progress_bar


def autocast(device: torch.device, precision: str):
    """bf16 autocast around a forward (a no-op context for fp32, so fp32 runs keep their exact numbers)."""
    if precision == "fp32":
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16)


def predict_logits(method, features: list[Feature], batch_size: int = 64, device: str | torch.device = "cpu",
                   precision: str = "fp32", batches: list | None = None, progress: bool = False,
                   desc: str = "dev") -> torch.Tensor:
    """Logits for `features` in their given order; batches are formed by length to cut padding.

    `batches` (from `eval_batches`) skips re-collating when the same features are scored repeatedly;
    `progress` shows a bar (or periodic lines without a terminal) while they are scored.
    """
    device = torch.device(device)
    batches = batches if batches is not None else eval_batches(method, features, batch_size, device)
    out = [None] * len(features)
    was_training = method.training
    method.eval()
    bar = progress_bar(len(features), desc, "ex", progress)
    try:
        with torch.inference_mode(), autocast(device, precision):
            for rows, batch in batches:
                logits = method(batch).logits.float().cpu()
                for row, i in enumerate(rows):
                    out[i] = logits[row]
                bar.update(len(rows))
    finally:
        bar.close()
    method.train(was_training)
    return torch.stack(out) if out else torch.empty(0)


def scores_of(logits: torch.Tensor, features: list[Feature], metrics: list[str],
              rows: list[int] | None = None) -> dict[str, float]:
    """The task's metrics for `logits` (one row per feature), over `rows` only when given."""
    rows = list(range(len(features))) if rows is None else rows
    labels = [features[i].label for i in rows]
    groups = [getattr(features[i], "group", None) for i in rows]
    predictions = logits[rows].argmax(-1).tolist() if rows else []
    return compute_metrics(metrics, labels, predictions, groups if any(groups) else None)


def evaluate_features(method, features: list[Feature], metrics: list[str], batch_size: int, device="cpu",
                      precision: str = "fp32", batches: list | None = None, progress: bool = False) -> dict[str, float]:
    logits = predict_logits(method, features, batch_size, device, precision, batches, progress)
    return scores_of(logits, features, metrics)
