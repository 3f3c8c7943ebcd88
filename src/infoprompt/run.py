"""The one run assembly: config (or checkpoint) -> task, backbone, method, template, features.

Every command builds its run here (`train`, `evaluate`, `predict`, `load`, `prune`, `analyze`,
`bench`, the APET experiments), so a method, family or data source added once reaches all of them,
and a checkpoint is rebuilt by exactly the path that trained it: the stored record supplies the
task, the method's config and the template size, and `restore_tensors` copies the saved tensors in.

    run = assemble_run(TrainConfig(task="sst2", method="warp"), splits=("train", "dev"))
    run.method(collate(run.features["train"][:8], run.template.pad_id))
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path

import torch

from infoprompt.backbones import Backbone, load_backbone
from infoprompt.config import TrainConfig
from infoprompt.data.custom import make_custom_task, parse_verbalizer
from infoprompt.data.example import Example
from infoprompt.data.frames import DATA_FIELDS, frame_examples, frame_task
from infoprompt.data.lmbff import official_draw
from infoprompt.data.readers import BadRowPolicy
from infoprompt.data.sampling import few_shot_draws, sample_few_shot, sample_per_class
from infoprompt.data.spans import make_span_task
from infoprompt.data.tasks import TaskSpec, get_task, load_split, resolve_data_dir
from infoprompt.errors import ConfigError, check_settings
from infoprompt.methods import MethodConfig, PromptMethod, build_method, method_classes
from infoprompt.prompting.template import Feature, Template
from infoprompt.training.checkpoint import check_backbone, check_shapes, read_checkpoint_config, restore_tensors

Prepare = Callable[[PromptMethod], dict]


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
    if record is None:
        task = task if task is not None else resolve_task(cfg, policy)
        method_name, method_config = cfg.method, method_config_of(cfg)
        max_length = cfg.max_length
    else:
        task = TaskSpec.from_dict(record["task"])
        method_name = record["method"]
        method_config = method_classes(method_name)[0].from_dict(dict(record["method_config"]))
        max_length = int(record.get("template", {}).get("max_length", cfg.max_length))
    method_config.validate()
    data_dir = resolve_data_dir(cfg.data_dir) if splits and not task.splits else None
    examples = read_splits(task, splits, data_dir, policy, cfg)
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
        check_settings([(limit is None or max_length <= limit,
                         f"--max-length {max_length}: backbone '{cfg.backbone}' takes at most {limit} tokens")])
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
    """The requested splits' examples; train is the seeded few-shot draw, an empty dev split is an error.
    Under --select-on few-shot, dev is the dev draw (data.sampling.few_shot_draws, or LM-BFF's official one)."""
    few_shot = cfg.select_on == "few-shot" and bool({"train", "dev"} & set(splits))  # dev: a draw from train
    examples = {split: load_examples(cfg, task, split, data_dir, policy) for split in splits
                if not (few_shot and split in ("train", "dev"))}
    if few_shot and cfg.official_draw:
        examples.update(official_draw(task.name, cfg.seed, data_dir, policy))
    elif few_shot:
        pool = load_examples(cfg, task, "train", data_dir, policy)
        examples["train"], examples["dev"] = few_shot_draws(pool, cfg.shots_per_class, cfg.seed)
    elif "train" in examples and cfg.shots_per_class is not None:
        examples["train"] = sample_per_class(examples["train"], cfg.shots_per_class, cfg.seed)
    elif "train" in examples and cfg.shots is not None:
        examples["train"] = sample_few_shot(examples["train"], cfg.shots, cfg.seed, stratified=cfg.stratified)
    examples = {split: examples[split] for split in splits}  # in the order asked for
    if "dev" in examples and not examples["dev"]:
        raise ConfigError(f"task '{task.name}': the dev split is empty")
    return examples


def reported_split(cfg: TrainConfig, task: TaskSpec) -> str | None:
    """The split scored once at the end and reported instead of a dev split: the labelled test split where the
    task has one; under the few-shot protocol, whose dev is a small draw, the full dev split otherwise."""
    if task.has_test:
        return "test"
    return "dev" if cfg.select_on == "few-shot" else None


def draw_names(cfg: TrainConfig, n_dev: int) -> str:
    """The few-shot protocol's selection split in words, with its size (summaries and checkpoint records)."""
    if cfg.official_draw:
        return f"dev: LM-BFF's official draw k-shot/16-{cfg.seed}/dev.csv (n={n_dev})"
    return (f"dev draw: {cfg.shots_per_class} per class from the training pool, disjoint from the training draw, "
            f"seed {cfg.seed} (n={n_dev})")


def load_examples(cfg: TrainConfig, task: TaskSpec, split: str, data_dir: Path | None,
                  policy: BadRowPolicy) -> list[Example]:
    """One split's examples: the config's in-memory rows if it has them, else the task's files."""
    rows = {"train": cfg.train_data, "dev": cfg.dev_data, "test": cfg.test_data}.get(split)
    if rows is not None:
        return frame_examples(rows, f"{split}_data", task, policy)
    return load_split(task, split, data_dir, policy)


def config_from_record(record: dict, **overrides) -> TrainConfig:
    """The TrainConfig a checkpoint was trained with (fields a record predates take their legacy values;
    a record without `train_config` gives what the record itself says)."""
    from infoprompt.api import LEGACY_DEFAULTS

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
    in_memory = cfg.train_data is not None or cfg.dev_data is not None or cfg.test_data is not None
    if not cfg.header and (in_memory or cfg.task_kind != "text"):
        raise ConfigError("--no-header is for CSV/TSV files with --task-kind text (JSONL and in-memory rows name "
                          "their fields)")
    if in_memory:
        return frame_task(cfg, policy)  # rows from Python (data/frames.py)
    if cfg.task != "custom":
        if cfg.train_file or cfg.dev_file or cfg.test_file or cfg.task_kind != "text" or not cfg.header:
            raise ConfigError("--train-file/--dev-file/--test-file/--task-kind/--no-header are for --task custom")
        if cfg.text_fields or cfg.label_field != "label":  # a built-in task reads its own fields: never ignored
            raise ConfigError(f"--text-fields/--label-field are for --task custom; task '{cfg.task}' reads its own "
                              "fields")
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
    task = make_custom_task(cfg.train_file, cfg.dev_file, cfg.text_fields, cfg.label_field, verbalizer, policy,
                            header=cfg.header)
    if cfg.test_file:
        task.splits["test"], task.has_test = str(cfg.test_file), True
    return task


def method_config_of(cfg: TrainConfig) -> MethodConfig:
    """The method's config: the run's shared flags, its own options and the ablation's zeros (checked by the
    configuration schema when `cfg` was made: an option another method has is one line, before any loading)."""
    return cfg.method_config()


def resolve_lr(cfg: TrainConfig) -> float:
    """The learning rate a run uses: the user's, else the method's `default_lr`."""
    if cfg.lr is not None:
        return cfg.lr
    return float(method_classes(cfg.method)[1].default_lr)
