"""The paper's table layouts from finished runs: cells are mean ± sample std (ddof=1) over seeds, with n.

Table 1: full data, sequence classification, one column per task and prompt count (np 1, 4).
Table 2: the same for relation extraction / NER tasks (e.g. "semeval").
Table 3: few-shot sequence classification, one column per task and shot count (64, 256).
Table 4: the same for relation extraction / NER tasks.
Rows are conditions: the method plus any flag that differs between runs of the table (ablation,
lr, ...); runs that differ only in seed share a cell. "avg" is the mean of the row's cell means,
as in the paper; a row missing some of the table's columns is averaged over the cells it has and
marked †. The convergence table gives, per condition and setting, the mean ± std over seeds of
the step at which a run first reaches 95% of its own best dev metric.
"""

from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from infoprompt.report.curves import read_curve
from infoprompt.report.runs import RunRecord, variant_label, variant_sort_key, varying_keys

CLASSIFICATION_ORDER = ["cola", "rte", "mrpc", "sst2"]
TASK_NAMES = {"cola": "CoLA", "rte": "RTE", "mrpc": "MRPC", "sst2": "SST-2", "semeval": "SemEval"}
# Flags that describe the task's data rather than the condition: part of the column, not the row.
TASK_FLAGS = frozenset({"task", "train_file", "dev_file", "test_file", "task_kind", "text_fields", "label_field",
                        "verbalizer"})
DEFAULT_RE_TASKS = ("semeval",)


@dataclass
class Cell:
    values: list[float]

    @property
    def n(self) -> int:
        return len(self.values)

    @property
    def mean(self) -> float:
        return float(np.mean(self.values))

    @property
    def std(self) -> float | None:
        """Sample standard deviation (ddof=1); None for a single seed."""
        return float(np.std(self.values, ddof=1)) if self.n > 1 else None

    def text(self, digits: int) -> str:
        spread = f" ± {self.std:.{digits}f}" if self.std is not None else ""
        return f"{self.mean:.{digits}f}{spread} (n={self.n})"


@dataclass
class Column:
    key: tuple
    label: str
    task: str
    metrics: set[str] = field(default_factory=set)
    splits: set[str] = field(default_factory=set)


@dataclass
class Row:
    label: str
    sort_key: tuple
    cells: dict[tuple, Cell] = field(default_factory=dict)


@dataclass
class Table:
    key: str
    title: str
    columns: list[Column]
    rows: list[Row]
    digits: int = 4
    show_average: bool = True
    caption: str = ""

    def average(self, row: Row) -> tuple[float | None, int]:
        means = [row.cells[c.key].mean for c in self.columns if c.key in row.cells]
        return (float(np.mean(means)) if means else None), len(means)

    def to_markdown(self) -> str:
        head = ["method", *[c.label for c in self.columns]] + (["avg"] if self.show_average else [])
        lines = [f"## {self.title}", ""]
        if self.caption:
            lines += [self.caption, ""]
        lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        incomplete = False
        for row in self.rows:
            cells = [row.cells[c.key].text(self.digits) if c.key in row.cells else "" for c in self.columns]
            if self.show_average:
                avg, count = self.average(row)
                mark = "†" if count < len(self.columns) else ""
                incomplete |= bool(mark)
                cells.append(f"{avg:.{self.digits}f}{mark}" if avg is not None else "")
            lines.append("| " + " | ".join([row.label, *cells]) + " |")
        if incomplete:
            lines += ["", "† averaged over the columns this row has runs for."]
        return "\n".join(lines) + "\n"

    def to_csv(self) -> str:
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        header = ["method"]
        for column in self.columns:
            header += [f"{column.label} mean", f"{column.label} std", f"{column.label} n"]
        if self.show_average:
            header += ["avg", "avg cells"]
        writer.writerow(header)
        for row in self.rows:
            out = [row.label]
            for column in self.columns:
                cell = row.cells.get(column.key)
                out += ["", "", 0] if cell is None else [_num(cell.mean), _num(cell.std), cell.n]
            if self.show_average:
                avg, count = self.average(row)
                out += [_num(avg), count]
            writer.writerow(out)
        return buffer.getvalue()

    def cell_rows(self) -> list[list]:
        """Long format: one line per cell, with the seeds' values (for analysis scripts)."""
        out = []
        for row in self.rows:
            for column in self.columns:
                cell = row.cells.get(column.key)
                if cell is not None:
                    out.append([self.key, row.label, column.label, column.task, "/".join(sorted(column.metrics)),
                                "/".join(sorted(column.splits)), _num(cell.mean), _num(cell.std), cell.n,
                                " ".join(_num(v) for v in cell.values)])
        return out


def _num(value: float | None) -> str:
    return "" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.10g}"


