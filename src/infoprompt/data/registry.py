"""The task registry (below the task modules): each task module registers its tasks here, one line each.

    register_task(SPEC, loader)          # a named task: its TaskSpec and `loader(split, data_dir, policy)`
    register_file_task("relation", fn)   # a task kind whose files travel in the spec: `fn(spec, split, policy)`

`infoprompt.data.tasks` (above the task modules) imports them all and offers get_task, list_tasks and
load_split. Recipe for a new task: `infoprompt.registry`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from infoprompt.data.example import Example
from infoprompt.data.readers import BadRowPolicy
from infoprompt.data.spec import TaskSpec
from infoprompt.registry import Entry, Registry

Loader = Callable[[str, "Path | None", BadRowPolicy], list[Example]]
FileLoader = Callable[[TaskSpec, str, BadRowPolicy], list[Example]]


@dataclass(frozen=True)
class TaskEntry(Entry):
    """A named task: `obj` is its TaskSpec; `loader` reads one of its splits."""

    loader: Loader | None = None


def list_tasks() -> list[str]:
    """Every task name, sorted, then `custom` (your own files)."""
    return sorted(TASKS.entries) + ["custom"]


TASKS: Registry[TaskEntry] = Registry("task", TaskEntry, choices=lambda registry: list_tasks())
# Task kinds whose files travel in the spec (`splits`) but need their own reader, by task name
# (e.g. the JSONL span kinds of data/spans.py).
FILE_TASKS: Registry = Registry("file task")


def register_task(spec: TaskSpec, loader: Loader, **fields) -> TaskEntry:
    """The one registry line of a task: its spec (named `spec.name`) and its split loader."""
    return TASKS.add(spec.name, spec, loader=loader, **fields)


def register_file_task(name: str, loader: FileLoader) -> Entry:
    return FILE_TASKS.add(name, loader)
