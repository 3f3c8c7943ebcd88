"""The training loop: `fit` runs it over named parts, and knows no method.

A method is anything whose forward(batch) returns a MethodOutput (logits, named losses, weights). The
parts, each in its own module and testable alone: the loop's position (`state`), one optimizer step
(`steps`), optimizer and schedule (`optim`), gradient sync over ranks (`distributed`), the evaluator
and its keep/stop decisions (`evaluator`), the resume state (`keeper`) and the log (`records`).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch

from infoprompt.devices import resolve_device
from infoprompt.errors import ConfigError, TrainingDivergedError
from infoprompt.prompting.template import Feature, pad_token_id
from infoprompt.training.config import TrainerConfig
from infoprompt.training.distributed import GradientSync
from infoprompt.training.evaluator import Evaluator, make_protocol
from infoprompt.training.keeper import Keeper, state_config
from infoprompt.training.optim import make_scheduler, method_optimizer
from infoprompt.training.records import LoopLog, append_record
from infoprompt.training.seeding import seed_everything
from infoprompt.training.selection import selection_record
from infoprompt.training.state import LoopPlan, LoopPosition
from infoprompt.training.steps import NonFiniteLoss, TrainSteps


@dataclass
class FitResult:
    """What `fit` returns: the kept evaluation's scores and step, the run's length and its evaluations."""

    best_metrics: dict[str, float]
    best_step: int
    steps: int
    train_seconds: float
    history: list[dict] = field(default_factory=list)
    main_process: bool = True  # False on the other ranks of a multi-process run: they save and plot nothing
    selection: dict = field(default_factory=dict)  # the closing "selection" log record (training.selection)


def fit(method, train_features: list[Feature], dev_features: list[Feature], *, metrics: list[str],
        primary_metric: str, config: TrainerConfig, run_dir: Path, on_best: Callable[[dict, int], None] | None = None,
        resume: bool = False, resume_config: dict | None = None, trackers=None) -> FitResult:
    """Train `method` on `train_features`; evaluate on `dev_features`; call on_best(metrics, step).

    The training state is saved to `run_dir/resume/` every `config.save_every` steps and after each
    evaluation; with `resume=True` a saved state is restored and the run continues from it, ending
    exactly where an uninterrupted run with the same seed ends. `resume_config` (JSON-able) is stored
    with the state and must match on resume.

    Under `accelerate launch` (WORLD_SIZE > 1) every rank runs its share of each global batch and
    the gradients are summed (see GradientSync); only rank 0 evaluates, saves and logs.
    `trackers` (training.tracking.Trackers) receive every log record too (--report-to).
    """
    _check(config, train_features)
    sync = GradientSync(resolve_device(config.device)) if GradientSync.active() else None
    main = sync is None or sync.rank == 0
    device = sync.device if sync is not None else torch.device(resolve_device(config.device))
    method.to(device)
    if config.compile:
        method.backbone.compile()  # in place: parameter names (and so checkpoints) are unchanged
    seed_everything(config.seed)
    plan = LoopPlan.of(config, len(train_features))
    params, optimizer = method_optimizer(method, config)
    scheduler = make_scheduler(optimizer, config, plan.total_steps)
    keeper = Keeper(run_dir, method, optimizer, scheduler,
                    state_config(config, resume_config, train_features, dev_features), main, on_best is not None)
    pos = keeper.start(resume)
    if sync is not None:
        sync.barrier()  # no rank starts before rank 0 has set the run directory up
    if pos.finished:  # resumed after its end: the keeper dropped the closing records, written again here once
        result = _result(pos, plan, make_protocol(config, dev_features, metrics, primary_metric), main)
        if main:
            append_record(run_dir, result.selection)
        return result
    log = LoopLog(run_dir, main, trackers, plan.total_steps, config.progress, pos.step)
    evaluator = Evaluator(method, dev_features, metrics, primary_metric, config, device)
    steps = TrainSteps(method, train_features, config, optimizer, params, device,
                       pad_token_id(method.backbone_info.tokenizer), sync)
    try:
        while pos.epoch < plan.epochs and not pos.finished:
            method.train()
            order = steps.order(pos.epoch)
            end_of_epoch = False
            while not end_of_epoch:
                out, loss = _step(steps, order, pos, scheduler, keeper)
                log.train(pos, scheduler.get_last_lr()[0], loss, out)
                last_step = pos.step == plan.total_steps
                evaluated = bool(config.eval_every) and pos.step % config.eval_every == 0
                if evaluated:
                    _evaluate(evaluator, log, pos, main, on_best, final=last_step)
                    method.train()
                end_of_epoch = plan.epoch_ends(pos)
                if end_of_epoch and not evaluated and (not config.eval_every or pos.epoch == plan.epochs - 1
                                                       or last_step):
                    _evaluate(evaluator, log, pos, main, on_best, final=last_step)
                    evaluated = True
                if end_of_epoch:
                    pos.epoch, pos.batch_in_epoch = pos.epoch + 1, 0
                stopped = evaluated and _stop_early(evaluator, pos, main, sync)
                if evaluated or (config.save_every and pos.step % config.save_every == 0):
                    pos.finished = plan.done(pos, stopped)
                    keeper.save(pos)
                if stopped:
                    log.stopped()
                    break
    finally:
        log.close()
    if sync is not None:  # every rank returns rank 0's evaluations
        sync.check_in_sync(params)
        pos.best, pos.best_step, pos.history = sync.share((pos.best, pos.best_step, pos.history))
    if math.isnan(pos.best.get(primary_metric, 0.0)):
        raise TrainingDivergedError("the dev metric is NaN")
    result = _result(pos, plan, evaluator.protocol, main)
    log.append(result.selection)
    return result


def _check(config: TrainerConfig, train_features: list[Feature]) -> None:
    """Refuse a run that cannot start, before anything is moved or written."""
    config.validate()
    if config.lr is None:
        raise ConfigError("TrainerConfig.lr is None: give a learning rate (api.resolve_lr gives the method's own)")
    if not train_features:
        raise ConfigError("no training examples")


def _step(steps: TrainSteps, order: list[int], pos: LoopPosition, scheduler, keeper: Keeper):
    """The next optimizer step and its schedule step; a non-finite loss or gradient ends the run, saying
    which checkpoint, if any, it leaves behind."""
    start = time.perf_counter()
    try:
        out, loss = steps.step(order, pos.batch_in_epoch)
    except NonFiniteLoss as err:
        raise TrainingDivergedError(
            f"{err.what} '{err.name}' is {err.value} at step {pos.step + 1} (epoch {pos.epoch + 1}); "
            f"{keeper.kept_checkpoint(pos.best_step)}"
        ) from None
    scheduler.step()
    pos.advance(time.perf_counter() - start)
    return out, loss


def _evaluate(evaluator: Evaluator, log: LoopLog, pos: LoopPosition, main: bool,
              on_best: Callable[[dict, int], None] | None, final: bool) -> None:
    """Score dev (rank 0 only), log it, and keep the checkpoint (`on_best`) when the protocol prefers it."""
    if not main:
        return
    record, better = evaluator.evaluate(pos, pos.epoch + 1, final)
    log.write(record)
    pos.keep(record, better)
    if better and on_best is not None:
        on_best(pos.best, pos.step)
    log.show({f"dev_{evaluator.primary_metric}": evaluator.shown(record), "kept_step": pos.best_step})


def _stop_early(evaluator: Evaluator, pos: LoopPosition, main: bool, sync: GradientSync | None) -> bool:
    """Early stopping, decided on rank 0 (the only one that evaluates) and shared with every rank."""
    stop = main and evaluator.should_stop(pos.history)
    return sync.share(stop) if sync is not None else stop


def _result(pos: LoopPosition, plan: LoopPlan, protocol, main: bool) -> FitResult:
    """The run's result, with its closing selection record (the full dev split's protocol)."""
    return FitResult(pos.best, pos.best_step, pos.step, pos.train_seconds, pos.history, main,
                     selection_record(protocol, pos.history, pos.best_step, plan.total_steps))
