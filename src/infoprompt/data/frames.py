"""Rows from Python objects: a pandas DataFrame, a `datasets.Dataset`, or a list of dicts.

They become the same (where, row dict) pairs the file readers yield, so every field rule and error
of file data applies unchanged (`infoprompt.data.custom`); `where` names the object and the row
("train_data: DataFrame row 3") where a file row would name file:line. Missing cells (None, NaN,
pandas NA) are missing fields, never the text "nan". A `datasets.Dataset` ClassLabel column gives
its label names, not the integers, so a hub dataset's labels read as they do in its files.

Neither pandas nor datasets is imported here: an object can only be a DataFrame (a Dataset) if its
library is already loaded, so the check looks in `sys.modules`.
"""

from __future__ import annotations

import hashlib
import json
import math
import sys
from collections.abc import Mapping
from typing import Any

from infoprompt.data.custom import custom_spec, rows_to_examples, scan_labels
from infoprompt.data.example import Example
from infoprompt.data.readers import BadRowPolicy
from infoprompt.data.tasks import TaskSpec
from infoprompt.errors import ConfigError, DataError

DATA_FIELDS = ("train_data", "dev_data", "test_data")  # TrainConfig's in-memory data (API only)
KINDS = "a pandas DataFrame, a datasets.Dataset or a list of dicts"


def _instance(data: Any, module: str, name: str) -> bool:
    loaded = sys.modules.get(module)
    return loaded is not None and isinstance(data, getattr(loaded, name))


def kind_of(data: Any) -> str | None:
    """'DataFrame', 'Dataset' or 'list' for in-memory rows; None for anything else (e.g. a file path)."""
    if _instance(data, "pandas", "DataFrame"):
        return "DataFrame"
    if _instance(data, "datasets", "Dataset"):
        return "Dataset"
    if isinstance(data, (list, tuple)):
        return "list"
    return None


def is_rows(data: Any) -> bool:
    return kind_of(data) is not None


def _cell(value: Any) -> Any:
    """A missing cell is None (pandas writes NaN or NA for it), whatever the column's type."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    pandas = sys.modules.get("pandas")
    if (pandas is not None and value is pandas.NA) or type(value).__name__ == "NaTType":
        return None
    return value


def _records(data: Any, kind: str) -> list[tuple[Any, Any]]:
    """(row index, record) pairs; a DataFrame's index labels are the indices its user sees."""
    if kind == "DataFrame":
        if data.columns.has_duplicates:
            raise DataError(f"DataFrame: duplicate column names {sorted(map(str, data.columns[data.columns.duplicated()]))}")
        return list(zip(data.index.tolist(), data.to_dict("records")))
    if kind == "Dataset":
        from datasets import ClassLabel

        named = {k: f for k, f in data.features.items() if isinstance(f, ClassLabel)}
        records = data.to_list()
        for record in records:
            for key, feature in named.items():
                if isinstance(record.get(key), int) and 0 <= record[key] < feature.num_classes:
                    record[key] = feature.int2str(record[key])
        return list(enumerate(records))
    return list(enumerate(data))


def table_rows(data: Any, name: str) -> list[tuple[str, dict]]:
    """[(where, row)] for `data`; `name` is what the user called it (train_data, rows, ...)."""
    kind = kind_of(data)
    if kind is None:
        raise ConfigError(f"{name}: expected {KINDS}, got {type(data).__name__}")
    out = []
    for index, record in _records(data, kind):
        where = f"{name}: {kind} row {index}"
        if not isinstance(record, Mapping):
            raise DataError(f"{where}: expected a dict of fields, got {type(record).__name__}")
        out.append((where, {str(k): _cell(v) for k, v in record.items()}))
    if not out:
        raise DataError(f"{name}: the {kind} has no rows")
    return out


def describe(data: Any, name: str = "data") -> str:
    """What a run record keeps of in-memory rows (JSON-able): kind, size and a digest of the content,
    so a resumed run can tell whether it was given the same rows."""
    rows = [row for _, row in table_rows(data, name)]
    digest = hashlib.sha256(json.dumps(rows, sort_keys=True, default=str).encode("utf-8")).hexdigest()[:16]
    return f"<{name}: {kind_of(data)}, {len(rows)} rows, sha256 {digest}>"


def recordable(values: dict) -> dict:
    """A run config as JSON can hold it: in-memory data fields replaced by their description."""
    return {k: describe(v, k) if k in DATA_FIELDS and v is not None else v for k, v in values.items()}


def frame_task(train_data: Any, dev_data: Any, test_data: Any, text_fields: list[str], label_field: str,
               verbalizer: dict[str, str] | None, policy: BadRowPolicy) -> TaskSpec:
    """The custom task of in-memory rows (`TrainConfig.train_data` / `dev_data` / `test_data`, checked against
    the other task options by `data.source.check_source`): the label set comes from the training rows, exactly
    as `make_custom_task` reads it from a training file."""
    labels = scan_labels(table_rows(train_data, "train_data"), label_field, "train_data", policy)
    given = {"train": train_data, "dev": dev_data, "test": test_data}
    splits = {split: describe(rows, f"{split}_data") for split, rows in given.items() if rows is not None}
    task = custom_spec(labels, list(text_fields), label_field, verbalizer, splits, "train_data")
    task.has_test = test_data is not None
    return task


def frame_examples(data: Any, name: str, task: TaskSpec, policy: BadRowPolicy, *,
                   labelled: bool = True) -> list[Example]:
    """Examples of in-memory rows, checked field by field as file rows are (`rows_to_examples`)."""
    return rows_to_examples(table_rows(data, name), task, name, policy, labelled=labelled)


def text_rows_task(task: TaskSpec) -> TaskSpec:
    """`task`, if its examples are plain text fields; tasks whose examples carry entity spans, answer groups
    or a release format of their own (relation/typing kinds, SemEval, SuperGLUE) read their files only."""
    from infoprompt.data.spans import kind_of as span_kind
    from infoprompt.data.superglue import SUPERGLUE_FILE_TASKS

    if span_kind(task) is not None or task.name == "semeval" or task.name in SUPERGLUE_FILE_TASKS:
        raise ConfigError(f"task '{task.name}': rows from Python are for text tasks (custom, GLUE); "
                          "give its file format instead")
    return task


def require_file_split(task: TaskSpec, split: str) -> None:
    """A split a run read from in-memory rows has no file to read again: say so, instead of failing to open
    its description as a path."""
    source = task.splits.get(split, "")
    if source.startswith("<") and source.endswith(">"):
        raise ConfigError(f"this run's {split} split came from Python rows ({source}); give a file "
                          f"(--{split}-file) or score rows with load(run).evaluate_examples")
