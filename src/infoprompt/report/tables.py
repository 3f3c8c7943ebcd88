"""The paper's table layouts from finished runs: cells are mean ± sample std (ddof=1) over seeds, with n.

Table 1: full data, sequence classification, one column per task and prompt count (np 1, 4).
Table 2: the same for relation extraction / NER tasks (e.g. "semeval").
Table 3: few-shot sequence classification, one column per task and shot count (64, 256).
Table 4: the same for relation extraction / NER tasks.
Rows are conditions: the method plus any flag that differs between runs of the table (ablation,
lr, ...); runs that differ only in seed share a cell. "avg" is the mean of the row's cell means,
as in the paper; a row missing some of the table's columns is averaged over the cells it has and
marked †. Every score table has a "majority class" row: what always predicting the reported split's
most frequent class scores (accuracy = the majority-class rate; Matthews correlation 0 = chance).
A cell says how many of its runs collapsed (>= 95 % of predictions in one class) and is marked ◊
when some of its scores chose themselves (see report.runs for the score rules).

Convergence, measured on each run's full-dev learning curve: the first step at which the primary
metric reaches the task's fixed level (data.tasks.CONVERGENCE_LEVELS; a run that never reaches it
is counted, not averaged), and the area under the dev curve (trapezoids over the run's evaluated
steps divided by their span, so in the metric's own units; one evaluation: its value).
"""

from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from infoprompt.report.curves import curve_auc, read_curve, steps_to_level
from infoprompt.report.runs import DEFAULT_SCORE_RULE, RunRecord, variant_label, variant_sort_key, varying_keys

CLASSIFICATION_ORDER = ["cola", "rte", "mrpc", "sst2"]
TASK_NAMES = {"cola": "CoLA", "rte": "RTE", "mrpc": "MRPC", "sst2": "SST-2", "semeval": "SemEval"}
# Flags that describe the task's data rather than the condition: part of the column, not the row.
TASK_FLAGS = frozenset({"task", "train_file", "dev_file", "test_file", "task_kind", "text_fields", "label_field",
                        "verbalizer"})
DEFAULT_RE_TASKS = ("semeval",)


