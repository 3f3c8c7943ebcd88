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
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from infoprompt.atomic_files import RunLock, check_fresh_run_dir, check_inside, check_output_dir
from infoprompt.backbones import Backbone
from infoprompt.config import TrainConfig, TrainerConfig, resolve_device
from infoprompt.data.example import Example
from infoprompt.data.frames import (
    frame_examples,
    recordable,
    require_file_split,
    text_rows_task,
)
from infoprompt.data.lmbff import OFFICIAL_SHOTS
from infoprompt.data.readers import BadRowPolicy
from infoprompt.data.tasks import TaskSpec, convergence_level, load_split, resolve_data_dir
from infoprompt.environment import package_versions, peak_device_mb, peak_rss_mb
from infoprompt.errors import ConfigError
from infoprompt.evaluation.metrics import majority_baseline
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
from infoprompt.run import (  # noqa: F401  (public)
    assemble_run,
    draw_names,
    load_examples,
    reported_split,
    resolve_lr,
    resolve_task,
)
from infoprompt.training.checkpoint import save_checkpoint
from infoprompt.training.launch import check_launch
from infoprompt.training.logging import JsonlLog, plot_learning_curve
from infoprompt.training.loop import evaluate_features, fit, predict_logits, steps_per_epoch
from infoprompt.training.selection import scored, summary_fields
from infoprompt.training.tracking import make_trackers

# Fields that may differ between a run and its resumption without changing its numbers.
# (`precision` and `optimizer` do change them, but the trainer's own resume record already checks them.)
_RESUME_FREE_FIELDS = ("progress", "output", "resume", "overwrite", "device", "data_dir", "save_every", "precision", "compile",
                       "optimizer", "bucket_batches", "report_to")


@dataclass
class TrainResult:
    run_dir: Path
    metrics: dict[str, float]
    summary: dict
    method: torch.nn.Module
    skipped_rows: list[str] = field(default_factory=list)
    main_process: bool = True  # False on the other ranks of a multi-process run (they print nothing)


def _default_run_dir(cfg: TrainConfig) -> Path:
    shots = f"shots{cfg.shots}" if cfg.shots else f"k{cfg.shots_per_class}" if cfg.shots_per_class else "full"
    shots += "-official" if cfg.official_draw else ""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    return Path("runs") / f"{cfg.task}_{cfg.method}_np{cfg.n_prompts}_{shots}_seed{cfg.seed}_{stamp}"


# TrainConfig fields that records written by older versions lack, with the value those runs used.
# Before packing existed every run was padded; before issue 17 every run kept its best full-dev evaluation
# (and reported it) and never stopped early; before they were settable, warmup was 0 and clipping 1.0; an
# ablation was recorded as its zeros in method_options.
LEGACY_DEFAULTS = {"packing": "off", "select_on": "dev", "patience": 0, "warmup_ratio": 0.0, "max_grad_norm": 1.0,
                   "eval_subsample": None, "ablation": "none", "init_from_peft": None, "train_data": None,
                   "dev_data": None, "test_data": None, "grad_accum": 1, "max_steps": None}


def _resume_config(cfg: TrainConfig) -> dict:
    """What a resumed run must share with the saved state. A field at its legacy value is left implicit,
    so states saved before the field existed still resume (and only under that value)."""
    return {k: v for k, v in recordable(cfg.__dict__).items()
            if k not in _RESUME_FREE_FIELDS and LEGACY_DEFAULTS.get(k, object()) != v}


