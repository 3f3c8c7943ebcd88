"""The Python API; the CLI is a thin layer over these functions.

    from infoprompt import TrainConfig, train, load
    result = train(TrainConfig(task="sst2", method="infoprompt", shots=256, data_dir="../shared/data"))
    model = load(result.run_dir)
    model.predict_texts(["a gripping, beautiful film"])

Inside your own loop: `build_method(name, backbone, task)` gives an nn.Module whose forward(batch)
returns logits and named losses; batches come from `Template.encode` and `collate`.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from infoprompt.atomic_files import RunLock, check_fresh_run_dir, check_inside, replacing_run
from infoprompt.backbones import Backbone
from infoprompt.config import TrainConfig
from infoprompt.data.example import Example
from infoprompt.data.frames import frame_examples, require_file_split, text_rows_task
from infoprompt.data.readers import BadRowPolicy
from infoprompt.data.tasks import TaskSpec, convergence_level, load_split, resolve_data_dir
from infoprompt.errors import ConfigError
from infoprompt.evaluation.predictions import (  # noqa: F401  (read_prediction_input, write_predictions: public)
    PredictionInput,
    PredictionWriter,
    check_output_path,
    prediction_rows,
    read_prediction_input,
    stream_prediction_input,
    write_predictions,
)
from infoprompt.methods import Capability
from infoprompt.methods.peft_init import check_peft_init, init_from_peft
from infoprompt.prompting.template import Template
from infoprompt.report.learning_curve import plot_learning_curve
from infoprompt.report.summary import cost_fields, headline_summary
from infoprompt.run import (  # noqa: F401  (public)
    LEGACY_DEFAULTS,
    TrainingPlan,
    assemble_run,
    plan_reporting,
    plan_training,
    reported_split,
    resolve_lr,
    resolve_task,
    run_summary,
    score_reported,
)
from infoprompt.rundir import CONFIG, LEARNING_CURVE, METRICS_LOG, RUN_FILES
from infoprompt.training.inference import evaluate_features, predict_logits
from infoprompt.training.logging import JsonlLog
from infoprompt.training.loop import fit
from infoprompt.training.state import LoopPlan
from infoprompt.training.tracking import make_trackers


@dataclass
class TrainResult:
    run_dir: Path
    metrics: dict[str, float]
    summary: dict
    method: torch.nn.Module
    skipped_rows: list[str] = field(default_factory=list)
    main_process: bool = True  # False on the other ranks of a multi-process run (they print nothing)


def train(cfg: TrainConfig, backbone: Backbone | None = None,
          prepare: Callable[[torch.nn.Module], dict] | None = None) -> TrainResult:
    """Train one method on one task; save the best checkpoint, logs and learning curve in the run dir.

    `prepare(method)` runs on the freshly built method before training and returns extra checkpoint
    metadata (XPrompt's retraining installs its masks and rewinds the prompt there).
    """
    wall_start = time.perf_counter()
    if not isinstance(cfg, TrainConfig):
        raise ConfigError(f"train: cfg must be an infoprompt.TrainConfig, got {type(cfg).__name__} "
                          "(e.g. train(TrainConfig(task='sst2', method='prompt')))")
    check_arguments("train", backbone=backbone)
    plan = plan_training(cfg)  # every check that needs no data or backbone; the run's narrow values
    if cfg.init_from_peft:
        check_peft_init(cfg.init_from_peft, cfg.method)

    def setup(method) -> dict:  # on the freshly built method, before its template is made
        meta = prepare(method) if prepare is not None else {}
        if cfg.init_from_peft:
            meta["init_from_peft"] = init_from_peft(method, cfg.init_from_peft)
        return meta

    run_dir = plan.run_dir
    # Under a multi-process launch only rank 0 writes the run directory, so only rank 0 locks and checks it
    # (the other ranks would find rank 0's lock and files and refuse).
    writer = int(os.environ.get("RANK", "0")) == 0
    if writer and run_dir.is_dir():
        RunLock(run_dir).acquire().release()  # another process writing there: named now, before any loading
    if writer:
        check_fresh_run_dir(run_dir, overwrite=cfg.overwrite, resume=cfg.resume)
    run = assemble_run(cfg, backbone=backbone, splits=("train", "dev"), prepare=setup)
    run_dir.mkdir(parents=True, exist_ok=True)
    with RunLock(run_dir) if writer else contextlib.nullcontext():  # one writer per run directory (named in the refusal)
        if writer:
            check_fresh_run_dir(run_dir, overwrite=cfg.overwrite, resume=cfg.resume)  # again, under the lock
            for name in RUN_FILES:
                check_inside(run_dir / name, run_dir)  # a symlinked file or folder would write outside the run
        # --overwrite: the old run stays (aside) until this one has saved; put back if this one fails before
        with replacing_run(run_dir, cfg.overwrite) if writer else contextlib.nullcontext():
            return _train_run(cfg, run, plan, wall_start)



def _train_run(cfg: TrainConfig, run, plan: TrainingPlan, wall_start: float) -> TrainResult:
    """`train` once the run is assembled and its directory locked."""
    task, method = run.task, run.method
    run_dir, trainer_config, device = plan.run_dir, plan.trainer, plan.trainer.device
    reporting = plan_reporting(cfg, run, run_dir)  # the reported split is read (and checked) before any training
    meta = reporting.meta
    result = fit(
        method, run.features["train"], run.features["dev"], metrics=task.metrics, primary_metric=task.primary_metric,
        config=trainer_config, run_dir=run_dir, on_best=reporting.save_best, resume=cfg.resume,
        resume_config=reporting.resume_config,
        trackers=make_trackers(cfg.report_to, run_dir, run_dir.name, meta["train_config"]),
    )
    if result.main_process:  # in a multi-process run only rank 0 writes files
        plot_learning_curve(run_dir / METRICS_LOG, run_dir / LEARNING_CURVE, task.primary_metric,
                            f"{task.name} / {cfg.method} / np={cfg.n_prompts} / seed {cfg.seed}",
                            majority=(result.selection.get("dev_majority") or {}).get(task.primary_metric),
                            level=convergence_level(task.name))
    test = None
    if result.main_process:  # scored twice, at the end: with the last weights and with the kept checkpoint
        test = score_reported(reporting, run, lambda: load(run_dir, run.backbone), cfg.eval_batch_size, device)
    summary = run_summary(cfg, run, result, reporting, test, trainer_config.lr, run_dir)
    if test is not None and result.main_process:
        few_shot = reporting.source.few_shot
        with contextlib.closing(JsonlLog(run_dir / METRICS_LOG)) as log:
            log.write({"type": "test" if reporting.final == "test" else "report", "step": result.steps,
                       **({"split": test["split"]} if few_shot else {}), "selected": summary["reported"]["selected"],
                       "last": summary["reported"]["last"], "selected_step": result.best_step})
    summary["skipped_rows"] = len(run.policy.skipped)  # always reported, 0 included
    length = LoopPlan.of(trainer_config, len(run.features["train"]))  # the steps the loop planned (before any stop)
    summary.update(headline_summary(summary, length.total_steps, len(run.features["dev"]), test))
    summary["wall_seconds"] = round(time.perf_counter() - wall_start, 2)
    summary.update(cost_fields(result.steps, length.batches_per_epoch, result.train_seconds, device))
    if result.main_process and (run_dir / CONFIG).is_file():
        from infoprompt.report.model_card import write_card
        from infoprompt.training.checkpoint import read_checkpoint_config

        write_card(run_dir, read_checkpoint_config(run_dir), summary)
    return TrainResult(run_dir, result.best_metrics, summary, method, run.policy.skipped, result.main_process)


@dataclass
class LoadedModel:
    """A trained method with its template, ready for prediction and evaluation."""

    method: torch.nn.Module
    template: Template
    record: dict

    @property
    def task(self) -> TaskSpec:
        return self.method.task

    def predict_examples(self, examples: list[Example], batch_size: int | None = None) -> list[int]:
        batch_size = batch_size or self.record.get("eval_batch_size", 64)
        logits = predict_logits(self.method, self.template.encode(examples), batch_size)
        return logits.argmax(-1).tolist()

    def predict_proba(self, examples: list[Example], batch_size: int | None = None,
                      progress: bool = False) -> torch.Tensor:
        """Per-label probabilities (softmax of the logits), one row per example, in order; `progress` shows a bar."""
        batch_size = batch_size or self.record.get("eval_batch_size", 64)
        return predict_logits(self.method, self.template.encode(examples), batch_size, progress=progress,
                              desc="predict").softmax(-1)

    def predict_texts(self, texts: list[str] | list[tuple[str, str]]) -> list[str]:
        examples = [Example(t[0], t[1]) if isinstance(t, tuple) else Example(t) for t in texts]
        return [self.task.label_names[i] for i in self.predict_examples(examples)]

    def predict(self, rows: Any) -> list[str]:
        """One label per row, in order, for a pandas DataFrame, a datasets.Dataset or a list of dicts holding
        the task's text fields (bad rows are errors naming the row and field, never dropped)."""
        examples = frame_examples(rows, "rows", text_rows_task(self.task), BadRowPolicy(), labelled=False)
        return [self.task.label_names[i] for i in self.predict_examples(examples)]

    def generate(self, texts: list[str] | list[tuple[str, str]], max_new_tokens: int | None = None,
                 batch_size: int = 16) -> list[dict]:
        """Greedy generations from [P; X] for a checkpoint on a causal or seq2seq backbone: {"text", "label"} per
        input, in order. Caveat: `label` maps the generated text to a label by its first word (the verbalizer
        word it starts with; None when it names none), so a model that ranks the labels right can still
        generate something else; `predict_texts` ranks the label words instead and always names one."""
        from infoprompt.generative.generation import generate_predictions

        if Capability.LABEL_LIKELIHOOD not in self.method.capabilities:
            raise ConfigError("generate() needs a checkpoint trained on a causal or seq2seq backbone (with "
                              "--predict label, their default)")
        examples = [Example(t[0], t[1]) if isinstance(t, tuple) else Example(t) for t in texts]
        labels, generated = generate_predictions(self.method, self.template.encode(examples), batch_size=batch_size,
                                                 max_new_tokens=max_new_tokens)
        return [{"text": text, "label": None if label is None else self.task.label_names[label]}
                for text, label in zip(generated, labels)]

    def evaluate_examples(self, examples: list[Example], progress: bool = False) -> dict[str, float]:
        features = self.template.encode(examples)
        return evaluate_features(self.method, features, self.task.metrics, self.record.get("eval_batch_size", 64),
                                 progress=progress)


def check_arguments(call: str, *, paths: dict[str, Any] | None = None, backbone: Any = None) -> None:
    """A Python caller's wrong argument types as one ConfigError naming the call and the argument, instead of a
    TypeError or AttributeError from deep inside (paths: str or os.PathLike; None where optional)."""
    for name, value in (paths or {}).items():
        if value is not None and not isinstance(value, (str, os.PathLike)):
            raise ConfigError(f"{call}: {name} must be a path (str or os.PathLike), got {type(value).__name__}")
    if backbone is not None and not isinstance(backbone, Backbone):
        raise ConfigError(f"{call}: backbone must be an infoprompt Backbone (infoprompt.backbones.load_backbone), "
                          f"got {type(backbone).__name__}")


def load(checkpoint: str | Path, backbone: Backbone | None = None) -> LoadedModel:
    """Load a checkpoint directory (see `infoprompt.training.checkpoint`), rebuilt by `run.assemble_run`."""
    if checkpoint is None:
        raise ConfigError("load: checkpoint must be a path (str or os.PathLike), got None")
    check_arguments("load", paths={"checkpoint": checkpoint}, backbone=backbone)
    run = assemble_run(checkpoint=checkpoint, backbone=backbone, splits=())
    return LoadedModel(run.method, run.template, run.record)


def evaluate(checkpoint: str | Path, *, data_dir: str | None = None, dev_file: str | None = None,
             backbone: Backbone | None = None, skip_bad_rows: bool = False, generate: bool = False,
             progress: bool = False) -> dict:
    """Score a checkpoint on its task's dev split (or on `dev_file` for a custom task); `progress` shows a bar
    while the examples are scored.

    `generate`: generative backbones only; greedy decoding mapped to labels instead of label scores
    (infoprompt.generative.generation; adds `unmatched`, the generations that named no label)."""
    check_arguments("evaluate", paths={"checkpoint": checkpoint, "data_dir": data_dir, "dev_file": dev_file})
    model = load(checkpoint, backbone)
    policy = BadRowPolicy(skip=skip_bad_rows)
    task = model.task
    if task.splits:
        if dev_file:
            task = TaskSpec.from_dict({**task.to_dict(), "splits": {**task.splits, "dev": dev_file}})
        require_file_split(task, "dev")  # a run trained from Python rows has no dev file to reread
        examples = load_split(task, "dev", None, policy)
    else:
        if dev_file:  # a built-in task scores its own dev split: the file would be silently ignored
            raise ConfigError(f"--dev-file is for checkpoints of custom tasks; task '{task.name}' scores its own dev "
                              "split (use --data-dir to point at its files)")
        directory = resolve_data_dir(data_dir) if (data_dir or _env_data()) else _saved_dir(model.record)
        examples = load_split(task, "dev", directory, policy)
    if generate:
        from infoprompt.generative.generation import evaluate_generation

        if Capability.LABEL_LIKELIHOOD not in model.method.capabilities:
            raise ConfigError("--generate needs a checkpoint trained on a causal or seq2seq backbone")
        dev = evaluate_generation(model.method, model.template.encode(examples), task.metrics,
                                  batch_size=model.record.get("eval_batch_size", 64))
        return {"task": task.name, "method": model.record["method"], "checkpoint": str(checkpoint), "dev": dev,
                **scored_rows(examples, policy)}
    return {"task": task.name, "method": model.record["method"], "checkpoint": str(checkpoint),
            "dev": model.evaluate_examples(examples, progress), **scored_rows(examples, policy)}


def scored_rows(examples: list[Example], policy: BadRowPolicy) -> dict:
    """How many examples a score is over, and how many bad rows were skipped (always reported)."""
    return {"examples": len(examples), "skipped_rows": len(policy.skipped), "skipped": policy.skipped[:20]}


def _env_data() -> bool:
    import os

    return bool(os.environ.get("INFOPROMPT_DATA"))


def _saved_dir(record: dict) -> Path | None:
    saved = record.get("data_dir")
    return Path(saved) if saved and Path(saved).is_dir() else None


@dataclass
class PredictionReport:
    """`predict_file`'s answer: one row per prediction (input order; kept only when asked) and what was
    skipped, if anything."""

    rows: list[dict]
    input: PredictionInput
    count: int = 0  # predictions made (also when the rows were streamed out and not kept)

    @property
    def labels(self) -> list[str]:
        return [row["prediction"] for row in self.rows]

    def summary(self) -> dict:
        return {**self.input.summary(), "predictions": self.count}


def predict_file(checkpoint: str | Path, input_file: str | Path | Any, output_file: str | Path | None = None,
                 *, backbone: Backbone | None = None, skip_bad_rows: bool = False,
                 progress: bool = False, keep_rows: bool = True,
                 on_rows: Callable[[list[dict]], None] | None = None) -> PredictionReport:
    """Predict every record of a CSV/TSV/JSONL file holding the task's text fields (or the task's own
    release format, or a DataFrame, Dataset or list of dicts); with `output_file`, write source, text,
    label and per-label probabilities (evaluation/predictions.py).

    Rows are read, scored and written `CHUNK` at a time, in input order: with `keep_rows=False` (the CLI)
    memory stays bounded whatever the input's size; `on_rows(rows)` sees each scored chunk."""
    check_arguments("predict", paths={"checkpoint": checkpoint, "output_file": output_file}, backbone=backbone)
    output = check_output_path(output_file, (input_file, checkpoint))  # before the model is loaded
    model = load(checkpoint, backbone)
    policy = BadRowPolicy(skip=skip_bad_rows)
    writer = PredictionWriter(output) if output is not None else None
    kept: list[dict] = []
    count = 0
    try:
        for examples in stream_prediction_input(model.task, input_file, policy):
            rows = prediction_rows(examples, model.task.label_names, model.predict_proba(examples, progress=progress))
            count += len(rows)
            if writer is not None:
                writer.write(rows)
            if on_rows is not None:
                on_rows(rows)
            if keep_rows:
                kept.extend(rows)
        if writer is not None:
            writer.commit()
    except BaseException:
        if writer is not None:
            writer.abort()
        raise
    name = "rows" if not isinstance(input_file, (str, Path)) else Path(input_file)
    skipped = [m for m in policy.skipped if name == "rows" or m.startswith(f"{name}:")]
    return PredictionReport(kept, PredictionInput(name, [], skipped), count)


def predict(checkpoint: str | Path, input_file: str | Path | Any, output_file: str | Path | None = None,
            *, backbone: Backbone | None = None, skip_bad_rows: bool = False) -> list[str]:
    """The predicted label of each record of `input_file` (a file, or in-memory rows), in order."""
    return predict_file(checkpoint, input_file, output_file, backbone=backbone, skip_bad_rows=skip_bad_rows).labels