@dataclass
class Cell:
    values: list[float]
    collapsed: int = 0  # runs whose reported predictions collapsed onto one class
    unknown_collapse: int = 0  # runs that did not record it (made before issue 17)
    optimistic: int = 0  # runs whose score chose itself
    total: int | None = None  # runs in the cell when `values` holds only some (e.g. those that reached a level)

    def add(self, value: float, collapsed: bool | None = None, optimistic: bool = False) -> None:
        self.values.append(value)
        self.collapsed += bool(collapsed)
        self.unknown_collapse += collapsed is None
        self.optimistic += bool(optimistic)

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
        if self.total is not None and not self.values:
            return f"never (0/{self.total})"
        spread = f" ± {self.std:.{digits}f}" if self.std is not None else ""
        count = f"{self.n}/{self.total} reached" if self.total is not None else f"n={self.n}"
        notes = [f"{self.collapsed} collapsed"] if self.collapsed else []
        return f"{self.mean:.{digits}f}{spread} ({'; '.join([count, *notes])})" + ("◊" if self.optimistic else "")


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
    reference: dict[tuple, Cell] = field(default_factory=dict)  # column key -> majority-class scores
    reference_label: str = "majority class"

    def average(self, row: Row) -> tuple[float | None, int]:
        means = [row.cells[c.key].mean for c in self.columns if c.key in row.cells and row.cells[c.key].values]
        return (float(np.mean(means)) if means else None), len(means)

    def _reference_row(self) -> Row | None:
        return Row(self.reference_label, (), dict(self.reference)) if self.reference else None

    def to_markdown(self) -> str:
        head = ["method", *[c.label for c in self.columns]] + (["avg"] if self.show_average else [])
        lines = [f"## {self.title}", ""]
        if self.caption:
            lines += [self.caption, ""]
        lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        incomplete = False
        reference = self._reference_row()
        for row in self.rows:
            cells = [row.cells[c.key].text(self.digits) if c.key in row.cells else "" for c in self.columns]
            if self.show_average:
                avg, count = self.average(row)
                mark = "†" if count < len(self.columns) else ""
                incomplete |= bool(mark)
                cells.append(f"{avg:.{self.digits}f}{mark}" if avg is not None else "")
            lines.append("| " + " | ".join([row.label, *cells]) + " |")
        if reference is not None:
            cells = [f"{reference.cells[c.key].mean:.{self.digits}f}" if c.key in reference.cells else "?"
                     for c in self.columns]
            if self.show_average:
                avg, count = self.average(reference)
                cells.append(f"{avg:.{self.digits}f}" + ("†" if count < len(self.columns) else "") if avg is not None
                             else "")
            lines.append("| " + " | ".join([f"*{self.reference_label}*", *cells]) + " |")
        notes = []
        if incomplete:
            notes.append("† averaged over the columns this row has runs for.")
        if reference is not None:
            unknown = any(c.key not in reference.cells for c in self.columns)
            notes.append(f"*{self.reference_label}*: always predicting the reported split's most frequent class "
                         "(accuracy = the majority-class rate; Matthews correlation 0 = chance)"
                         + ("; ? = not recorded by the runs, and their data is not found here." if unknown else "."))
        if any(cell.collapsed for row in self.rows for cell in row.cells.values()):
            notes.append("k collapsed: k of the cell's runs predicted one class for >= 95 % of the reported examples "
                         "(their score is the majority class's, not a result).")
        if any(cell.unknown_collapse for row in self.rows for cell in row.cells.values()):
            notes.append("Runs made before issue 17 did not record their predictions: a collapse cannot be ruled out.")
        if any(cell.optimistic for row in self.rows for cell in row.cells.values()):
            notes.append("◊ some of the cell's scores chose themselves (best dev evaluation, or --select-on dev): "
                         "optimistic.")
        if notes:
            lines += ["", *notes]
        return "\n".join(lines) + "\n"

    def to_csv(self) -> str:
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        header = ["method"]
        for column in self.columns:
            header += [f"{column.label} mean", f"{column.label} std", f"{column.label} n",
                       f"{column.label} collapsed"]
        if self.show_average:
            header += ["avg", "avg cells"]
        writer.writerow(header)
        reference = self._reference_row()
        for row in self.rows + ([reference] if reference is not None else []):
            out = [row.label]
            for column in self.columns:
                cell = row.cells.get(column.key)
                out += ["", "", 0, ""] if cell is None or not cell.values else [
                    _num(cell.mean), _num(cell.std), cell.n, "" if row is reference else cell.collapsed]
            if self.show_average:
                avg, count = self.average(row)
                out += [_num(avg), count]
            writer.writerow(out)
        return buffer.getvalue()

    def cell_rows(self) -> list[list]:
        """Long format: one line per cell, with the seeds' values (for analysis scripts)."""
        out = []
        reference = self._reference_row()
        for row in self.rows + ([reference] if reference is not None else []):
            for column in self.columns:
                cell = row.cells.get(column.key)
                if cell is not None and cell.values:
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


SCORE_RULE_TEXT = {
    "selected": "each run's reported split at the checkpoint its selection split kept (the score never chose "
                "itself)",
    "last": "each run's reported split at its last evaluation",
    "best-dev": "each run's best dev evaluation (optimistic: the score chose itself)",
}