def train(cfg: TrainConfig, backbone: Backbone | None = None,
          prepare: Callable[[torch.nn.Module], dict] | None = None) -> TrainResult:
    """Train one method on one task; save the best checkpoint, logs and learning curve in the run dir.

    `prepare(method)` runs on the freshly built method before training and returns extra checkpoint
    metadata (XPrompt's retraining installs its masks and rewinds the prompt there).
    """
    wall_start = time.perf_counter()
    cfg.validate()  # every setting, before any data or backbone is loaded
    check_launch()  # a launch asked for N processes that started one: refused, not silently one process
    if cfg.output:
        check_output_dir(Path(cfg.output))  # a file in the way or an unwritable folder: before any work
    device = resolve_device(cfg.device)
    if cfg.init_from_peft:
        check_peft_init(cfg.init_from_peft, cfg.method)
    trainer_config = TrainerConfig.of(cfg, lr=resolve_lr(cfg), device=device)

    def setup(method) -> dict:  # on the freshly built method, before its template is made
        meta = prepare(method) if prepare is not None else {}
        if cfg.init_from_peft:
            meta["init_from_peft"] = init_from_peft(method, cfg.init_from_peft)
        return meta

    run_dir = Path(cfg.output) if cfg.output else _default_run_dir(cfg)
    # Under a multi-process launch only rank 0 writes the run directory, so only rank 0 locks and checks it
    # (the other ranks would find rank 0's lock and files and refuse).
    writer = int(os.environ.get("RANK", "0")) == 0
    if writer and run_dir.is_dir():
        RunLock(run_dir).acquire().release()  # another process writing there: named now, before any loading
    if writer:
        check_fresh_run_dir(run_dir, overwrite=cfg.overwrite, resume=cfg.resume)
    run = assemble_run(cfg, backbone=backbone, splits=("train", "dev"), prepare=setup)
    run_dir.mkdir(parents=True, exist_ok=True)
    if not writer:
        return _train_run(cfg, run, run_dir, trainer_config, device, wall_start)
    with RunLock(run_dir):  # one writer per run directory (named in the refusal)
        check_fresh_run_dir(run_dir, overwrite=cfg.overwrite, resume=cfg.resume)  # again, under the lock
        for name in RUN_FILES:
            check_inside(run_dir / name, run_dir)  # a symlinked file or folder would write outside the run
        return _train_run(cfg, run, run_dir, trainer_config, device, wall_start)


# What a run writes at its top level (each by temp-and-rename; checked to stay inside the run directory).
RUN_FILES = ("config.json", "model.safetensors", "metrics.jsonl", "learning_curve.png", "resume/state.json")