def task_id(record: RunRecord) -> str:
    """Column name of a run's task; custom tasks are told apart by their training file's folder."""
    if record.task == "custom" and record.args.get("train_file"):
        train = Path(str(record.args["train_file"]))
        return f"custom:{train.parent.name or train.stem}"
    return record.task


def task_label(task: str) -> str:
    return TASK_NAMES.get(task, task)


def _task_sort(task: str) -> tuple:
    return (CLASSIFICATION_ORDER.index(task) if task in CLASSIFICATION_ORDER else len(CLASSIFICATION_ORDER), task)


def _rows(records: list[RunRecord], exclude: set[str]) -> dict[int, tuple[str, tuple]]:
    """Row label and sort key for each record (by id): condition flags that vary within the table."""
    keys = varying_keys(records, exclude)
    labels: dict[str, str] = {}  # condition JSON -> label, made unique if two conditions print alike
    out = {}
    for record in records:
        condition = json.dumps({k: record.args.get(k) for k in keys}, sort_keys=True)
        if condition not in labels:
            label = variant_label(record, keys)
            while label in labels.values():
                label += "*"
            labels[condition] = label
        out[id(record)] = (labels[condition], variant_sort_key(record, labels[condition]))
    return out


def score_table(records: list[RunRecord], *, key: str, title: str, axis: str, metric: str | None = None,
                digits: int = 4) -> Table | None:
    """Rows = conditions, columns = task × `axis` ("n_prompts" or "shots"); None when no run fits."""
    if not records:
        return None
    rows_of = _rows(records, set(TASK_FLAGS) | {axis})
    columns: dict[tuple, Column] = {}
    rows: dict[str, Row] = {}
    for record in records:
        task = task_id(record)
        value = getattr(record, axis)
        column_key = (_task_sort(task), value)
        suffix = f"np{value}" if axis == "n_prompts" else f"{value}"
        column = columns.setdefault(column_key, Column(column_key, f"{task_label(task)} {suffix}", task))
        column.metrics.add(metric or record.primary_metric)
        column.splits.add(record.split)
        label, sort_key = rows_of[id(record)]
        row = rows.setdefault(label, Row(label, sort_key))
        row.cells.setdefault(column_key, Cell([])).values.append(record.score(metric))
    ordered_columns = [columns[k] for k in sorted(columns)]
    caption = "Scores: " + "; ".join(_describe(c) for c in _first_per_task(ordered_columns)) + "."
    return Table(key, title, ordered_columns, sorted(rows.values(), key=lambda r: r.sort_key), digits,
                 caption=caption)


def _first_per_task(columns: list[Column]) -> list[Column]:
    merged: dict[str, Column] = {}
    for column in columns:
        into = merged.setdefault(column.task, Column(column.key, column.label, column.task))
        into.metrics |= column.metrics
        into.splits |= column.splits
    return list(merged.values())


def _describe(column: Column) -> str:
    splits = "/".join(sorted(column.splits, reverse=True))  # "test/dev" when mixed
    return f"{task_label(column.task)} {splits} {'/'.join(sorted(column.metrics))}"


def convergence_table(records: list[RunRecord], fraction: float = 0.95) -> tuple[Table | None, list[str]]:
    """Convergence steps per condition (rows) and setting (task, np, shots); returns the table and notes."""
    notes = []
    rows_of = _rows(records, set(TASK_FLAGS) | {"n_prompts", "shots"})
    columns: dict[tuple, Column] = {}
    rows: dict[str, Row] = {}
    for record in records:
        curve = read_curve(record)
        if curve is None:
            notes.append(f"{record.name}: no dev evaluations in metrics.jsonl; left out of the convergence table")
            continue
        task = task_id(record)
        key = (_task_sort(task), record.n_prompts, record.shots or 0)
        label = f"{task_label(task)} np{record.n_prompts} " + (f"{record.shots}-shot" if record.shots else "full")
        column = columns.setdefault(key, Column(key, label, task))
        column.metrics.add(curve.metric)
        column.splits.add("dev")
        row_label, sort_key = rows_of[id(record)]
        row = rows.setdefault(row_label, Row(row_label, sort_key))
        row.cells.setdefault(key, Cell([])).values.append(float(curve.convergence_step(fraction)))
    if not rows:
        return None, notes
    ordered = [columns[k] for k in sorted(columns)]
    table = Table("convergence", f"Convergence: step reaching {fraction:.0%} of the run's best dev metric", ordered,
                  sorted(rows.values(), key=lambda r: r.sort_key), digits=1, show_average=False,
                  caption="Cells: mean ± sample std (ddof=1) over seeds of each run's first evaluation step at or "
                          f"above {fraction:g} × its own best dev score (metric: "
                          + "; ".join(f"{task_label(c.task)} {'/'.join(sorted(c.metrics))}"
                                      for c in _first_per_task(ordered)) + ").")
    return table, notes
