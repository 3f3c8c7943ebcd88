"""Data: readers for benchmark and user files, task definitions, few-shot sampling."""

from infoprompt.data.example import Example
from infoprompt.data.sampling import sample_few_shot
from infoprompt.data.tasks import TaskSpec, get_task, list_tasks

__all__ = ["Example", "TaskSpec", "get_task", "list_tasks", "sample_few_shot"]
