"""The Python API; the CLI is a thin layer over these functions.

    from infoprompt import TrainConfig, train, load
    result = train(TrainConfig(task="sst2", method="infoprompt", shots=256, data_dir="../shared/data"))
    model = load(result.run_dir)
    model.predict_texts(["a gripping, beautiful film"])

Inside your own loop: `build_method(name, backbone, task)` gives an nn.Module whose forward(batch)
returns logits and named losses; batches come from `Template.encode` and `collate`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from infoprompt.backbones import Backbone, load_backbone
from infoprompt.data.custom import make_custom_task, parse_verbalizer, rows_to_examples
from infoprompt.data.example import Example
from infoprompt.data.frames import (
    frame_examples,
    frame_task,
    is_rows,
    recordable,
    require_file_split,
    text_rows_task,
)
from infoprompt.data.readers import BadRowPolicy, read_table
from infoprompt.data.sampling import sample_few_shot
from infoprompt.data.spans import make_span_task, prediction_examples
from infoprompt.data.superglue import SUPERGLUE_FILE_TASKS, read_superglue_file
from infoprompt.data.tasks import TaskSpec, get_task, load_split, resolve_data_dir
from infoprompt.errors import ConfigError
from infoprompt.export.peft import check_peft_init, init_from_peft
from infoprompt.generative.methods import method_for_backbone
from infoprompt.methods import build_method, method_classes
from infoprompt.prompting.template import Template
from infoprompt.training.checkpoint import load_checkpoint, save_checkpoint
from infoprompt.training.logging import plot_learning_curve
from infoprompt.training.loop import TrainerConfig, evaluate_features, fit, predict_logits
from infoprompt.training.tracking import check_report_to, make_trackers


@dataclass
class TrainConfig:
    """Everything a training run needs; mirrors `infoprompt train` flags."""

    task: str = "sst2"
    method: str = "infoprompt"
    backbone: str = "minilm"
    data_dir: str | None = None
    shots: int | None = None
    stratified: bool = False
    seed: int = 0
    n_prompts: int = 4
    epochs: int = 30
    batch_size: int = 8
    lr: float | None = None  # None: the method's own default (prompts 1e-3; full fine-tuning far lower)
    weight_decay: float = 0.0
    schedule: str = "constant"
    eval_every: int | None = None
    eval_batch_size: int = 64
    max_length: int = 128
    readout: str = "auto"
    backbone_dropout: str = "off"
    output: str | None = None
    method_options: dict = field(default_factory=dict)  # e.g. {"beta": 0.1, "gamma": 0.0}
    # custom tasks
    train_file: str | None = None
    dev_file: str | None = None
    test_file: str | None = None  # a labelled test file: the best checkpoint is scored on it after training
    task_kind: str = "text"  # text (rows with --text-fields), or JSONL spans: relation, typing (data/spans.py)
    text_fields: list[str] | None = None
    label_field: str = "label"
    verbalizer: str | dict | None = None
    skip_bad_rows: bool = False
    progress: bool = True
    device: str = "cpu"
    resume: bool = False  # continue from output/resume/ if a saved state is there, else start fresh
    save_every: int | None = 200  # steps between resume-state saves (also after every evaluation)
    precision: str = "fp32"  # fp32 | bf16 autocast (see training.loop.TrainerConfig)
    compile: bool = False  # torch.compile the backbone (docs/performance.md says when it pays)
    optimizer: str = "adamw"  # adamw | adafactor (XPrompt's settings; see training.loop.make_optimizer)
    bucket_batches: int = 0  # >0: length-bucketed training batches (training.loop.bucketed_order)
    packing: str = "auto"  # auto: padding-free packed training batches where exact (infoprompt.packing); off
    # custom tasks from Python (API only): a pandas DataFrame, a datasets.Dataset or a list of dicts per split,
    # with the same field rules as files (text_fields, label_field); see infoprompt.data.frames
    train_data: Any = None
    dev_data: Any = None
    test_data: Any = None  # labelled: the best checkpoint is scored on it after training
    # experiment tracking: tensorboard, wandb, mlflow or none, or a comma list (infoprompt.training.tracking)
    report_to: str = "none"
    # start from a peft adapter folder (lora, prompt, prefix; infoprompt.export.peft.init_from_peft)
    init_from_peft: str | None = None


# Fields that may differ between a run and its resumption without changing its numbers.
# (`precision` and `optimizer` do change them, but the trainer's own resume record already checks them.)
_RESUME_FREE_FIELDS = ("progress", "output", "resume", "device", "data_dir", "save_every", "precision", "compile",
                       "optimizer", "bucket_batches", "report_to")


@dataclass
class TrainResult:
    run_dir: Path
    metrics: dict[str, float]
    summary: dict
    method: torch.nn.Module
    skipped_rows: list[str] = field(default_factory=list)


def resolve_task(cfg: TrainConfig, policy: BadRowPolicy) -> TaskSpec:
    if cfg.train_data is not None or cfg.dev_data is not None or cfg.test_data is not None:
        return frame_task(cfg, policy)  # rows from Python (data/frames.py)
    if cfg.task != "custom":
        if cfg.train_file or cfg.dev_file or cfg.test_file or cfg.task_kind != "text":
            raise ConfigError("--train-file/--dev-file/--test-file/--task-kind are for --task custom")
        task = get_task(cfg.task)
        if cfg.verbalizer:
            words = parse_verbalizer(cfg.verbalizer) if isinstance(cfg.verbalizer, str) else dict(cfg.verbalizer)
            unknown = set(words) - set(task.label_names)
            if unknown:
                raise ConfigError(f"--verbalizer: {sorted(unknown)} are not labels of {task.name} ({task.label_names})")
            task.verbalizer = [words.get(n, w) for n, w in zip(task.label_names, task.verbalizer)]
        return task
    if not cfg.train_file or not cfg.dev_file:
        raise ConfigError("--task custom needs --train-file and --dev-file")
    verbalizer = parse_verbalizer(cfg.verbalizer) if isinstance(cfg.verbalizer, str) else cfg.verbalizer
    if cfg.task_kind != "text":
        if cfg.text_fields or cfg.label_field != "label":
            raise ConfigError(f"--text-fields/--label-field are for --task-kind text; {cfg.task_kind} reads JSONL spans")
        return make_span_task(cfg.task_kind, cfg.train_file, cfg.dev_file, cfg.test_file, verbalizer, policy)
    if not cfg.text_fields:
        raise ConfigError("--task custom needs --text-fields a[,b]")
    task = make_custom_task(cfg.train_file, cfg.dev_file, cfg.text_fields, cfg.label_field, verbalizer, policy)
    if cfg.test_file:
        task.splits["test"], task.has_test = str(cfg.test_file), True
    return task


def make_template(method, backbone: Backbone, max_length: int) -> Template:
    if hasattr(method, "make_template"):  # generative backbones: text-to-text (infoprompt.generative)
        return method.make_template(max_length)
    return Template(backbone.tokenizer, method.config.n_prompts, layout=method.config.layout, max_length=max_length)


def _default_run_dir(cfg: TrainConfig) -> Path:
    shots = f"shots{cfg.shots}" if cfg.shots else "full"
    stamp = time.strftime("%Y%m%d-%H%M%S")
    return Path("runs") / f"{cfg.task}_{cfg.method}_np{cfg.n_prompts}_{shots}_seed{cfg.seed}_{stamp}"


def _method_config(cfg: TrainConfig):
    config_cls, _ = method_classes(cfg.method)
    options = {"n_prompts": cfg.n_prompts, "readout": cfg.readout, "seed": cfg.seed, **cfg.method_options}
    known = {f for f in config_cls.__dataclass_fields__}
    not_for = sorted(set(options) - known)
    if not_for:
        flags = ", ".join("--" + n.replace("_", "-") for n in not_for)
        raise ConfigError(f"{flags} do(es) not apply to method '{cfg.method}'")
    return config_cls(**options)


# TrainConfig fields that records written by older versions lack, with the value those runs used.
LEGACY_DEFAULTS = {"packing": "off"}  # before packing existed every run was padded


def _resume_config(cfg: TrainConfig) -> dict:
    """What a resumed run must share with the saved state. A field at its legacy value is left implicit,
    so states saved before the field existed still resume (and only under that value)."""
    return {k: v for k, v in recordable(cfg.__dict__).items()
            if k not in _RESUME_FREE_FIELDS and LEGACY_DEFAULTS.get(k, object()) != v}


def load_examples(cfg: TrainConfig, task: TaskSpec, split: str, data_dir: Path | None,
                  policy: BadRowPolicy) -> list[Example]:
    """One split's examples: the config's in-memory rows if it has them, else the task's files."""
    rows = {"train": cfg.train_data, "dev": cfg.dev_data, "test": cfg.test_data}.get(split)
    if rows is not None:
        return frame_examples(rows, f"{split}_data", task, policy)
    return load_split(task, split, data_dir, policy)


