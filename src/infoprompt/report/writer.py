"""`infoprompt report RUNS_DIR`: every table as Markdown and CSV, plus mean learning-curve plots.

Output (default RUNS_DIR/report/): report.md (all tables), table1.csv … table4.csv,
convergence.csv (steps to each task's fixed level), auc.csv (area under the dev curve), cells.csv (one line per cell, with each seed's value) and
curves/<task>_np<N>_<shots|full>.png. The text depends only on the finished runs' files (no
paths, times or dates), so two sweeps that finished the same runs give byte-identical reports.
All files are written atomically while holding the report folder's lock, so two concurrent
`report` calls never interleave their files.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from pathlib import Path

from filelock import FileLock

from infoprompt.atomic_files import atomic_write_bytes
from infoprompt.report.curves import plot_mean_curves, read_curve
from infoprompt.report.runs import DEFAULT_SCORE_RULE, load_runs, variant_label, variant_sort_key, varying_keys
from infoprompt.report.tables import (
    DEFAULT_RE_TASKS,
    TASK_FLAGS,
    Table,
    convergence_tables,
    score_table,
    task_id,
    task_label,
)

SCORE_RULE_HEADLINE = {
    "selected": "Score (`--score selected`, the default): each run's reported split at the checkpoint its selection "
                "split kept, so no score chose itself (older runs: test when they have one, else their last dev "
                "evaluation).",
    "last": "Score (`--score last`): each run's reported split at its last evaluation.",
    "best-dev": "Score (`--score best-dev`): each run's best dev evaluation. OPTIMISTIC: every score chose itself.",
}
CELLS_HEADER = ["table", "method", "column", "task", "metric", "split", "mean", "std", "n", "values"]


@dataclass
class Report:
    markdown: str
    tables: list[Table]
    runs: int
    unfinished: int
    curve_groups: dict[str, tuple[str, list]] = field(default_factory=dict)  # file stem -> (title, curves)


def build_report(runs_dir: str | Path, *, metric: str | None = None, re_tasks=DEFAULT_RE_TASKS,
                 rule: str = DEFAULT_SCORE_RULE) -> Report:
    records, unfinished = load_runs(runs_dir, metric)
    re_tasks = set(re_tasks)
    full = [r for r in records if r.shots is None]
    few = [r for r in records if r.shots is not None]
    specs = [
        ("table1", "Table 1: full data, sequence classification", [r for r in full if r.task not in re_tasks],
         "n_prompts"),
        ("table2", "Table 2: full data, relation extraction / NER", [r for r in full if r.task in re_tasks],
         "n_prompts"),
        ("table3", "Table 3: few-shot, sequence classification", [r for r in few if r.task not in re_tasks], "shots"),
        ("table4", "Table 4: few-shot, relation extraction / NER", [r for r in few if r.task in re_tasks], "shots"),
    ]
    tables = [t for key, title, subset, axis in specs
              if (t := score_table(subset, key=key, title=title, axis=axis, metric=metric, rule=rule)) is not None]
    convergence, notes = convergence_tables(records)
    tables += convergence
    intro = [
        "# infoprompt report",
        "",
        f"{len(records)} finished runs" + (f"; {len(unfinished)} unfinished runs not included" if unfinished else "")
        + ".",
        "",
        "Cells: mean ± sample standard deviation (ddof=1) over seeds, n = number of seeds (runs). "
        + SCORE_RULE_HEADLINE[rule],
        "",
    ]
    body = [t.to_markdown() for t in tables] or ["No finished runs.\n"]
    markdown = "\n".join(intro) + "\n" + "\n".join(body) + ("\n" + "\n".join(f"- {n}" for n in notes) + "\n" if notes else "")
    return Report(markdown, tables, len(records), len(unfinished), _curve_groups(records))


def _curve_groups(records) -> dict[str, tuple[str, list]]:
    """Settings (task, np, shots) -> labelled curves of every condition in that setting, in table row order."""
    keys = varying_keys(records, set(TASK_FLAGS) | {"n_prompts", "shots"})
    labelled = []
    for record in records:
        curve = read_curve(record)
        if curve is not None:
            curve.label = variant_label(record, keys)
            labelled.append((variant_sort_key(record, curve.label), record.seed, record, curve))
    groups: dict[str, tuple[str, list]] = {}
    for _, _, record, curve in sorted(labelled, key=lambda item: item[:2]):
        name = f"{task_id(record)}_np{record.n_prompts}_{record.shots or 'full'}".replace(":", "-").replace("/", "-")
        title = f"{task_label(task_id(record))}, np={record.n_prompts}, " + (
            f"{record.shots} shots" if record.shots else "full data")
        groups.setdefault(name, (title, []))[1].append(curve)
    return groups


def write_report(runs_dir: str | Path, out: str | Path | None = None, *, metric: str | None = None,
                 re_tasks=DEFAULT_RE_TASKS, rule: str = DEFAULT_SCORE_RULE, plots: bool = True) -> Report:
    out = Path(out) if out else Path(runs_dir) / "report"
    out.mkdir(parents=True, exist_ok=True)
    report = build_report(runs_dir, metric=metric, re_tasks=re_tasks, rule=rule)
    with FileLock(out / ".lock"):
        written = {out / "report.md", out / "cells.csv"}
        atomic_write_bytes(out / "report.md", report.markdown.encode("utf-8"))
        cells = io.StringIO()
        writer = csv.writer(cells, lineterminator="\n")
        writer.writerow(CELLS_HEADER)
        for table in report.tables:
            atomic_write_bytes(out / f"{table.key}.csv", table.to_csv().encode("utf-8"))
            written.add(out / f"{table.key}.csv")
            writer.writerows(table.cell_rows())
        atomic_write_bytes(out / "cells.csv", cells.getvalue().encode("utf-8"))
        if plots:
            for name, (title, curves) in sorted(report.curve_groups.items()):
                written.add(plot_mean_curves(curves, out / "curves" / f"{name}.png", title=title))
        # Files of an earlier report that this one no longer has (e.g. a table whose runs were removed).
        stale = [*out.glob("table*.csv"), out / "convergence.csv", out / "auc.csv", *out.glob("curves/*.png")]
        for path in stale:
            if path.is_file() and path not in written:
                path.unlink()
    return report
