"""A reported score is flagged as not held out when its rows are the rows that trained or selected (issue 25)."""

from __future__ import annotations

from infoprompt.data.example import Example
from infoprompt.data.source import reused_split
from infoprompt.data.tasks import get_task


def _rows(prefix: str, n: int) -> list[Example]:
    return [Example(text_a=f"{prefix} {i}", label=i % 2) for i in range(n)]


def test_a_builtin_tasks_test_rows_equal_to_dev_are_flagged():
    task = get_task("sst5")  # built-in: no file digests to compare, only rows
    train, dev = _rows("train", 8), _rows("dev", 6)
    why = reused_split(task, {"train": train, "dev": dev}, "test", list(dev))
    assert why == "the test rows are the dev rows that selected the checkpoint"


def test_reported_rows_inside_the_training_rows_are_flagged():
    train = _rows("train", 8)
    why = reused_split(get_task("cr"), {"train": train, "dev": _rows("dev", 4)}, "test", train[:5])
    assert why == "the test rows are training rows"


def test_held_out_rows_are_not_flagged():
    train, dev, test = _rows("train", 8), _rows("dev", 4), _rows("test", 5)
    assert reused_split(get_task("sst5"), {"train": train, "dev": dev}, "test", test) is None
    assert reused_split(get_task("sst5"), {"train": train, "dev": dev}) is None
    overlapping = [*test, train[0]]  # one shared sentence is not a reused split
    assert reused_split(get_task("sst5"), {"train": train, "dev": dev}, "test", overlapping) is None
