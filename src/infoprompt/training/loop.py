"""The training loop: AdamW, evaluation cadence, best checkpoint, logs. It knows no method.

A method is anything whose forward(batch) returns a MethodOutput (logits, named losses, weights).
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

from infoprompt.config import TrainerConfig, resolve_device
from infoprompt.errors import ConfigError, TrainingDivergedError
from infoprompt.evaluation.metrics import compute_metrics
from infoprompt.methods.base import MethodOutput
from infoprompt.prompting.template import Feature, collate
from infoprompt.training.checkpoint import atomic_write_bytes
from infoprompt.training.logging import JsonlLog
from infoprompt.training.progress import progress_bar
from infoprompt.training.resume import (
    LoopPosition,
    clear_training_state,
    data_digests,
    has_training_state,
    load_training_state,
    save_training_state,
)
from infoprompt.training.seeding import seed_everything
from infoprompt.training.selection import Protocol, resolve_patience, selection_record


@dataclass
class FitResult:
    best_metrics: dict[str, float]
    best_step: int
    steps: int
    train_seconds: float
    history: list[dict] = field(default_factory=list)
    main_process: bool = True  # False on the other ranks of a multi-process run: they save and plot nothing
    selection: dict = field(default_factory=dict)  # the closing "selection" log record (training.selection)


def _to_device(batch: dict, device: torch.device) -> dict:
    return {k: (v.to(device) if isinstance(v, torch.Tensor) else v) for k, v in batch.items()}


def autocast(device: torch.device, precision: str):
    """bf16 autocast around a forward (a no-op context for fp32, so fp32 runs keep their exact numbers)."""
    if precision == "fp32":
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16)


def eval_batches(method, features: list[Feature], batch_size: int, device: str | torch.device = "cpu") -> list:
    """[(rows, batch on device)] for `features`, formed by length to cut padding; built once, reused per evaluation."""
    device = torch.device(device)
    pad_id = getattr(method.backbone_info.tokenizer, "pad_token_id", 0) or 0
    order = sorted(range(len(features)), key=lambda i: len(features[i].input_ids))
    out = []
    for start in range(0, len(order), batch_size):
        rows = order[start: start + batch_size]
        batch = collate([features[i] for i in rows], pad_id)
        batch.pop("labels", None)
        out.append((rows, _to_device(batch, device)))
    return out


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


def eval_subset(n_dev: int, size: int | None, seed: int) -> list[int] | None:
    """The fixed dev rows in-training evaluations score (`--eval-subsample`): a seeded draw, in file order.
    None when there is no subsample (not asked for, or not smaller than the split)."""
    if size is None or size >= n_dev:
        return None
    generator = torch.Generator().manual_seed(seed * 1_000_003 + 7_919)
    return sorted(torch.randperm(n_dev, generator=generator)[:size].tolist())


class NonFiniteLoss(Exception):
    """A loss term is NaN or infinite (on this rank or, in a multi-process run, on any rank)."""

    what = "loss term"

    def __init__(self, name: str, value: float):
        super().__init__(name)
        self.name, self.value = name, value


class NonFiniteGradient(NonFiniteLoss):
    """The loss was finite but its gradient is not: caught before the optimizer step writes NaN into
    the parameters (which would only surface as a NaN loss one step later, far from its cause)."""

    what = "the gradient of"


def first_nonfinite_gradient(method, params: list[torch.nn.Parameter]) -> str:
    """The name of the first trainable parameter whose gradient holds a NaN or inf (the slow path, on failure only)."""
    names = {id(p): n for n, p in method.named_parameters()} if hasattr(method, "named_parameters") else {}
    for i, p in enumerate(params):
        if p.grad is not None and not torch.isfinite(p.grad).all():
            return names.get(id(p), f"parameter #{i}")
    return "a parameter"


def train_step(method, batch: dict, optimizer: torch.optim.Optimizer, params: list[torch.nn.Parameter],
               config: TrainerConfig, sync: GradientSync | None = None, weight: float = 1.0):
    """One optimizer step on a collated batch already on the device: forward, finiteness check, backward,
    gradient sum over ranks (multi-process only), clipping, AdamW. Returns (MethodOutput, total loss).

    `infoprompt bench` times exactly this function, so the benchmark measures the step `fit` runs.
    """
    return accumulated_step(method, [(batch, 1.0)], optimizer, params, config, sync, weight)


def accumulated_step(method, micro_batches: list[tuple[dict, float]], optimizer: torch.optim.Optimizer,
                     params: list[torch.nn.Parameter], config: TrainerConfig, sync: GradientSync | None = None,
                     weight: float = 1.0):
    """One optimizer step over `micro_batches` [(batch, share)]: each micro-batch's loss is scaled by its share
    of the step's examples before its backward (--grad-accum), so the summed gradient is the gradient of the
    step's mean loss, as one batch of all its examples would give. One micro-batch of share 1 is `train_step`
    exactly (nothing is scaled). Returns (MethodOutput with the share-weighted loss terms, total loss)."""
    optimizer.zero_grad(set_to_none=True)
    out, bad, terms = None, None, {}
    for batch, share in micro_batches:
        with autocast(next(iter(params)).device if params else torch.device("cpu"), config.precision):
            out = method(batch)
        bad = next((name for name, value in out.losses.items() if not torch.isfinite(value).all()), None)
        if bad is not None and sync is None:
            raise NonFiniteLoss(bad, out.losses[bad].item())
        if bad is not None:
            break
        loss = out.total()
        (loss if share == 1.0 else loss * share).backward()
        for name, value in out.losses.items():
            part = value.detach() if share == 1.0 else value.detach() * share
            terms[name] = part if name not in terms else terms[name] + part
    if len(micro_batches) > 1 and bad is None:
        out = MethodOutput(out.logits, terms, out.weights)
        loss = out.total()
    elif bad is not None:
        loss = out.total()
    if sync is not None:
        out.losses = sync.reduce(params, out.losses, weight, bad)
        loss = sum(out.weights.get(name, 1.0) * value for name, value in out.losses.items())
    # The norm is needed anyway for clipping (max_norm=inf clips nothing: a factor of exactly 1.0); one
    # finiteness check per step stops a NaN gradient before it reaches the parameters.
    norm = torch.nn.utils.clip_grad_norm_(params, config.max_grad_norm or float("inf"))
    if bad is None and not torch.isfinite(norm):
        raise NonFiniteGradient(first_nonfinite_gradient(method, params), norm.item())
    optimizer.step()
    return out, loss


def micro_batches(rows: list[int], size: int) -> list[tuple[list[int], float]]:
    """`rows` cut into micro-batches of at most `size` rows, each with its share of the rows (--grad-accum)."""
    return [(rows[i:i + size], len(rows[i:i + size]) / len(rows)) for i in range(0, len(rows), size)]


class GradientSync:
    """Data parallelism over the processes `accelerate launch` (or torchrun) started.

    Each rank runs its contiguous share of every global batch; `reduce` then sums the gradients,
    each rank's weighted by its share of the batch's examples, so every rank applies the same
    update: the gradient of the global batch's mean loss, as a single process would compute it
    (up to float summation order). Hand-written instead of wrapping the method in
    DistributedDataParallel because the trainable tensors of prompt methods are tiny (one
    flattened all-reduce per step beats DDP's hooks and buckets), because uneven or empty shards
    (a last batch smaller than the world size) must be weighted exactly, and because parameters
    that get no gradient (a method's unused branch) must stay gradient-free, as in one process.
    The process group itself comes from accelerate (`PartialState`), which reads the launcher's
    environment and picks gloo on CPU and NCCL on GPUs.
    """

    def __init__(self, device: str):
        from accelerate import PartialState

        state = PartialState(cpu=torch.device(device).type == "cpu")
        self.rank, self.world, self.device = state.process_index, state.num_processes, state.device
        if self.device.type == "cpu" and "OMP_NUM_THREADS" not in os.environ:  # processes on one host share its cores
            local = int(os.environ.get("LOCAL_WORLD_SIZE", self.world))
            torch.set_num_threads(max(1, (os.cpu_count() or 1) // max(1, local)))

    @staticmethod
    def active() -> bool:
        """True when started by a multi-process launcher (WORLD_SIZE > 1)."""
        return int(os.environ.get("WORLD_SIZE", "1")) > 1

    def shard(self, rows: list[int]) -> tuple[list[int], float]:
        return shard_rows(rows, self.rank, self.world)

    def reduce(self, params: list[torch.nn.Parameter], losses: dict[str, torch.Tensor], weight: float,
               bad: str | None) -> dict[str, torch.Tensor]:
        """Weighted sum of gradients and loss terms over ranks, in one all-reduce; raises NonFiniteLoss on every
        rank if any rank saw a non-finite loss."""
        import torch.distributed as dist

        device = params[0].device
        has = torch.tensor([float(p.grad is not None) for p in params], device=device)
        grads = [(p.grad if p.grad is not None else torch.zeros_like(p)).reshape(-1).float() * weight for p in params]
        terms = torch.stack([v.detach().float().reshape(()) for v in losses.values()]) * weight
        flag = torch.tensor([0.0 if bad is None else 1.0], device=device)
        flat = torch.cat([*grads, terms.to(device), has, flag])
        dist.all_reduce(flat)
        if flat[-1] > 0:
            raise NonFiniteLoss(bad or "a loss term on another rank", float("nan"))
        offset = 0
        for p in params:
            n = p.numel()
            p.grad = flat[offset: offset + n].view_as(p).to(p.dtype).clone()
            offset += n
        terms = flat[offset: offset + len(losses)]
        offset += len(losses)
        for p, got in zip(params, flat[offset: offset + len(params)].tolist()):
            if got == 0:
                p.grad = None  # no rank computed a gradient: AdamW must skip it, as in one process
        return {name: terms[i] for i, name in enumerate(losses)}

    def check_in_sync(self, params: list[torch.nn.Parameter]) -> None:
        """Raise if this rank's trainable tensors differ from rank 0's (they must be bit-identical)."""
        import torch.distributed as dist

        mine = torch.cat([p.detach().reshape(-1).float() for p in params])
        reference = mine.clone()
        dist.broadcast(reference, src=0)
        if not torch.equal(mine, reference):
            raise RuntimeError(f"rank {self.rank}: trainable tensors drifted from rank 0's "
                               f"(max difference {(mine - reference).abs().max().item():.3g})")

    def share(self, obj):
        """Rank 0's `obj` on every rank."""
        import torch.distributed as dist

        box = [obj]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    def barrier(self) -> None:
        import torch.distributed as dist

        dist.barrier()


def shard_rows(rows: list[int], rank: int, world: int) -> tuple[list[int], float]:
    """Rank `rank`'s contiguous share of a global batch, and its weight (its share of the examples).

    An empty share runs the batch's first example with weight 0, so every rank still takes part in
    the collective operations.
    """
    base, extra = divmod(len(rows), world)
    start = rank * base + min(rank, extra)
    mine = rows[start: start + base + (1 if rank < extra else 0)]
    return (mine, len(mine) / len(rows)) if mine else (rows[:1], 0.0)


def make_optimizer(params: list[torch.nn.Parameter] | list[dict], config: TrainerConfig) -> torch.optim.Optimizer:
    """AdamW, or Adafactor as XPrompt/Lester use it: the given learning rate, constant unless
    --schedule says otherwise (relative_step=False, scale_parameter=False, warmup_init=False), and
    --weight-decay (XPrompt: 1e-5, lr 0.3). `params` may be parameter groups (a method's `param_groups`)."""
    if config.optimizer == "adafactor":
        from transformers.optimization import Adafactor

        return Adafactor(params, lr=config.lr, weight_decay=config.weight_decay, scale_parameter=False,
                         relative_step=False, warmup_init=False)
    return torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay)


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


def bucketed_order(order: list[int], lengths: list[int], batch_size: int, window: int, seed: int,
                   epoch: int) -> list[int]:
    """`order` regrouped so that each batch holds examples of similar length (less padding, fewer FLOPs).

    The shuffled order is cut into windows of `window` batches; each window is sorted by length and cut
    into batches; the full batches are then shuffled (a second pure function of (seed, epoch), so a
    resumed run rebuilds the same batches) and a short last batch stays last. Every example is still
    seen once per epoch; what changes is which examples share a batch, hence the run's numbers, which
    is why it is opt-in (`--bucket-batches N`). On 256-shot SST-2 with batch 8 it cuts the padded
    tokens per epoch from about 1.85x the real ones to about 1.1x (docs/performance.md).
    """
    if window <= 0:
        return order
    span = window * batch_size
    batches: list[list[int]] = []
    for start in range(0, len(order), span):
        chunk = sorted(order[start:start + span], key=lambda i: lengths[i])  # stable: ties keep the shuffle
        batches += [chunk[j:j + batch_size] for j in range(0, len(chunk), batch_size)]
    tail = [batches.pop()] if batches and len(batches[-1]) < batch_size else []
    generator = torch.Generator().manual_seed(seed * 1_000_003 + epoch + 500_009)
    shuffled = [batches[b] for b in torch.randperm(len(batches), generator=generator).tolist()] + tail
    return [i for batch in shuffled for i in batch]


def _state_config(config: TrainerConfig, resume_config: dict | None, n_train: int, n_dev: int) -> dict:
    """What a saved resume state must agree with. Options that do not change the numbers are left out,
    and fp32 precision is left implicit so states saved before `precision` existed still resume."""
    free = ("progress", "device", "save_every", "compile")
    # Values older states lack: they were saved before the option existed, under the behaviour named here
    # (states saved before issue 17 selected on, and reported, the full dev split and never stopped early).
    implicit = {"precision": "fp32", "optimizer": "adamw", "bucket_batches": 0, "select_on": "dev", "patience": 0,
                "eval_subsample": None, "grad_accum": 1, "max_steps": None}
    resolved = {**asdict(config), "patience": resolve_patience(config.select_on, config.patience)}
    trainer = {k: v for k, v in resolved.items() if k not in free and implicit.get(k, object()) != v}
    return json.loads(json.dumps({**(resume_config or {}), "n_train": n_train, "n_dev": n_dev, "trainer": trainer}))


class _NoLog:
    """Stands in for the JSONL log on ranks other than 0."""

    def write(self, record: dict) -> None:
        pass

    def close(self) -> None:
        pass


def _kept_checkpoint(run_dir: Path, best_step: int, saves: bool) -> str:
    """What a diverged run leaves behind, as it is on disk: the checkpoint of this run's best
    evaluation, or the plain fact that there is none (before the first evaluation, or nothing saves)."""
    record = Path(run_dir) / "config.json"
    if saves and best_step >= 0 and record.is_file():
        return f"the last good checkpoint (step {best_step}) is kept: {record}"
    return "no checkpoint was saved (no evaluation had finished yet); lower --lr or check the settings"


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
    trackers=None,
) -> FitResult:
    """Train `method` on `train_features`; evaluate on `dev_features`; call on_best(metrics, step).

    The training state is saved to `run_dir/resume/` every `config.save_every` steps and after each
    evaluation; with `resume=True` a saved state is restored and the run continues from it, ending
    exactly where an uninterrupted run with the same seed ends. `resume_config` (JSON-able) is stored
    with the state and must match on resume.

    Under `accelerate launch` (WORLD_SIZE > 1) every rank runs its share of each global batch and
    the gradients are summed (see GradientSync); only rank 0 evaluates, saves and logs.
    `trackers` (training.tracking.Trackers) receive every log record too (--report-to).
    """
    config.validate()
    if config.lr is None:
        raise ConfigError("TrainerConfig.lr is None: give a learning rate (api.resolve_lr gives the method's own)")
    if not train_features:
        raise ConfigError("no training examples")
    sync = GradientSync(resolve_device(config.device)) if GradientSync.active() else None
    main = sync is None or sync.rank == 0
    device = sync.device if sync is not None else torch.device(resolve_device(config.device))
    method.to(device)
    if config.compile:
        method.backbone.compile()  # in place: parameter names (and so checkpoints) are unchanged
    seed_everything(config.seed)
    pad_id = getattr(method.backbone_info.tokenizer, "pad_token_id", 0) or 0
    step_rows = config.batch_size * config.grad_accum  # examples per optimizer step
    batches_per_epoch = steps_per_epoch(len(train_features), config)
    params = [p for p in method.parameters() if p.requires_grad]
    groups = method.param_groups(config.lr, config.weight_decay)
    grouped = [id(p) for group in groups for p in group["params"]]
    if sorted(grouped) != sorted(id(p) for p in params):  # a parameter left out would silently never train
        raise RuntimeError(f"{type(method).__name__}.param_groups must hold every trainable parameter exactly once")
    optimizer = make_optimizer(groups, config)
    # --max-steps replaces --epochs: the run takes exactly that many optimizer steps, over as many passes as needed.
    total_steps = config.max_steps or config.epochs * batches_per_epoch
    epochs = math.ceil(total_steps / batches_per_epoch) if config.max_steps else config.epochs
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, _lr_lambda(config, total_steps))
    state_config = _state_config(config, resume_config, len(train_features), len(dev_features))
    state_config.update(data_digests(train_features, dev_features))  # content, not only the row counts
    pos = LoopPosition()
    if resume and has_training_state(run_dir):
        pos = load_training_state(run_dir, method, optimizer, scheduler, state_config)
        if main:
            truncate_log(run_dir / "metrics.jsonl", pos.step)
    elif main:  # a fresh run never mixes its log or resume state with an older run's
        # Replaced, not unlinked and recreated: a new inode tells watchers (fault_injection) the new log.
        atomic_write_bytes(run_dir / "metrics.jsonl", b"")
        clear_training_state(run_dir)
    if sync is not None:
        sync.barrier()  # no rank starts before rank 0 has set the run directory up
    if pos.finished:
        return FitResult(pos.best, pos.best_step, pos.step, pos.train_seconds, pos.history, main,
                         selection_record(make_protocol(config, dev_features, metrics, primary_metric), pos.history,
                                          pos.best_step, total_steps))
    log = JsonlLog(run_dir / "metrics.jsonl") if main else _NoLog()
    if main and trackers is not None:
        log = trackers.attach(log)
    progress = progress_bar(total_steps, "train", "step", config.progress and main, initial=pos.step)
    dev_batches: list | None = None  # collated once, on the first evaluation
    protocol = make_protocol(config, dev_features, metrics, primary_metric)

    def save_state() -> None:
        if main:
            save_training_state(run_dir, method, optimizer, scheduler, pos, state_config)

    subset = eval_subset(len(dev_features), config.eval_subsample, config.seed)  # --eval-subsample rows
    subset_features = None if subset is None else [dev_features[i] for i in subset]
    chooser = protocol if subset is None else make_protocol(config, subset_features, metrics, primary_metric)
    subset_batches: list | None = None

    def compared(record: dict) -> dict:
        """The fields evaluations are compared on: the subsample's when there is one (every evaluation has it)."""
        return record.get("subset", record)

    def full_record() -> dict:
        """Every dev example scored (the protocol's fields), plus the subsample's fields when there is one."""
        nonlocal dev_batches
        if dev_batches is None:
            dev_batches = eval_batches(method, dev_features, config.eval_batch_size, device)
        logits = predict_logits(method, dev_features, config.eval_batch_size, device, config.precision, dev_batches,
                                config.progress)
        predictions = logits.argmax(-1).tolist()
        record = protocol.score(predictions)
        if subset is not None:
            record["subset"] = chooser.score([predictions[i] for i in subset])
        return record

    def run_eval(epoch: int, final: bool) -> None:
        """Score dev and keep the checkpoint if the protocol prefers it. With --eval-subsample, in-training
        evaluations score (and compare on) the fixed subsample; the last evaluation, and every evaluation
        whose checkpoint is kept or that stops the run early, are scored on the full dev split too, so the
        kept and reported scores are full-split scores."""
        nonlocal subset_batches
        if not main:
            return
        if subset is None or final:
            fields = full_record()
        else:
            if subset_batches is None:
                subset_batches = eval_batches(method, subset_features, config.eval_batch_size, device)
            logits = predict_logits(method, subset_features, config.eval_batch_size, device, config.precision,
                                    subset_batches, config.progress)
            fields = chooser.score(logits.argmax(-1).tolist())
        record = {"type": "eval", "step": pos.step, "epoch": epoch, **fields}
        if subset is not None:
            record["subsample"] = len(subset)
        kept = next((r for r in pos.history if r.get("type") == "eval" and r["step"] == pos.best_step), None)
        better = chooser.is_better(compared(record), compared(kept) if pos.best and kept else None)
        stops = chooser.should_stop([compared(r) for r in pos.history] + [compared(record)])
        keeps = better and chooser.select_on != "last"  # under `last` only the final evaluation is kept
        if "subset" not in record and subset is not None and (keeps or stops):
            record = {**record, **full_record()}  # the subsample's fields move under "subset"
        scores = record["metrics"]
        log.write(record)
        pos.history.append(record)
        if better:
            pos.best, pos.best_step = scores, pos.step
            if on_best is not None:
                on_best(scores, pos.step)
        progress.set_postfix({f"dev_{primary_metric}": f"{compared(record)['metrics'][primary_metric]:.4f}",
                              "kept_step": pos.best_step})

    def stop_early(evaluated: bool) -> bool:
        """Early stopping, decided on rank 0 (the only one that evaluates) and shared with every rank."""
        if not evaluated:
            return False
        stop = main and chooser.should_stop([compared(r) for r in pos.history])
        return sync.share(stop) if sync is not None else stop

    lengths = [len(f.input_ids) for f in train_features] if config.bucket_batches else []  # once, not per epoch
    try:
        while pos.epoch < epochs and not pos.finished:
            method.train()
            order = epoch_order(len(train_features), config.seed, pos.epoch)
            if config.bucket_batches:
                order = bucketed_order(order, lengths, config.batch_size, config.bucket_batches, config.seed, pos.epoch)
            end_of_epoch = False
            while not end_of_epoch:
                start = time.perf_counter()
                rows = order[pos.batch_in_epoch * step_rows:(pos.batch_in_epoch + 1) * step_rows]
                rows, weight = sync.shard(rows) if sync is not None else (rows, 1.0)
                try:
                    if config.grad_accum == 1:
                        batch = collate([train_features[i] for i in rows], pad_id)
                        out, loss = train_step(method, _to_device(batch, device), optimizer, params, config, sync,
                                               weight)
                    else:
                        micro = [(_to_device(collate([train_features[i] for i in part], pad_id), device), share)
                                 for part, share in micro_batches(rows, config.batch_size)]
                        out, loss = accumulated_step(method, micro, optimizer, params, config, sync, weight)
                except NonFiniteLoss as err:
                    raise TrainingDivergedError(
                        f"{err.what} '{err.name}' is {err.value} at step {pos.step + 1} (epoch {pos.epoch + 1}); "
                        f"{_kept_checkpoint(run_dir, pos.best_step, on_best is not None)}"
                    ) from None
                scheduler.step()
                pos.step += 1
                pos.batch_in_epoch += 1
                pos.train_seconds += time.perf_counter() - start
                if main:
                    log.write({
                        "type": "train", "step": pos.step, "epoch": pos.epoch + 1, "lr": scheduler.get_last_lr()[0],
                        "total": loss.item(), "losses": {k: v.item() for k, v in out.losses.items()},
                    })
                progress.update(1)
                evaluated = False
                last_step = pos.step == total_steps
                if config.eval_every and pos.step % config.eval_every == 0:
                    run_eval(pos.epoch + 1, final=last_step)
                    method.train()
                    evaluated = True
                end_of_epoch = pos.batch_in_epoch == batches_per_epoch or last_step
                if end_of_epoch and not evaluated and (not config.eval_every or pos.epoch == epochs - 1 or last_step):
                    run_eval(pos.epoch + 1, final=last_step)
                    evaluated = True
                if end_of_epoch:
                    pos.epoch, pos.batch_in_epoch = pos.epoch + 1, 0
                stopped = stop_early(evaluated)
                if evaluated or (config.save_every and pos.step % config.save_every == 0):
                    pos.finished = pos.epoch >= epochs or pos.step >= total_steps or stopped
                    save_state()
                if stopped:
                    close_at_stop(progress)
                    break
    finally:
        progress.close()
        log.close()
    if sync is not None:  # every rank returns rank 0's evaluations
        sync.check_in_sync(params)
        pos.best, pos.best_step, pos.history = sync.share((pos.best, pos.best_step, pos.history))
    if math.isnan(pos.best.get(primary_metric, 0.0)):
        raise TrainingDivergedError("the dev metric is NaN")
    closing = selection_record(protocol, pos.history, pos.best_step, total_steps)
    if main:
        with contextlib.closing(JsonlLog(run_dir / "metrics.jsonl")) as tail:
            tail.write(closing)
    return FitResult(pos.best, pos.best_step, pos.step, pos.train_seconds, pos.history, main, closing)


def close_at_stop(progress) -> None:
    """An early stop ends the bar at 100 % of what ran (not frozen at the planned share, e.g. 33 %)."""
    progress.total = progress.n
    if hasattr(progress, "refresh"):
        progress.refresh()


def steps_per_epoch(rows: int, config: TrainerConfig) -> int:
    """Optimizer steps in one pass over `rows` training examples (each step takes batch_size × grad_accum)."""
    return math.ceil(rows / (config.batch_size * config.grad_accum))


def make_protocol(config: TrainerConfig, dev_features: list[Feature], metrics: list[str],
                  primary_metric: str) -> Protocol:
    """The run's selection protocol over its dev features (the dev-split halves are seeded by the run's seed)."""
    groups = [getattr(f, "group", None) for f in dev_features]
    return Protocol(config.select_on, config.patience, [f.label for f in dev_features], metrics, primary_metric,
                    config.seed, groups if any(groups) else None)


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