def score_table(records: list[RunRecord], *, key: str, title: str, axis: str, metric: str | None = None,
                digits: int = 4, rule: str = DEFAULT_SCORE_RULE) -> Table | None:
    """Rows = conditions, columns = task × `axis` ("n_prompts" or "shots"); None when no run fits."""
    if not records:
        return None
    rows_of = _rows(records, set(TASK_FLAGS) | {axis})
    columns: dict[tuple, Column] = {}
    rows: dict[str, Row] = {}
    reference: dict[tuple, Cell] = {}
    for record in records:
        task = task_id(record)
        value = getattr(record, axis)
        column_key = (_task_sort(task), value)
        suffix = f"np{value}" if axis == "n_prompts" else f"{value}"
        column = columns.setdefault(column_key, Column(column_key, f"{task_label(task)} {suffix}", task))
        column.metrics.add(metric or record.primary_metric)
        score, split, optimistic = record.scored(metric, rule)
        column.splits.add(split)
        label, sort_key = rows_of[id(record)]
        row = rows.setdefault(label, Row(label, sort_key))
        row.cells.setdefault(column_key, Cell([])).add(score, record.collapsed, optimistic)
        majority = record.majority(metric)
        if majority is not None:
            reference.setdefault(column_key, Cell([])).add(majority, collapsed=False)
    ordered_columns = [columns[k] for k in sorted(columns)]
    caption = (f"Score: {SCORE_RULE_TEXT[rule]}. Splits and metrics: "
               + "; ".join(_describe(c) for c in _first_per_task(ordered_columns)) + ".")
    return Table(key, title, ordered_columns, sorted(rows.values(), key=lambda r: r.sort_key), digits,
                 caption=caption, reference=reference)


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


def convergence_tables(records: list[RunRecord]) -> tuple[list[Table], list[str]]:
    """Steps to the task's fixed level and the area under the dev curve, per condition and setting; plus notes."""
    from infoprompt.data.tasks import convergence_level

    notes = []
    rows_of = _rows(records, set(TASK_FLAGS) | {"n_prompts", "shots"})
    columns: dict[tuple, Column] = {}
    level_rows: dict[str, Row] = {}
    auc_rows: dict[str, Row] = {}
    levels: dict[str, tuple[float | None, str]] = {}
    for record in records:
        curve = read_curve(record)
        if curve is None:
            notes.append(f"{record.name}: no dev evaluations in metrics.jsonl; left out of the convergence tables")
            continue
        task = task_id(record)
        key = (_task_sort(task), record.n_prompts, record.shots or 0)
        label = f"{task_label(task)} np{record.n_prompts} " + (f"{record.shots}-shot" if record.shots else "full")
        column = columns.setdefault(key, Column(key, label, task))
        column.metrics.add(curve.metric)
        column.splits.add("dev")
        level = convergence_level(record.task) if curve.metric == record.primary_metric else None
        levels[task] = (level, curve.metric)
        row_label, sort_key = rows_of[id(record)]
        auc_rows.setdefault(row_label, Row(row_label, sort_key)).cells.setdefault(key, Cell([])).add(
            curve_auc(curve.steps, curve.values), record.collapsed)
        if level is not None:
            cell = level_rows.setdefault(row_label, Row(row_label, sort_key)).cells.setdefault(key, Cell([], total=0))
            cell.total = (cell.total or 0) + 1
            step = steps_to_level(curve.steps, curve.values, level)
            if step is not None:
                cell.add(float(step), record.collapsed)
    ordered = [columns[k] for k in sorted(columns)]
    stated = "; ".join(f"{task_label(t)} {m} {lv:g}" for t, (lv, m) in sorted(levels.items()) if lv is not None)
    unstated = sorted(task_label(t) for t, (lv, _) in levels.items() if lv is None)
    tables = []
    if level_rows:
        tables.append(Table(
            "convergence", "Convergence: first step at the task's fixed level", ordered,
            sorted(level_rows.values(), key=lambda r: r.sort_key), digits=1, show_average=False,
            caption=f"Levels (full dev, primary metric): {stated}"
                    + (f"; none stated for {', '.join(unstated)}" if unstated else "")
                    + ". Cells: mean ± sample std over the runs that reached the level, and how many did."))
    if auc_rows:
        tables.append(Table(
            "auc", "Area under the dev curve", ordered, sorted(auc_rows.values(), key=lambda r: r.sort_key),
            digits=4, show_average=False,
            caption="Cells: mean ± sample std over seeds of each run's dev curve averaged over its evaluated steps "
                    "(trapezoids divided by the step span; metric: "
                    + "; ".join(f"{task_label(c.task)} {'/'.join(sorted(c.metrics))}"
                                for c in _first_per_task(ordered)) + "). Higher = better sooner."))
    return tables, notes