def _train_run(cfg: TrainConfig, run, run_dir: Path, trainer_config: TrainerConfig, device: str,
               wall_start: float) -> TrainResult:
    """`train` once the run is assembled and its directory locked."""
    task, method, policy, data_dir = run.task, run.method, run.policy, run.data_dir
    final = reported_split(cfg, task)  # scored once, at the end
    few_shot = cfg.select_on == "few-shot"  # its reported split is read (and checked) before any training
    final_rows = load_examples(cfg, task, final, data_dir, policy) if few_shot else None
    meta = {
        "template": {"max_length": cfg.max_length, "layout": method.config.layout},
        "backbone_dropout": cfg.backbone_dropout,
        "eval_batch_size": cfg.eval_batch_size,
        "data_dir": str(data_dir.resolve()) if data_dir else None,
        "train_config": recordable({k: v for k, v in cfg.__dict__.items() if k not in ("progress",)}),
        **run.meta,
    }
    if few_shot:  # the record says what selected and what is reported, with their sizes
        meta["protocol"] = {"select_on": cfg.select_on, "selection_split": draw_names(cfg, len(run.examples["dev"])),
                            "train_draw": len(run.examples["train"]), "reported_split": f"{final} (n={len(final_rows)})"}

    def on_best(scores: dict, step: int) -> None:
        save_checkpoint(run_dir, method, {**meta, "dev_metrics": scores, "step": step})

    result = fit(
        method, run.features["train"], run.features["dev"], metrics=task.metrics, primary_metric=task.primary_metric,
        config=trainer_config, run_dir=run_dir, on_best=on_best, resume=cfg.resume,
        resume_config=_resume_config(cfg),
        trackers=make_trackers(cfg.report_to, run_dir, run_dir.name, meta["train_config"]),
    )
    if result.main_process:  # in a multi-process run only rank 0 writes files
        plot_learning_curve(run_dir / "metrics.jsonl", run_dir / "learning_curve.png", task.primary_metric,
                            f"{task.name} / {cfg.method} / np={cfg.n_prompts} / seed {cfg.seed}",
                            majority=(result.selection.get("dev_majority") or {}).get(task.primary_metric),
                            level=convergence_level(task.name))
    summary = {
        "task": task.name,
        "method": cfg.method,
        "backbone": cfg.backbone,
        "readout": method.describe_readout(),
        "predict": method.predict,
        "seed": cfg.seed,
        "shots": cfg.shots,
        "n_prompts": cfg.n_prompts,
        "trainable_params": method.num_trainable_parameters(),
        "train_seconds": round(result.train_seconds, 2),
        "steps": result.steps,
        "best_step": result.best_step,
        "dev": result.best_metrics,
        "lr": trainer_config.lr,
        "run_dir": str(run_dir),
    }
    summary["packing"] = method.packer.report()
    if Capability.RUN_REPORT in method.capabilities:  # method-specific facts, e.g. APET's budget and placement
        summary.update(method.run_report())
    test = None
    if final is not None and result.main_process:
        # The reported split (the labelled test split; the full dev split under the few-shot protocol on a task
        # without one) is scored twice, at the end: with the last weights and with the kept checkpoint.
        rows = final_rows if final_rows is not None else load_examples(cfg, task, final, data_dir, policy)
        test = score_test(task, rows, method, run.template, lambda: load(run_dir, run.backbone),
                          cfg.eval_batch_size, device)
        if final == "test":
            summary["test"] = test["selected"]["metrics"]
        if few_shot:
            test["split"] = meta["protocol"]["reported_split"]
    summary.update(summary_fields(result.selection, task.label_names, test))
    if few_shot:
        summary.update(shots_per_class=cfg.shots_per_class or OFFICIAL_SHOTS, official_draw=cfg.official_draw,
                       train_draw=len(run.examples["train"]), selection_split=meta["protocol"]["selection_split"])
    reused = reused_split(task, run.examples)
    if reused:  # the reported score would not be a held-out score
        summary["honest"], summary["reused_rows"] = False, reused
        print(f"infoprompt: warning: {reused}; the reported score is not held out (honest: false)", file=sys.stderr)
    if test is not None and result.main_process:
        with contextlib.closing(JsonlLog(run_dir / "metrics.jsonl")) as log:
            log.write({"type": "test" if final == "test" else "report", "step": result.steps,
                       **({"split": test["split"]} if few_shot else {}), "selected": summary["reported"]["selected"],
                       "last": summary["reported"]["last"], "selected_step": result.best_step})
    summary["skipped_rows"] = len(policy.skipped)  # always reported, 0 included
    per_epoch = steps_per_epoch(len(run.features["train"]), trainer_config)
    summary.update(headline_summary(summary, cfg, per_epoch, len(run.features["dev"]), test))
    summary["wall_seconds"] = round(time.perf_counter() - wall_start, 2)
    summary.update(cost_fields(result.steps, per_epoch, result.train_seconds, device))
    if result.main_process and (run_dir / "config.json").is_file():
        from infoprompt.report.model_card import write_card
        from infoprompt.training.checkpoint import read_checkpoint_config

        write_card(run_dir, read_checkpoint_config(run_dir), summary)
    return TrainResult(run_dir, result.best_metrics, summary, method, policy.skipped, result.main_process)