def resolve_lr(cfg: TrainConfig) -> float:
    """The learning rate a run uses: the user's, else the method's `default_lr`."""
    if cfg.lr is not None:
        return cfg.lr
    _, method_cls = method_classes(cfg.method)
    return float(getattr(method_cls, "default_lr", 1e-3))


def train(cfg: TrainConfig, backbone: Backbone | None = None,
          prepare: Callable[[torch.nn.Module], dict] | None = None) -> TrainResult:
    """Train one method on one task; save the best checkpoint, logs and learning curve in the run dir.

    `prepare(method)` runs on the freshly built method before training and returns extra checkpoint
    metadata (XPrompt's retraining installs its masks and rewinds the prompt there).
    """
    wall_start = time.perf_counter()
    check_report_to(cfg.report_to)  # before any data or backbone is loaded
    if cfg.init_from_peft:
        check_peft_init(cfg.init_from_peft, cfg.method)
    policy = BadRowPolicy(skip=cfg.skip_bad_rows)
    task = resolve_task(cfg, policy)
    method_config = _method_config(cfg)
    method_config.validate()
    trainer_config = TrainerConfig(
        epochs=cfg.epochs, batch_size=cfg.batch_size, lr=resolve_lr(cfg), weight_decay=cfg.weight_decay,
        schedule=cfg.schedule, eval_every=cfg.eval_every, eval_batch_size=cfg.eval_batch_size, seed=cfg.seed,
        progress=cfg.progress, device=cfg.device, save_every=cfg.save_every, precision=cfg.precision,
        compile=cfg.compile, optimizer=cfg.optimizer, bucket_batches=cfg.bucket_batches,
    )
    trainer_config.validate()
    if cfg.resume and not cfg.output:
        raise ConfigError("--resume needs --output RUN_DIR (the run directory to continue)")
    data_dir = resolve_data_dir(cfg.data_dir) if cfg.task != "custom" else None
    train_examples = load_examples(cfg, task, "train", data_dir, policy)
    dev_examples = load_examples(cfg, task, "dev", data_dir, policy)
    if cfg.shots is not None:
        train_examples = sample_few_shot(train_examples, cfg.shots, cfg.seed, stratified=cfg.stratified)
    if not dev_examples:
        raise ConfigError("the dev split is empty")
    backbone = backbone or load_backbone(cfg.backbone, dropout=cfg.backbone_dropout)
    torch.manual_seed(cfg.seed)
    method_name, method_config = method_for_backbone(cfg.method, method_config, backbone)  # generative: gen-*
    method = build_method(method_name, backbone, task, method_config)
    method.set_packing(cfg.packing)  # methods that cannot pack (prefixes, generative) stay padded and say so
    extra_meta = prepare(method) if prepare is not None else {}
    if cfg.init_from_peft:
        extra_meta["init_from_peft"] = init_from_peft(method, cfg.init_from_peft)
    template = make_template(method, backbone, cfg.max_length)
    train_features = template.encode(train_examples)
    dev_features = template.encode(dev_examples)
    run_dir = Path(cfg.output) if cfg.output else _default_run_dir(cfg)
    run_dir.mkdir(parents=True, exist_ok=True)
    meta = {
        "template": {"max_length": cfg.max_length, "layout": method.config.layout},
        "backbone_dropout": cfg.backbone_dropout,
        "eval_batch_size": cfg.eval_batch_size,
        "data_dir": str(data_dir.resolve()) if data_dir else None,
        "train_config": recordable({k: v for k, v in cfg.__dict__.items() if k not in ("progress",)}),
        **extra_meta,
    }

    def on_best(scores: dict, step: int) -> None:
        save_checkpoint(run_dir, method, {**meta, "dev_metrics": scores, "step": step})

    result = fit(
        method, train_features, dev_features, metrics=task.metrics, primary_metric=task.primary_metric,
        config=trainer_config, run_dir=run_dir, on_best=on_best, resume=cfg.resume,
        resume_config=_resume_config(cfg),
        trackers=make_trackers(cfg.report_to, run_dir, run_dir.name, meta["train_config"]),
    )
    if result.main_process:  # in a multi-process run only rank 0 writes files
        plot_learning_curve(run_dir / "metrics.jsonl", run_dir / "learning_curve.png", task.primary_metric,
                            f"{task.name} / {cfg.method} / np={cfg.n_prompts} / seed {cfg.seed}")
    summary = {
        "task": task.name,
        "method": cfg.method,
        "backbone": cfg.backbone,
        "readout": method.readout,
        "seed": cfg.seed,
        "shots": cfg.shots,
        "n_prompts": cfg.n_prompts,
        "trainable_params": method.num_trainable_parameters(),
        "train_seconds": round(time.perf_counter() - wall_start, 2),
        "steps": result.steps,
        "best_step": result.best_step,
        "dev": result.best_metrics,
        "lr": trainer_config.lr,
        "run_dir": str(run_dir),
    }
    summary["packing"] = method.packer.report()
    if hasattr(method, "run_report"):  # method-specific facts, e.g. APET's exact budget and placement
        summary.update(method.run_report())
    if task.has_test and result.main_process:
        # The official test split is scored once, with the checkpoint chosen on dev.
        test_examples = load_examples(cfg, task, "test", data_dir, policy)
        best = load(run_dir, backbone)
        best.method.to(cfg.device)
        summary["test"] = evaluate_features(best.method, best.template.encode(test_examples), task.metrics,
                                            cfg.eval_batch_size, cfg.device)
    if policy.skipped:
        summary["skipped_rows"] = len(policy.skipped)
    return TrainResult(run_dir, result.best_metrics, summary, method, policy.skipped)


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

    def predict_texts(self, texts: list[str] | list[tuple[str, str]]) -> list[str]:
        examples = [Example(t[0], t[1]) if isinstance(t, tuple) else Example(t) for t in texts]
        return [self.task.label_names[i] for i in self.predict_examples(examples)]

    def predict(self, rows: Any) -> list[str]:
        """One label per row, in order, for a pandas DataFrame, a datasets.Dataset or a list of dicts holding
        the task's text fields (bad rows are errors naming the row and field, never dropped)."""
        examples = frame_examples(rows, "rows", text_rows_task(self.task), BadRowPolicy(), labelled=False)
        return [self.task.label_names[i] for i in self.predict_examples(examples)]

    def evaluate_examples(self, examples: list[Example]) -> dict[str, float]:
        features = self.template.encode(examples)
        return evaluate_features(self.method, features, self.task.metrics, self.record.get("eval_batch_size", 64))


