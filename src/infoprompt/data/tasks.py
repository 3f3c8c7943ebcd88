"""Task lookup: get_task, list_tasks and load_split over every registered task (label set, verbalizer,
metrics, and how to read each split).

A task carries its metric names and its primary metric, so the training loop and the reports read
them instead of special-casing a task. The tasks register themselves in `infoprompt.data.registry`
(below them); this module sits above the task modules and imports them all.
"""

from __future__ import annotations

import os
from pathlib import Path

from infoprompt.data import custom, glue, lmbff, semeval, spans, superglue  # noqa: F401  (registration)
from infoprompt.data.example import Example
from infoprompt.data.readers import BadRowPolicy
from infoprompt.data.registry import FILE_TASKS, TASKS, FileLoader, Loader, list_tasks  # noqa: F401  (public here)
from infoprompt.data.spec import TaskSpec
from infoprompt.errors import ConfigError

DATA_ENV = "INFOPROMPT_DATA"

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


def get_task(name: str) -> TaskSpec:
    """A fresh copy of the registered task's spec (callers may change it)."""
    spec = TASKS.get(name)
    return TaskSpec.from_dict(spec.to_dict())


def load_split(
    task: TaskSpec,
    split: str,
    data_dir: Path | None = None,
    policy: BadRowPolicy | None = None,
) -> list[Example]:
    """Read one split ("train", "dev", or "test" where the task has one) of a task from files, or from the hub if no dir is known."""
    policy = policy or BadRowPolicy()
    if task.splits:  # a custom task: its files are part of the spec
        if task.name in FILE_TASKS:
            return FILE_TASKS.get(task.name)(task, split, policy)
        return custom.load_custom_split(task, split, policy)
    if task.name not in TASKS:
        raise ConfigError(f"unknown task '{task.name}'")
    return TASKS.entry(task.name).loader(split, resolve_data_dir(data_dir), policy)


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