def headline_summary(summary: dict, cfg: TrainConfig, per_epoch: int, n_dev: int, test: dict | None) -> dict:
    """The summary fields that name the one headline number (report/headline.py): the rows it is over, the
    steps the run planned (so an early stop is visible), `dev_metrics` (config.json's name for `dev`) and
    `headline` itself."""
    from infoprompt.report.headline import headline_fields, report_rows

    out = {"planned_steps": cfg.max_steps or cfg.epochs * per_epoch, "dev_metrics": summary.get("dev")}
    if test is not None:
        out["reported_rows"] = test.get("rows")
    elif report_rows(summary) is None:
        out["reported_rows"] = n_dev  # the whole dev split is reported (select-on dev or last)
    out["headline"] = headline_fields({**summary, **out})
    return out


def cost_fields(steps: int, per_epoch: int, train_seconds: float, device: str) -> dict:
    """What a run cost beside what it scored: optimizer-step seconds per epoch (averaged over the epochs it ran,
    the first included), peak memory, and the package versions that produced its numbers."""
    epochs_run = steps / per_epoch if per_epoch else 0
    return {"seconds_per_epoch": round(train_seconds / epochs_run, 3) if epochs_run else None,
            "peak_rss_mb": peak_rss_mb(), "peak_device_mb": peak_device_mb(device),
            "environment": package_versions()}


def reused_split(task: TaskSpec, examples: dict[str, list[Example]]) -> str | None:
    """Why an evaluated split is not held out, or None: a dev or test file with the same content as the
    training or dev file, or dev rows that are the training rows."""
    import hashlib

    files = {split: Path(path) for split, path in (task.splits or {}).items() if Path(path).is_file()}
    digests = {split: hashlib.sha256(path.read_bytes()).hexdigest() for split, path in files.items()}
    for later, earlier in (("dev", "train"), ("test", "dev"), ("test", "train")):
        if later in digests and digests.get(earlier) == digests[later]:
            return f"the {later} file {files[later]} has the same content as the {earlier} file {files[earlier]}"

    def rows(split: str) -> set:
        return {(e.text_a, e.text_b, e.label) for e in examples.get(split, [])}

    if examples.get("dev") and rows("dev") == rows("train"):
        return "the dev rows are the training rows"
    return None


def score_test(task: TaskSpec, examples: list[Example], last, template: Template, load_kept: Callable[[], LoadedModel],
               batch_size: int, device: str) -> dict:
    """The test split scored with the last weights (`last`, the method as training left it) and then with the kept
    checkpoint (loaded only afterwards: methods that train backbone weights load them into the shared backbone),
    plus its majority-class baseline; tasks with a labelled test split report these."""
    labels = [e.label for e in examples]
    groups = [getattr(e, "group", None) for e in examples]
    out = {"majority": majority_baseline(task.metrics, labels, groups if any(groups) else None), "rows": len(labels)}
    logits = predict_logits(last, template.encode(examples), batch_size, device)
    out["last"] = scored(task.metrics, labels, logits.argmax(-1).tolist(), groups)
    kept = load_kept()
    kept.method.to(device)
    logits = predict_logits(kept.method, kept.template.encode(examples), batch_size, device)
    out["selected"] = scored(task.metrics, labels, logits.argmax(-1).tolist(), groups)
    return out


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


def load(checkpoint: str | Path, backbone: Backbone | None = None) -> LoadedModel:
    """Load a checkpoint directory (see `infoprompt.training.checkpoint`), rebuilt by `run.assemble_run`."""
    run = assemble_run(checkpoint=checkpoint, backbone=backbone, splits=())
    return LoadedModel(run.method, run.template, run.record)


def evaluate(checkpoint: str | Path, *, data_dir: str | None = None, dev_file: str | None = None,
             backbone: Backbone | None = None, skip_bad_rows: bool = False, generate: bool = False,
             progress: bool = False) -> dict:
    """Score a checkpoint on its task's dev split (or on `dev_file` for a custom task); `progress` shows a bar
    while the examples are scored.

    `generate`: generative backbones only; greedy decoding mapped to labels instead of label scores
    (infoprompt.generative.generation; adds `unmatched`, the generations that named no label)."""
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
