"""Where a run's task and rows come from: the narrow value `data/` receives of a run's config.

`TaskSource` holds only what reading a task needs (its name or custom files and fields, in-memory rows,
the few-shot draw, the bad-row policy); the run assembly builds it from a `TrainConfig`
(`TrainConfig.task_source()`), so nothing in `data/` knows the other settings of a run. Every check of the
custom-task options (`--train-file`, `--text-fields`, `--label-field`, `--no-header`, in-memory rows) is
`check_source`, here and nowhere else.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from infoprompt.data.custom import make_custom_task, parse_verbalizer
from infoprompt.data.example import Example
from infoprompt.data.frames import DATA_FIELDS, frame_examples, frame_task
from infoprompt.data.lmbff import OFFICIAL_SHOTS, official_draw
from infoprompt.data.readers import BadRowPolicy
from infoprompt.data.sampling import few_shot_draws, sample_few_shot, sample_per_class
from infoprompt.data.spans import make_span_task
from infoprompt.data.tasks import TaskSpec, get_task, load_split
from infoprompt.errors import ConfigError

FILE_FIELDS = ("train_file", "dev_file", "test_file")


@dataclass(frozen=True)
class TaskSource:
    """A task and its rows: a registered task (its files under `data_dir`, else the hub), custom files, or
    rows from Python; `select_on` and the shots fields say how the training (and dev) rows are drawn."""

    task: str = "sst2"
    data_dir: str | None = None
    train_file: str | None = None
    dev_file: str | None = None
    test_file: str | None = None
    task_kind: str = "text"
    text_fields: tuple[str, ...] | None = None
    label_field: str = "label"
    header: bool = True
    verbalizer: str | dict | None = None
    skip_bad_rows: bool = False
    train_data: Any = None
    dev_data: Any = None
    test_data: Any = None
    shots: int | None = None
    shots_per_class: int | None = None
    stratified: bool = False
    official_draw: bool = False
    seed: int = 0
    select_on: str = "dev-split"

    @property
    def in_memory(self) -> bool:
        return any(getattr(self, name) is not None for name in DATA_FIELDS)

    @property
    def few_shot(self) -> bool:
        """LM-BFF's protocol: dev is a draw from the training pool (or the official draw's dev file)."""
        return self.select_on == "few-shot"

    def rows(self, split: str) -> Any:
        """The in-memory rows given for `split`, or None."""
        return getattr(self, f"{split}_data", None) if split in ("train", "dev", "test") else None

    def has_test(self) -> bool:
        """Whether the task has a labelled test split (a custom task: a test file or test rows)."""
        if self.task == "custom":
            return bool(self.test_file or self.test_data is not None)
        return get_task(self.task).has_test

    def draw_names(self, n_dev: int) -> str:
        """The few-shot protocol's selection split in words, with its size (summaries and checkpoint records)."""
        if self.official_draw:
            return f"dev: LM-BFF's official draw k-shot/16-{self.seed}/dev.csv (n={n_dev})"
        return (f"dev draw: {self.shots_per_class} per class from the training pool, disjoint from the training "
                f"draw, seed {self.seed} (n={n_dev})")

    @property
    def shots_per_class_drawn(self) -> int:
        return self.shots_per_class or OFFICIAL_SHOTS


def check_source(source: TaskSource) -> None:
    """The custom-task options against each other and the task (before any file is read)."""
    if not source.header and (source.in_memory or source.task_kind != "text"):
        raise ConfigError("--no-header is for CSV/TSV files with --task-kind text (JSONL and in-memory rows name "
                          "their fields)")
    if source.in_memory:
        _check_in_memory(source)
    elif source.task != "custom":
        if any(getattr(source, f) for f in FILE_FIELDS) or source.task_kind != "text" or not source.header:
            raise ConfigError("--train-file/--dev-file/--test-file/--task-kind/--no-header are for --task custom")
        if source.text_fields or source.label_field != "label":  # a built-in task reads its own fields: never ignored
            raise ConfigError(f"--text-fields/--label-field are for --task custom; task '{source.task}' reads its "
                              "own fields")
    elif not source.train_file or not source.dev_file:
        raise ConfigError("--task custom needs --train-file and --dev-file")
    elif source.task_kind != "text":
        if source.text_fields or source.label_field != "label":
            raise ConfigError(f"--text-fields/--label-field are for --task-kind text; {source.task_kind} reads "
                              "JSONL spans")
    elif not source.text_fields:
        raise ConfigError("--task custom needs --text-fields a[,b]")


def _check_in_memory(source: TaskSource) -> None:
    given = [f for f in DATA_FIELDS if getattr(source, f) is not None]
    files = [f for f in FILE_FIELDS if getattr(source, f)]
    if source.task != "custom":
        raise ConfigError(f"{', '.join(given)}: in-memory data is for task='custom'")
    if files:
        raise ConfigError(f"give either files ({', '.join(files)}) or in-memory data ({', '.join(given)}), not both")
    if source.train_data is None or source.dev_data is None:
        raise ConfigError("task='custom' with in-memory data needs both train_data and dev_data")
    if source.task_kind != "text":
        raise ConfigError(f"in-memory data is for task_kind='text'; {source.task_kind} reads JSONL span files")
    if not source.text_fields:
        raise ConfigError("task='custom' needs text_fields=['a'] or ['a', 'b']")


