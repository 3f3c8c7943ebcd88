"""The training loop: AdamW, evaluation cadence, best checkpoint, logs. It knows no method.

A method is anything whose forward(batch) returns a MethodOutput (logits, named losses, weights).
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

from infoprompt.errors import ConfigError, TrainingDivergedError
from infoprompt.evaluation.metrics import compute_metrics
from infoprompt.prompting.template import Feature, collate
from infoprompt.training.checkpoint import atomic_write_bytes
from infoprompt.training.logging import JsonlLog
from infoprompt.training.resume import (
    LoopPosition,
    clear_training_state,
    has_training_state,
     load_training_state,
    save_training_state,
)
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
    save_every: int | None = 200  # steps between resume-state saves (also saved after every evaluation)
    seed: int = 0
    progress: bool = True
    device: str = "cpu"

    def validate(self) -> None:
        checks = [
            (self.epochs >= 1, f"--epochs must be >= 1, got {self.epochs}"),
            (self.batch_size >= 1, f"--batch-size must be >= 1, got {self.batch_size}"),
            (self.lr > 0, f"--lr must be > 0, got {self.lr}"),
            (self.eval_every is None or self.eval_every >= 1, f"--eval-every must be >= 1, got {self.eval_every}"),
            (self.save_every is None or self.save_every >= 1, f"--save-every must be >= 1, got {self.save_every}"),
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


def epoch_order(n: int, seed: int, epoch: int) -> list[int]:
    """The shuffled example order of one epoch, a pure function of (seed, epoch).

    Written by hand instead of a shuffling DataLoader so that a resumed run can rebuild any epoch's
    order and skip the batches already done, without replaying a generator's history.
    """
    generator = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
    return torch.randperm(n, generator=generator).tolist()


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
    resume: bool = False,
    resume_config: dict | None = None,
) -> FitResult:
    """Train `method` on `train_features`; evaluate on `dev_features`; call on_best(metrics, step).

    The training state is saved to `run_dir/resume/` every `config.save_every` steps and after each
    evaluation; with `resume=True` a saved state is restored and the run continues from it, ending
    exactly where an uninterrupted run with the same seed ends. `resume_config` (JSON-able) is stored
    with the state and must match on resume.
    """
    config.validate()
    if not train_features:
        raise ConfigError("no training examples")
    device = torch.device(config.device)
    method.to(device)
    seed_everything(config.seed)
    pad_id = getattr(method.backbone_info.tokenizer, "pad_token_id", 0) or 0
    batches_per_epoch = math.ceil(len(train_features) / config.batch_size)
    params = [p for p in method.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay)
    total_steps = config.epochs * batches_per_epoch
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, _lr_lambda(config, total_steps))
    state_config = json.loads(json.dumps({**(resume_config or {}), "n_train": len(train_features), "n_dev": len(dev_features),
                    "trainer": {k: v for k, v in asdict(config).items() if k not in ("progress", "device", "save_every")}}))
    pos = LoopPosition()
    if resume and has_training_state(run_dir):
        pos = load_training_state(run_dir, method, optimizer, scheduler, state_config)
        truncate_log(run_dir / "metrics.jsonl", pos.step)
    else:  # a fresh run never mixes its log or resume state with an older run's
        (run_dir / "metrics.jsonl").unlink(missing_ok=True)
        clear_training_state(run_dir)
    if pos.finished:
        return FitResult(pos.best, pos.best_step, pos.step, pos.train_seconds, pos.history)
    log = JsonlLog(run_dir / "metrics.jsonl")
    progress = _progress(total_steps, config.progress, initial=pos.step)

    def save_state() -> None:
        save_training_state(run_dir, method, optimizer, scheduler, pos, state_config)

    def run_eval(epoch: int) -> None:
        scores = evaluate_features(method, dev_features, metrics, config.eval_batch_size, device)
        record = {"type": "eval", "step": pos.step, "epoch": epoch, "metrics": scores}
        log.write(record)
        pos.history.append(record)
        if not pos.best or scores[primary_metric] > pos.best[primary_metric]:
            pos.best, pos.best_step = scores, pos.step
            if on_best is not None:
                on_best(scores, pos.step)
        progress.set_postfix({f"dev_{primary_metric}": f"{scores[primary_metric]:.4f}",
                              "best": f"{pos.best[primary_metric]:.4f}"})

    try:
        while pos.epoch < config.epochs:
            method.train()
            order = epoch_order(len(train_features), config.seed, pos.epoch)
            end_of_epoch = False
            while not end_of_epoch:
                start = time.perf_counter()
                rows = order[pos.batch_in_epoch * config.batch_size:(pos.batch_in_epoch + 1) * config.batch_size]
                batch = collate([train_features[i] for i in rows], pad_id)
                out = method(_to_device(batch, device))
                for name, value in out.losses.items():
                    if not torch.isfinite(value).all():
                        raise TrainingDivergedError(
                            f"loss term '{name}' is {value.item()} at step {pos.step + 1} (epoch {pos.epoch + 1}); "
                            f"the last good checkpoint (step {pos.best_step}) is kept in {run_dir}"
                        )
                loss = out.total()
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                if config.max_grad_norm:
                    torch.nn.utils.clip_grad_norm_(params, config.max_grad_norm)
                optimizer.step()
                scheduler.step()
                pos.step += 1
                pos.batch_in_epoch += 1
                pos.train_seconds += time.perf_counter() - start
                log.write({
                    "type": "train", "step": pos.step, "epoch": pos.epoch + 1, "lr": scheduler.get_last_lr()[0],
                    "total": loss.item(), "losses": {k: v.item() for k, v in out.losses.items()},
                })
                progress.update(1)
                evaluated = False
                if config.eval_every and pos.step % config.eval_every == 0:
                    run_eval(pos.epoch + 1)
                    method.train()
                    evaluated = True
                end_of_epoch = pos.batch_in_epoch == batches_per_epoch
                if end_of_epoch and not evaluated and (not config.eval_every or pos.epoch == config.epochs - 1):
                    run_eval(pos.epoch + 1)
                    evaluated = True
                if end_of_epoch:
                    pos.epoch, pos.batch_in_epoch = pos.epoch + 1, 0
                if evaluated or (config.save_every and pos.step % config.save_every == 0):
                    pos.finished = pos.epoch >= config.epochs
                    save_state()
    finally:
        progress.close()
        log.close()
    if math.isnan(pos.best.get(primary_metric, 0.0)):
        raise TrainingDivergedError("the dev metric is NaN")
    return FitResult(pos.best, pos.best_step, pos.step, pos.train_seconds, pos.history)


def truncate_log(path: Path, step: int) -> None:
    """Drop log records past `step` (and a torn last line) before a resumed run appends again."""
    if not path.exists():
        return
    kept = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue  # only a write cut by the kill can be torn; everything after it is replayed
        if record.get("step", 0) <= step:
            kept.append(line + "\n")
    atomic_write_bytes(path, "".join(kept).encode("utf-8"))


def _progress(total: int, enabled: bool, initial: int = 0):
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=initial, disable=not enabled, desc="train", unit="step", dynamic_ncols=True,
                leave=False)
