"""The one run assembly: config (or checkpoint) -> task, backbone, method, template, features.

Every command builds its run here (`train`, `evaluate`, `predict`, `load`, `prune`, `analyze`,
`bench`, the APET experiments), so a method, family or data source added once reaches all of them,
and a checkpoint is rebuilt by exactly the path that trained it: the stored record supplies the
task, the method's config and the template size, and `restore_tensors` copies the saved tensors in.

    run = assemble_run(TrainConfig(task="sst2", method="warp"), splits=("train", "dev"))
    run.method(collate(run.features["train"][:8], run.template.pad_id))
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import torch

from infoprompt.atomic_files import check_output_dir
from infoprompt.backbones import Backbone, load_backbone
from infoprompt.config import TrainConfig, TrainerConfig
from infoprompt.data.example import Example
from infoprompt.data.frames import DATA_FIELDS, recordable
from infoprompt.data.readers import BadRowPolicy
from infoprompt.data.source import TaskSource, draw_splits, load_examples, reused_split, source_task
from infoprompt.data.tasks import TaskSpec, resolve_data_dir
from infoprompt.devices import resolve_device
from infoprompt.errors import ConfigError
from infoprompt.evaluation.metrics import majority_baseline
from infoprompt.methods import Capability, PromptMethod, build_method, method_classes
from infoprompt.prompting.template import Feature, Template
from infoprompt.training.checkpoint import (
    check_backbone,
    check_shapes,
    read_checkpoint_config,
    restore_tensors,
    save_checkpoint,
)
from infoprompt.training.inference import predict_logits
from infoprompt.training.launch import check_launch
from infoprompt.training.selection import scored, summary_fields

Prepare = Callable[[PromptMethod], dict]

RESUME_FREE = object()
# Each TrainConfig field that a saved run treats specially. RESUME_FREE: it may differ between a run and its
# resumption without changing its numbers (`precision` and `optimizer` do change them, but the trainer's own
# resume record already checks them). A value: records written by older versions lack the field, and their
# runs used that value. Before packing existed every run was padded; before issue 17 every run kept its best
# full-dev evaluation (and reported it) and never stopped early; before they were settable, warmup was 0 and
# clipping 1.0; an ablation was recorded as its zeros in method_options.
SAVED_RUN_FIELDS: dict[str, Any] = {
    **dict.fromkeys(("progress", "output", "resume", "overwrite", "device", "data_dir", "save_every", "precision",
                     "compile", "optimizer", "bucket_batches", "report_to"), RESUME_FREE),
    "packing": "off", "select_on": "dev", "patience": 0, "warmup_ratio": 0.0, "max_grad_norm": 1.0,
    "eval_subsample": None, "ablation": "none", "init_from_peft": None, "train_data": None, "dev_data": None,
    "test_data": None, "grad_accum": 1, "max_steps": None,
}
LEGACY_DEFAULTS = {k: v for k, v in SAVED_RUN_FIELDS.items() if v is not RESUME_FREE}


def resume_config(cfg: TrainConfig) -> dict:
    """What a resumed run must share with the saved state. A field at its legacy value is left implicit,
    so states saved before the field existed still resume (and only under that value)."""
    return {k: v for k, v in recordable(cfg.__dict__).items()
            if SAVED_RUN_FIELDS.get(k) is not RESUME_FREE and LEGACY_DEFAULTS.get(k, RESUME_FREE) != v}


@dataclass
class Run:
    """Everything a command needs to train, score or inspect one method on one task."""

    cfg: TrainConfig
    task: TaskSpec
    backbone: Backbone
    method: PromptMethod
    template: Template
    examples: dict[str, list[Example]] = field(default_factory=dict)  # split -> examples (train: the draw)
    features: dict[str, list[Feature]] = field(default_factory=dict)  # split -> encoded examples
    data_dir: Path | None = None  # the folder built-in task files were read from (None: hub or custom files)
    policy: BadRowPolicy = field(default_factory=BadRowPolicy)
    record: dict | None = None  # the checkpoint record, when the run was rebuilt from one
    meta: dict = field(default_factory=dict)  # what `prepare` returned (extra checkpoint metadata)


def assemble_run(cfg: TrainConfig | None = None, *, checkpoint: str | Path | None = None,
                 backbone: Backbone | None = None, task: TaskSpec | None = None,
                 splits: Sequence[str] = ("train", "dev"), prepare: Prepare | None = None,
                 policy: BadRowPolicy | None = None) -> Run:
    """Build a run from `cfg`, or rebuild the one saved in `checkpoint` (its record gives the task, method
    config and template; `cfg`, when also given, only says where the data is and how it was drawn).

    task: use this task instead of the one `cfg` names (analyses run on a checkpoint's own, possibly custom, task).
    splits: the splits to read and encode ("train" is the seeded few-shot draw when `cfg.shots` is set).
    prepare(method): runs on a freshly built method before its template is made; its dict lands in `Run.meta`
    (XPrompt's retraining installs masks and rewound values there). A fresh method is built under
    `torch.manual_seed(cfg.seed)`; a restored one takes its values from the checkpoint instead.
    """
    record = read_checkpoint_config(checkpoint) if checkpoint is not None else None
    if cfg is None:
        if record is None:
            raise ConfigError("assemble_run needs a config or a checkpoint")
        cfg = config_from_record(record)
    policy = policy if policy is not None else BadRowPolicy(skip=cfg.skip_bad_rows)
    source = cfg.task_source()
    if record is None:
        method_name, method_config = cfg.method, cfg.method_config()
        task = task if task is not None else source_task(source, policy)
        max_length = cfg.max_length
    else:
        task = TaskSpec.from_dict(record["task"])
        method_name = record["method"]
        method_config = method_classes(method_name)[0].from_dict(dict(record["method_config"]))
        max_length = int(record.get("template", {}).get("max_length", cfg.max_length))
    method_config.validate()
    data_dir = resolve_data_dir(source.data_dir) if splits and not task.splits else None
    examples = draw_splits(task, splits, data_dir, policy, source)
    if backbone is None and record is not None:  # the backbone the checkpoint was trained on, as it was loaded
        backbone = load_backbone(record["backbone"]["name"], dropout=record.get("backbone_dropout", "off"),
                                 safetensors_only=True)  # a checkpoint-named backbone is never unpickled
    elif backbone is None:
        backbone = load_backbone(cfg.backbone, dropout=cfg.backbone_dropout)
    if record is not None:
        check_backbone(record, backbone)
        check_shapes(record, backbone, build_method)  # the config's sizes against the saved shapes, on "meta"
    else:
        limit = backbone.max_positions
        if limit is not None and max_length > limit:
            raise ConfigError(f"--max-length {max_length}: backbone '{cfg.backbone}' takes at most {limit} tokens")
        torch.manual_seed(cfg.seed)
    method = build_method(method_name, backbone, task, method_config)
    if record is None:
        method.set_packing(cfg.packing)  # methods that cannot pack (prefixes, generative) stay padded and say so
    meta = prepare(method) if prepare is not None else {}
    if record is not None:
        if record.get("pruning"):  # an XPrompt checkpoint: its masks are tensors of a masker to rebuild first
            method.attach_prompt_masker(int(record["pruning"]["pieces"]))
        restore_tensors(checkpoint, method, record)
    template = method.make_template(max_length)
    features = {split: template.encode(rows) for split, rows in examples.items()}
    return Run(cfg, task, backbone, method, template, examples, features, data_dir, policy, record, meta)


def read_splits(task: TaskSpec, splits: Sequence[str], data_dir: Path | None, policy: BadRowPolicy,
                cfg: TrainConfig) -> dict[str, list[Example]]:
    """The requested splits' examples of a run's config (`data.source.read_splits` on its task source)."""
    return draw_splits(task, splits, data_dir, policy, cfg.task_source())


def reported_split(cfg: TrainConfig, task: TaskSpec) -> str | None:
    """The split scored once at the end and reported instead of a dev split: the labelled test split where the
    task has one; under the few-shot protocol, whose dev is a small draw, the full dev split otherwise."""
    if task.has_test:
        return "test"
    return "dev" if cfg.select_on == "few-shot" else None


def config_from_record(record: dict, **overrides) -> TrainConfig:
    """The TrainConfig a checkpoint was trained with (fields a record predates take their legacy values;
    a record without `train_config` gives what the record itself says)."""
    known = {f.name for f in fields(TrainConfig)}
    cfg = {k: v for k, v in {**LEGACY_DEFAULTS, **(record.get("train_config") or {})}.items()
           if k in known and k not in DATA_FIELDS}  # in-memory rows are recorded by description only
    cfg.setdefault("backbone", record["backbone"]["name"])
    cfg.setdefault("backbone_dropout", record.get("backbone_dropout", "off"))
    if "template" in record:
        cfg.setdefault("max_length", record["template"]["max_length"])
    if "eval_batch_size" in record:
        cfg.setdefault("eval_batch_size", record["eval_batch_size"])
    return TrainConfig(**{**cfg, **overrides})


def resolve_task(cfg: TrainConfig, policy: BadRowPolicy) -> TaskSpec:
    """The task a config names: a registered one (verbalizer words optionally replaced) or a custom one."""
    return source_task(cfg.task_source(), policy)


@dataclass(frozen=True)
class TrainingPlan:
    """A checked run config as the narrow values the parts of a training run receive."""

    trainer: TrainerConfig  # the loop's settings, with the run's learning rate and device
    run_dir: Path


def plan_training(cfg: TrainConfig) -> TrainingPlan:
    """Every check that needs no data or backbone, in the order a user meets them; then the run's narrow values."""
    cfg.validate()  # every setting, before any data or backbone is loaded
    lr, run_dir = resolve_lr(cfg), Path(cfg.output) if cfg.output else default_run_dir(cfg)
    check_launch()  # a launch asked for N processes that started one: refused, not silently one process
    if cfg.output:
        check_output_dir(Path(cfg.output))  # a file in the way or an unwritable folder: before any work
    return TrainingPlan(TrainerConfig.of(cfg, lr=lr, device=resolve_device(cfg.device)), run_dir)


def default_run_dir(cfg: TrainConfig) -> Path:
    shots = f"shots{cfg.shots}" if cfg.shots else f"k{cfg.shots_per_class}" if cfg.shots_per_class else "full"
    shots += "-official" if cfg.official_draw else ""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    return Path("runs") / f"{cfg.task}_{cfg.method}_np{cfg.n_prompts}_{shots}_seed{cfg.seed}_{stamp}"


def resolve_lr(cfg: TrainConfig) -> float:
    """The learning rate a run uses: the user's, else the method's `default_lr`."""
    if cfg.lr is not None:
        return cfg.lr
    return float(method_classes(cfg.method)[1].default_lr)


# --- what a training run reports --------------------------------------------------------------------


@dataclass
class Reporting:
    """What a training run reports beside its dev scores, fixed before its first step: the split scored once at
    the end (read up front under the few-shot protocol, so a bad file fails before any training) and the
    checkpoint record's metadata."""

    source: TaskSource
    final: str | None
    rows: list[Example] | None
    meta: dict
    resume_config: dict  # what a resumed run must share with its saved state
    run_dir: Path
    method: PromptMethod

    def save_best(self, scores: dict, step: int) -> None:
        """`fit`'s on_best: the kept checkpoint, with this run's record."""
        save_checkpoint(self.run_dir, self.method, {**self.meta, "dev_metrics": scores, "step": step})


def plan_reporting(cfg: TrainConfig, run: Run, run_dir: Path) -> Reporting:
    """The reported split and the checkpoint record of a run about to train."""
    source = cfg.task_source()
    final = reported_split(cfg, run.task)
    rows = load_examples(source, run.task, final, run.data_dir, run.policy) if source.few_shot else None
    meta = {
        "template": {"max_length": cfg.max_length, "layout": run.method.config.layout},
        "backbone_dropout": cfg.backbone_dropout,
        "eval_batch_size": cfg.eval_batch_size,
        "data_dir": str(run.data_dir.resolve()) if run.data_dir else None,
        "train_config": recordable({k: v for k, v in cfg.__dict__.items() if k not in ("progress",)}),
        **run.meta,
    }
    if source.few_shot:  # the record says what selected and what is reported, with their sizes
        meta["protocol"] = {"select_on": source.select_on,
                            "selection_split": source.draw_names(len(run.examples["dev"])),
                            "train_draw": len(run.examples["train"]), "reported_split": f"{final} (n={len(rows)})"}
    return Reporting(source, final, rows, meta, resume_config(cfg), run_dir, run.method)


def score_reported(reporting: Reporting, run: Run, load_kept: Callable, batch_size: int, device: str) -> dict | None:
    """The reported split (the labelled test split; the full dev split under the few-shot protocol on a task
    without one) scored at the end, with the last weights and with the kept checkpoint; None without one."""
    if reporting.final is None:
        return None
    if reporting.rows is None:  # kept for the held-out check of the summary (reused_split)
        reporting.rows = load_examples(reporting.source, run.task, reporting.final, run.data_dir, run.policy)
    rows = reporting.rows
    test = score_test(run.task, rows, run.method, run.template, load_kept, batch_size, device)
    if reporting.source.few_shot:
        test["split"] = reporting.meta["protocol"]["reported_split"]
    return test


def score_test(task: TaskSpec, examples: list[Example], last, template: Template, load_kept: Callable,
               batch_size: int, device: str) -> dict:
    """The test split scored with the last weights (`last`, the method as training left it) and then with the kept
    checkpoint (loaded only afterwards: methods that train backbone weights load them into the shared backbone),
    plus its majority-class baseline; tasks with a labelled test split report these."""
    features = template.encode(examples)
    labels = [e.label for e in examples]
    groups = [getattr(e, "group", None) for e in examples]
    out = {"majority": majority_baseline(task.metrics, labels, groups if any(groups) else None), "rows": len(labels)}
    logits = predict_logits(last, features, batch_size, device)
    out["last"] = scored(task.metrics, labels, logits.argmax(-1).tolist(), groups)
    kept = load_kept()
    kept.method.to(device)
    logits = predict_logits(kept.method, kept.template.encode(examples), batch_size, device)
    out["selected"] = scored(task.metrics, labels, logits.argmax(-1).tolist(), groups)
    return out


def run_summary(cfg: TrainConfig, run: Run, result, reporting: Reporting, test: dict | None, lr: float,
                run_dir: Path) -> dict:
    """A trained run's summary: what ran, its dev and reported scores, and whether they are held out."""
    method, task, source = run.method, run.task, reporting.source
    reused = reused_split(task, run.examples, reporting.final, reporting.rows)
    summary = {
        "task": task.name, "method": cfg.method, "backbone": cfg.backbone, "readout": method.describe_readout(),
        "predict": method.predict, "seed": cfg.seed, "shots": cfg.shots, "n_prompts": cfg.n_prompts,
        "trainable_params": method.num_trainable_parameters(), "train_seconds": round(result.train_seconds, 2),
        "steps": result.steps, "best_step": result.best_step, "dev": result.best_metrics, "lr": lr,
        "run_dir": str(run_dir),
    }
    summary["packing"] = method.packer.report()
    if Capability.RUN_REPORT in method.capabilities:  # method-specific facts, e.g. APET's budget and placement
        summary.update(method.run_report())
    if test is not None and reporting.final == "test":
        summary["test"] = test["selected"]["metrics"]
    summary.update(summary_fields(result.selection, task.label_names, test))
    if source.few_shot:
        summary.update(shots_per_class=source.shots_per_class_drawn, official_draw=source.official_draw,
                       train_draw=len(run.examples["train"]),
                       selection_split=reporting.meta["protocol"]["selection_split"])
    if reused:  # the reported score would not be a held-out score
        summary["honest"], summary["reused_rows"] = False, reused
        print(f"infoprompt: warning: {reused}; the reported score is not held out (honest: false)", file=sys.stderr)
    return summary