def source_task(source: TaskSource, policy: BadRowPolicy) -> TaskSpec:
    """The task a source names: a registered one (verbalizer words optionally replaced), custom files, or
    rows from Python (data/frames.py)."""
    check_source(source)
    if source.in_memory:
        return frame_task(source.train_data, source.dev_data, source.test_data, list(source.text_fields),
                          source.label_field, _words(source.verbalizer), policy)
    if source.task != "custom":
        task = get_task(source.task)
        if source.verbalizer:
            words = dict(_words(source.verbalizer))
            unknown = set(words) - set(task.label_names)
            if unknown:
                raise ConfigError(f"--verbalizer: {sorted(unknown)} are not labels of {task.name} ({task.label_names})")
            task.verbalizer = [words.get(n, w) for n, w in zip(task.label_names, task.verbalizer)]
        return task
    verbalizer = _words(source.verbalizer)
    if source.task_kind != "text":
        return make_span_task(source.task_kind, source.train_file, source.dev_file, source.test_file, verbalizer,
                              policy)
    task = make_custom_task(source.train_file, source.dev_file, list(source.text_fields), source.label_field,
                            verbalizer, policy, header=source.header)
    if source.test_file:
        task.splits["test"], task.has_test = str(source.test_file), True
    return task


def _words(verbalizer: str | dict | None) -> dict | None:
    """`LABEL=word,...` parsed; a dict (from Python) as it is."""
    return parse_verbalizer(verbalizer) if isinstance(verbalizer, str) else verbalizer


def load_examples(source: TaskSource, task: TaskSpec, split: str, data_dir: Path | None,
                  policy: BadRowPolicy) -> list[Example]:
    """One split's examples: the source's in-memory rows if it has them, else the task's files."""
    rows = source.rows(split)
    if rows is not None:
        return frame_examples(rows, f"{split}_data", task, policy)
    return load_split(task, split, data_dir, policy)


def draw_splits(task: TaskSpec, splits: tuple[str, ...] | list[str], data_dir: Path | None, policy: BadRowPolicy,
                source: TaskSource) -> dict[str, list[Example]]:
    """The requested splits' examples; train is the seeded few-shot draw, an empty dev split is an error.
    Under --select-on few-shot, dev is the dev draw (data.sampling.few_shot_draws, or LM-BFF's official one)."""
    few_shot = source.few_shot and bool({"train", "dev"} & set(splits))  # dev: a draw from train
    examples = {split: load_examples(source, task, split, data_dir, policy) for split in splits
                if not (few_shot and split in ("train", "dev"))}
    if few_shot and source.official_draw:
        examples.update(official_draw(task.name, source.seed, data_dir, policy))
    elif few_shot:
        pool = load_examples(source, task, "train", data_dir, policy)
        examples["train"], examples["dev"] = few_shot_draws(pool, source.shots_per_class, source.seed)
    elif "train" in examples and source.shots_per_class is not None:
        examples["train"] = sample_per_class(examples["train"], source.shots_per_class, source.seed)
    elif "train" in examples and source.shots is not None:
        examples["train"] = sample_few_shot(examples["train"], source.shots, source.seed, stratified=source.stratified)
    examples = {split: examples[split] for split in splits}  # in the order asked for
    if "dev" in examples and not examples["dev"]:
        raise ConfigError(f"task '{task.name}': the dev split is empty")
    return examples


def reused_split(task: TaskSpec, examples: dict[str, list[Example]], reported: str | None = None,
                 reported_rows: list[Example] | None = None) -> str | None:
    """Why an evaluated split is not held out, or None: a dev or test file with the same content as the
    training or dev file, dev rows that are the training rows, or a reported split (`reported_rows`, e.g. a
    built-in task's test file in a user's data folder) whose rows are the dev rows or lie inside the training
    rows."""
    import hashlib

    files = {split: Path(path) for split, path in (task.splits or {}).items() if Path(path).is_file()}
    digests = {split: hashlib.sha256(path.read_bytes()).hexdigest() for split, path in files.items()}
    for later, earlier in (("dev", "train"), ("test", "dev"), ("test", "train")):
        if later in digests and digests.get(earlier) == digests[later]:
            return f"the {later} file {files[later]} has the same content as the {earlier} file {files[earlier]}"

    def rows(items: list[Example]) -> set:
        return {(e.text_a, e.text_b, e.label) for e in items}

    train, dev = rows(examples.get("train", [])), rows(examples.get("dev", []))
    if dev and dev == train:
        return "the dev rows are the training rows"
    if reported and reported_rows:
        final = rows(reported_rows)
        if dev and final == dev:
            return f"the {reported} rows are the dev rows that selected the checkpoint"
        if train and final <= train:
            return f"the {reported} rows are training rows"
    return None
