"""Task definitions: label set, verbalizer, metrics, and how to read each split.

A task carries its metric names and its primary metric, so the training loop and the reports read
them instead of special-casing a task.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from infoprompt.data.example import Example
from infoprompt.data.readers import BadRowPolicy
from infoprompt.errors import ConfigError

DATA_ENV = "INFOPROMPT_DATA"

Loader = Callable[[str, "Path | None", BadRowPolicy], list[Example]]


@dataclass
class TaskSpec:
    """Everything downstream needs to know about a task (serialisable into a checkpoint)."""

    name: str
    label_names: list[str]
    verbalizer: list[str]
    metrics: list[str]
    primary_metric: str
    pair: bool = False
    text_fields: list[str] = field(default_factory=lambda: ["sentence"])
    label_field: str = "label"
    splits: dict[str, str] = field(default_factory=dict)  # custom tasks: split name -> file path
    # True when the loader also serves a labelled "test" split (e.g. SemEval's official test file):
    # training then scores the best checkpoint on it and reports it beside the dev metrics.
    has_test: bool = False
    # Custom tasks: False when the CSV/TSV files have no header row (`--no-header`): columns are then named
    # by position, "0", "1", ... Recorded only when False, so the records of every other task are unchanged.
    header: bool = True

    @property
    def num_labels(self) -> int:
        return len(self.label_names)

    def to_dict(self) -> dict:
        data = asdict(self)
        if data["header"]:
            del data["header"]
        return data

    @classmethod
    def from_dict(cls, data: dict) -> TaskSpec:
        return cls(**data)


# Convergence level per task: a fixed absolute value of the task's primary metric that a run has learned
# something once it reaches it (reports give the first step at or above it, beside the area under the dev
# curve). Fixed per task, not relative to the run's own best, so a run stuck at chance never "converges".
# Each sits clearly above what always predicting the dev majority class scores (rate in parentheses).
CONVERGENCE_LEVELS: dict[str, float] = {
    "sst2": 0.70,   # accuracy (0.509); a frozen mean-pool MiniLM probe scores 0.7339 ± 0.0150 at 256 shots
    #                 on the reported dev halves (n=5; docs/results/honest_fewshot_minilm/probe.jsonl)
    "rte": 0.56,    # accuracy (0.527); one binomial standard error above it on 277 examples
    "mrpc": 0.71,   # accuracy (0.684 = always "equivalent"); one standard error above it on 408 examples
    "cola": 0.10,   # Matthews correlation (0 = chance, which the majority class scores)
    # LM-BFF tasks (data/lmbff.py): two binomial standard errors above the majority rate of the 500-row dev hold-out
    "sst5": 0.32,   # accuracy (0.276 = always "negative"; test.csv: 0.286)
    "cr": 0.83,     # accuracy (0.786 = always "positive"; test.csv is balanced: 0.500)
    "mpqa": 0.78,   # accuracy (0.734 = always "negative"; test.csv is balanced: 0.500)
}


def convergence_level(task: str) -> float | None:
    """The task's convergence level on its primary metric (None: no level stated; reports then give the AUC only)."""
    return CONVERGENCE_LEVELS.get(task)


_REGISTRY: dict[str, tuple[TaskSpec, Loader]] = {}
# Task kinds whose files travel in the spec (`splits`) but need their own reader, by task name
# (e.g. the JSONL span kinds of data/spans.py).
FileLoader = Callable[[TaskSpec, str, BadRowPolicy], list[Example]]
_FILE_LOADERS: dict[str, FileLoader] = {}


def register_task(spec: TaskSpec, loader: Loader) -> None:
    _REGISTRY[spec.name] = (spec, loader)


def register_file_task(name: str, loader: FileLoader) -> None:
    _FILE_LOADERS[name] = loader


def list_tasks() -> list[str]:
    _ensure_builtin()
    return sorted(_REGISTRY) + ["custom"]


def get_task(name: str) -> TaskSpec:
    _ensure_builtin()
    if name not in _REGISTRY:
        raise ConfigError(f"unknown task '{name}' (choose from: {', '.join(list_tasks())})")
    spec = _REGISTRY[name][0]
    return TaskSpec.from_dict(spec.to_dict())


def load_split(
    task: TaskSpec,
    split: str,
    data_dir: Path | None = None,
    policy: BadRowPolicy | None = None,
) -> list[Example]:
    """Read one split ("train", "dev", or "test" where the task has one) of a task from files, or from the hub if no dir is known."""
    _ensure_builtin()
    policy = policy or BadRowPolicy()
    if task.splits:  # a custom task: its files are part of the spec
        if task.name in _FILE_LOADERS:
            return _FILE_LOADERS[task.name](task, split, policy)
        from infoprompt.data.custom import load_custom_split

        return load_custom_split(task, split, policy)
    if task.name not in _REGISTRY:
        raise ConfigError(f"unknown task '{task.name}'")
    return _REGISTRY[task.name][1](split, resolve_data_dir(data_dir), policy)


def resolve_data_dir(cli_value: str | Path | None) -> Path | None:
    """Data lookup order: --data-dir, then $INFOPROMPT_DATA, then None (meaning: the hub)."""
    value = cli_value if cli_value not in (None, "") else os.environ.get(DATA_ENV) or None
    if value is None:
        return None
    path = Path(value).expanduser()
    if not path.is_dir():
        source = "--data-dir" if cli_value else f"${DATA_ENV}"
        raise ConfigError(f"{source}: data directory '{path}' does not exist")
    return path


_BUILTIN_LOADED = False


def _ensure_builtin() -> None:
    global _BUILTIN_LOADED
    if not _BUILTIN_LOADED:
        _BUILTIN_LOADED = True
        # GLUE tasks; SemEval-2010 Task 8; the JSONL relation/typing kinds; SuperGLUE; LM-BFF's SST-5, CR, MPQA.
        from infoprompt.data import glue, lmbff, semeval, spans, superglue  # noqa: F401
