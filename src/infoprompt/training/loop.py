"""The training loop: AdamW, evaluation cadence, best checkpoint, logs. It knows no method.

A method is anything whose forward(batch) returns a MethodOutput (logits, named losses, weights).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch.utils.data import DataLoader

from infoprompt.errors import ConfigError, TrainingDivergedError
from infoprompt.evaluation.metrics import compute_metrics
from infoprompt.prompting.template import Feature, collate
from infoprompt.training.logging import JsonlLog
from infoprompt.training.seeding import seed_everything


@dataclass
class TrainerConfig:
    epochs: int = 30
    batch_size: int = 8
    lr: float = 1e-3
    weight_decay: float = 0.0
    schedule: str = "constant"  # constant | linear (decay to 0)
    warmup_ratio: float = 0.0
    max_grad_norm: float | None = 1.0
    eval_every: int | None = None  # steps; None = once per epoch
    eval_batch_size: int = 64
    seed: int = 0
    progress: bool = True
    device: str = "cpu"

    def validate(self) -> None:
        checks = [
            (self.epochs >= 1, f"--epochs must be >= 1, got {self.epochs}"),
            (self.batch_size >= 1, f"--batch-size must be >= 1, got {self.batch_size}"),
            (self.lr > 0, f"--lr must be > 0, got {self.lr}"),
            (self.eval_every is None or self.eval_every >= 1, f"--eval-every must be >= 1, got {self.eval_every}"),
            (self.eval_batch_size >= 1, f"--eval-batch-size must be >= 1, got {self.eval_batch_size}"),
            (self.schedule in ("constant", "linear"), f"--schedule must be constant or linear, got '{self.schedule}'"),
            (0 <= self.warmup_ratio < 1, f"--warmup-ratio must be in [0, 1), got {self.warmup_ratio}"),
        ]
        for ok, message in checks:
            if not ok:
                raise ConfigError(message)


@dataclass
class FitResult:
    best_metrics: dict[str, float]
    best_step: int
    steps: int
    train_seconds: float
    history: list[dict] = field(default_factory=list)


def _to_device(batch: dict, device: torch.device) -> dict:
    return {k: (v.to(device) if isinstance(v, torch.Tensor) else v) for k, v in batch.items()}


def predict_logits(method, features: list[Feature], batch_size: int = 64, device: str | torch.device = "cpu") -> torch.Tensor:
    """Logits for `features` in their given order; batches are formed by length to cut padding."""
    device = torch.device(device)
    pad_id = getattr(method.backbone_info.tokenizer, "pad_token_id", 0) or 0
    order = sorted(range(len(features)), key=lambda i: len(features[i].input_ids))
    out = [None] * len(features)
    was_training = method.training
    method.eval()
    with torch.inference_mode():
        for start in range(0, len(order), batch_size):
            idx = order[start: start + batch_size]
            batch = collate([features[i] for i in idx], pad_id)
            batch.pop("labels", None)
            logits = method(_to_device(batch, device)).logits.float().cpu()
            for row, i in enumerate(idx):
                out[i] = logits[row]
    method.train(was_training)
    return torch.stack(out) if out else torch.empty(0)


def evaluate_features(method, features: list[Feature], metrics: list[str], batch_size: int, device="cpu") -> dict[str, float]:
    logits = predict_logits(method, features, batch_size, device)
    labels = [f.label for f in features]
    return compute_metrics(metrics, labels, logits.argmax(-1).tolist())


def _lr_lambda(cfg: TrainerConfig, total_steps: int) -> Callable[[int], float]:
    warmup = int(cfg.warmup_ratio * total_steps)

    def factor(step: int) -> float:
        if warmup and step < warmup:
            return (step + 1) / warmup
        if cfg.schedule == "linear":
            return max(0.0, (total_steps - step) / max(1, total_steps - warmup))
        return 1.0

    return factor


def fit(
    method,
    train_features: list[Feature],
    dev_features: list[Feature],
    *,
    metrics: list[str],
    primary_metric: str,
    config: TrainerConfig,
    run_dir: Path,
    on_best: Callable[[dict, int], None] | None = None,
) -> FitResult:
    """Train `method` on `train_features`; evaluate on `dev_features`; call on_best(metrics, step)."""
    config.validate()
    if not train_features:
        raise ConfigError("no training examples")
    device = torch.device(config.device)
    method.to(device)
    generator = seed_everything(config.seed)
    pad_id = getattr(method.backbone_info.tokenizer, "pad_token_id", 0) or 0
    loader = DataLoader(
        train_features, batch_size=config.batch_size, shuffle=True, generator=generator,
        collate_fn=lambda fs: collate(fs, pad_id),
    )
    params = [p for p in method.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay)
    total_steps = config.epochs * len(loader)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, _lr_lambda(config, total_steps))
    log = JsonlLog(run_dir / "metrics.jsonl")
    best: dict[str, float] = {}
    best_step, step = -1, 0
    history: list[dict] = []
    train_seconds = 0.0
    progress = _progress(total_steps, config.progress)

    def run_eval(epoch: int) -> None:
        nonlocal best, best_step
        scores = evaluate_features(method, dev_features, metrics, config.eval_batch_size, device)
        record = {"type": "eval", "step": step, "epoch": epoch, "metrics": scores}
        log.write(record)
        history.append(record)
        if not best or scores[primary_metric] > best[primary_metric]:
            best, best_step = scores, step
            if on_best is not None:
                on_best(scores, step)
        progress.set_postfix({f"dev_{primary_metric}": f"{scores[primary_metric]:.4f}", "best": f"{best[primary_metric]:.4f}"})

    try:
        for epoch in range(config.epochs):
            method.train()
            for batch in loader:
                start = time.perf_counter()
                out = method(_to_device(batch, device))
                for name, value in out.losses.items():
                    if not torch.isfinite(value).all():
                        raise TrainingDivergedError(
                            f"loss term '{name}' is {value.item()} at step {step + 1} (epoch {epoch + 1}); "
                            f"the last good checkpoint (step {best_step}) is kept in {run_dir}"
                        )
                loss = out.total()
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                if config.max_grad_norm:
                    torch.nn.utils.clip_grad_norm_(params, config.max_grad_norm)
                optimizer.step()
                scheduler.step()
                step += 1
                train_seconds += time.perf_counter() - start
                log.write({
                    "type": "train", "step": step, "epoch": epoch + 1, "lr": scheduler.get_last_lr()[0],
                    "total": loss.item(), "losses": {k: v.item() for k, v in out.losses.items()},
                })
                progress.update(1)
                if config.eval_every and step % config.eval_every == 0:
                    run_eval(epoch + 1)
                    method.train()
            if not config.eval_every or step % config.eval_every != 0:
                if not config.eval_every or epoch == config.epochs - 1:
                    run_eval(epoch + 1)
    finally:
        progress.close()
        log.close()
    if math.isnan(best.get(primary_metric, 0.0)):
        raise TrainingDivergedError("the dev metric is NaN")
    return FitResult(best, best_step, step, train_seconds, history)


def _progress(total: int, enabled: bool):
    from tqdm.auto import tqdm

    return tqdm(total=total, disable=not enabled, desc="train", unit="step", dynamic_ncols=True, leave=False)