def load(checkpoint: str | Path, backbone: Backbone | None = None) -> LoadedModel:
    """Load a checkpoint directory (see `infoprompt.training.checkpoint`)."""
    method, record = load_checkpoint(checkpoint, backbone)
    template = method.make_template(record["template"]["max_length"]) if hasattr(method, "make_template") else Template(
        method.backbone_info.tokenizer, method.config.n_prompts,
        layout=record["template"]["layout"], max_length=record["template"]["max_length"],
    )
    return LoadedModel(method, template, record)


def evaluate(checkpoint: str | Path, *, data_dir: str | None = None, dev_file: str | None = None,
             backbone: Backbone | None = None, skip_bad_rows: bool = False, generate: bool = False) -> dict:
    """Score a checkpoint on its task's dev split (or on `dev_file` for a custom task).

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
        directory = resolve_data_dir(data_dir) if (data_dir or _env_data()) else _saved_dir(model.record)
        examples = load_split(task, "dev", directory, policy)
    if generate:
        from infoprompt.generative.generation import evaluate_generation

        if not hasattr(model.method, "scorer"):
            raise ConfigError("--generate needs a checkpoint trained on a causal or seq2seq backbone")
        dev = evaluate_generation(model.method, model.template.encode(examples), task.metrics,
                                  batch_size=model.record.get("eval_batch_size", 64))
        return {"task": task.name, "method": model.record["method"], "checkpoint": str(checkpoint), "dev": dev}
    return {"task": task.name, "method": model.record["method"], "checkpoint": str(checkpoint),
            "dev": model.evaluate_examples(examples)}


def _env_data() -> bool:
    import os

    return bool(os.environ.get("INFOPROMPT_DATA"))


def _saved_dir(record: dict) -> Path | None:
    saved = record.get("data_dir")
    return Path(saved) if saved and Path(saved).is_dir() else None


def predict(checkpoint: str | Path, input_file: str | Path | Any, output_file: str | Path | None = None,
            *, backbone: Backbone | None = None, skip_bad_rows: bool = False) -> list[str]:
    """Predict a label for each row of a CSV/TSV/JSONL file (or DataFrame, Dataset, list of dicts) holding
    the task's text fields."""
    model = load(checkpoint, backbone)
    policy = BadRowPolicy(skip=skip_bad_rows)
    task = model.task
    if is_rows(input_file):
        examples = frame_examples(input_file, "rows", text_rows_task(task), policy, labelled=False)
        labels = [task.label_names[i] for i in model.predict_examples(examples)]
        if output_file:
            _write_predictions(Path(output_file), examples, labels)
        return labels
    examples = prediction_examples(task, input_file, policy)  # tasks whose examples carry entity spans
    if examples is None and task.name in SUPERGLUE_FILE_TASKS:  # SuperGLUE's release JSONL, labels ignored
        examples = read_superglue_file(input_file, SUPERGLUE_FILE_TASKS[task.name], policy, labelled=False)
    if examples is None:
        examples = rows_to_examples(read_table(Path(input_file), policy), task, input_file, policy, labelled=False)
    labels = [task.label_names[i] for i in model.predict_examples(examples)]
    if output_file:
        _write_predictions(Path(output_file), examples, labels)
    return labels


def _write_predictions(path: Path, examples: list[Example], labels: list[str]) -> None:
    import csv
    import io
    import json

    from infoprompt.training.checkpoint import atomic_write_bytes

    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".json"):
        text = "".join(json.dumps({"source": e.source, "prediction": y}) + "\n" for e, y in zip(examples, labels))
    else:
        buf = io.StringIO()
        writer = csv.writer(buf, delimiter="\t" if suffix in (".tsv", ".txt") else ",", lineterminator="\n")
        writer.writerow(["source", "prediction"])
        writer.writerows((e.source, y) for e, y in zip(examples, labels))
        text = buf.getvalue()
    atomic_write_bytes(path, text.encode("utf-8"))
