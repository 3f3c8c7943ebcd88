"""Learning curves from run directories: per-run curves, convergence steps, mean curves with a band.

Public API (also used by `infoprompt analyze curves`):

    curves = collect_curves("runs/fig3", task="sst2", n_prompts=4, method=["warp", "infoprompt"])
    plot_mean_curves(curves, "fig3_sst2.png", title="SST-2, np=4")

A curve is a run's full-dev metric at each evaluation (metrics.jsonl "eval" records). Convergence is
measured against fixed references, never against the run's own best (which a run stuck at chance
"reaches" at its first evaluation): `steps_to_level`, the first step at or above the task's fixed
level (data.tasks.CONVERGENCE_LEVELS), and `curve_auc`, the area under the curve divided by its
step span. Plots draw the majority-class score (what always predicting the most frequent class
scores; MCC 0 for CoLA) and the task's level as reference lines. A step logged twice (a resumed
run that replayed it) keeps its last record.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from infoprompt.atomic_files import atomic_write_bytes
from infoprompt.errors import ConfigError, DataError
from infoprompt.report.runs import RunRecord, load_runs, variant_label, varying_keys
from infoprompt.rundir import METRICS_LOG

__all__ = ["Curve", "MeanCurve", "collect_curves", "read_curve", "steps_to_level", "curve_auc", "mean_curve",
           "plot_mean_curves"]


@dataclass
class Curve:
    """One run's dev metric against training step."""

    run_dir: Path
    task: str
    metric: str
    steps: np.ndarray
    values: np.ndarray
    args: dict[str, Any] = field(default_factory=dict)
    label: str = ""
    majority: float | None = None  # what always predicting the dev majority class scores (None: unknown)
    collapsed: bool | None = None  # the run's reported predictions collapsed onto one class (None: not recorded)

    @property
    def method(self) -> str:
        return str(self.args.get("method"))

    @property
    def seed(self) -> int:
        return int(self.args.get("seed", 0))

    @property
    def best(self) -> float:
        return float(np.max(self.values))

    def steps_to_level(self, level: float | None) -> int | None:
        return None if level is None else steps_to_level(self.steps, self.values, level)

    @property
    def auc(self) -> float:
        return curve_auc(self.steps, self.values)


@dataclass
class MeanCurve:
    """Mean and sample std (ddof=1) over curves at each step; n = curves covering that step."""

    steps: np.ndarray
    mean: np.ndarray
    std: np.ndarray
    n: np.ndarray


def steps_to_level(steps, values, level: float) -> int | None:
    """The first step whose value is at or above the fixed `level`; None when the curve never gets there."""
    values = np.asarray(values, dtype=float)
    reached = np.flatnonzero(values >= level)
    return int(np.asarray(steps)[reached[0]]) if reached.size else None


def curve_auc(steps, values) -> float:
    """Area under the curve (trapezoids) divided by its step span: the curve's mean level over training, in the
    metric's own units, higher when a run gets good sooner; a single evaluation gives its value."""
    steps, values = np.asarray(steps, dtype=float), np.asarray(values, dtype=float)
    if values.size == 0:
        return float("nan")
    if values.size == 1 or steps[-1] == steps[0]:
        return float(values[-1])
    return float(np.sum((values[1:] + values[:-1]) / 2 * np.diff(steps)) / (steps[-1] - steps[0]))


def read_curve(record: RunRecord, metric: str | None = None) -> Curve | None:
    """The run's dev curve for `metric` (default: its primary metric); None when it has no metrics log."""
    if not (record.run_dir / METRICS_LOG).is_file():
        return None
    metric = metric or record.primary_metric
    by_step: dict[int, float] = {}
    for entry in record.evaluations:  # the log's eval records, parsed and checked in one place
        scores = entry.get("metrics") or {}
        if metric not in scores:
            raise DataError(f"{record.run_dir / METRICS_LOG}: eval record of step {entry['step']}: field "
                            f"'metrics.{metric}' missing (has {sorted(scores)})")
        by_step[int(entry["step"])] = float(scores[metric])
    if not by_step:
        return None
    steps = np.array(sorted(by_step), dtype=int)
    return Curve(record.run_dir, record.task, metric, steps, np.array([by_step[s] for s in steps]), dict(record.args),
                 majority=dev_majority(record, metric), collapsed=record.collapsed)


def dev_majority(record: RunRecord, metric: str) -> float | None:
    """The majority-class score on the run's full dev split (the curve's split)."""
    recorded = (record.summary.get("dev_majority") or {}).get(metric)
    if recorded is not None:
        return float(recorded)
    from infoprompt.report.runs import data_majority

    return data_majority(record.task, "dev", record.args.get("data_dir"), metric)


def _matches(record: RunRecord, key: str, wanted: Any) -> bool:
    value = record.args.get(key)
    if key == "task":
        value = record.task
    if isinstance(wanted, (list, tuple, set, frozenset)):
        return value in wanted
    return value == wanted


def collect_curves(runs_dir: str | Path, metric: str | None = None, **filters: Any) -> list[Curve]:
    """Curves of the finished runs under `runs_dir` whose flags match `filters` (a list value: any of them).

    Filter keys are `infoprompt train` flags (`task`, `method`, `n_prompts`, `shots`, `seed`,
    `ablation`, ...). Each curve's `label` names its condition: the method plus the flags that
    differ between the collected runs (seed excluded), e.g. "InfoPrompt γ=0".
    """
    records, _ = load_runs(runs_dir, metric)
    filters = {k.replace("-", "_"): v for k, v in filters.items()}
    known = {k for r in records for k in r.args} | {"task"}
    unknown = sorted(set(filters) - known)
    if unknown and records:
        raise ConfigError(f"unknown filter(s) {unknown}: runs have flags {sorted(known)}")
    chosen = [r for r in records if all(_matches(r, k, v) for k, v in filters.items())]
    keys = varying_keys(chosen)
    curves = []
    for record in chosen:
        curve = read_curve(record, metric)
        if curve is not None:
            curve.label = variant_label(record, keys)
            curves.append(curve)
    return curves


def mean_curve(curves: list[Curve]) -> MeanCurve:
    """Mean ± sample std over curves. Curves evaluated at different steps are linearly interpolated onto the
    union of their steps, each only inside its own step range (no extrapolation)."""
    if not curves:
        raise ConfigError("mean_curve: no curves")
    same = all(np.array_equal(c.steps, curves[0].steps) for c in curves)
    if same:
        grid = curves[0].steps
        stack = np.stack([c.values for c in curves])
    else:
        grid = np.unique(np.concatenate([c.steps for c in curves]))
        stack = np.full((len(curves), grid.size), np.nan)
        for row, c in enumerate(curves):
            inside = (grid >= c.steps[0]) & (grid <= c.steps[-1])
            stack[row, inside] = np.interp(grid[inside], c.steps, c.values)
    n = np.sum(~np.isnan(stack), axis=0)
    mean = np.nanmean(stack, axis=0)
    std = np.full(grid.size, np.nan)
    several = n >= 2
    if several.any():
        std[several] = np.nanstd(stack[:, several], axis=0, ddof=1)
    return MeanCurve(np.asarray(grid), mean, std, n)


MATH_LABELS = {"γ=β=0": r"$\gamma=\beta=0$", "γ=0": r"$\gamma=0$", "β=0": r"$\beta=0$"}


def math_label(label: str) -> str:
    r"""A legend label with its Greek ablation names typeset by matplotlib's mathtext (e.g. InfoPrompt $\gamma=0$)."""
    for plain, math in MATH_LABELS.items():
        label = label.replace(plain, math)
    return label


def metric_label(metric: str) -> str:
    return {"matthews_corr": "Matthews correlation", "accuracy": "accuracy", "f1": "F1",
            "macro_f1": "macro F1"}.get(metric, metric.replace("_", " "))


def draw_references(ax, metric: str, majority: float | None, level: float | None = None) -> None:
    """The majority-class line (labelled for the legend) and, when given, the task's convergence level."""
    if majority is not None:
        name = "chance (majority class, MCC 0)" if metric == "matthews_corr" else "majority class"
        ax.axhline(majority, color="0.35", linestyle=":", linewidth=1.2, label=f"{name}: {majority:.3f}")
    if level is not None:
        ax.axhline(level, color="0.55", linestyle="--", linewidth=0.9, label=f"convergence level: {level:g}")


def plot_mean_curves(curves: list[Curve], path: str | Path, *, title: str | None = None, ylabel: str | None = None,
                     group_by: str = "label") -> Path:
    """One line per group (default: curve label) = mean over its runs, with a ±1 sample-std band (paper Fig. 3),
    every evaluation drawn as a point (so a run with a single evaluation still shows), the majority-class line
    and the task's convergence level. Written atomically as PNG; returns the path.
    """
    from matplotlib.figure import Figure  # no pyplot: no global state, safe in threads and without a display

    if not curves:
        raise ConfigError("plot_mean_curves: no curves to plot")
    fig = Figure(figsize=(6.4, 5.0))
    draw_mean_curves(fig.subplots(), curves, title=title, ylabel=ylabel, group_by=group_by)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100, metadata={"Software": None})
    path = Path(path)
    atomic_write_bytes(path, buffer.getvalue())
    return path


def draw_mean_curves(ax, curves: list[Curve], *, title: str | None = None, ylabel: str | None = None,
                     group_by: str = "label"):
    """Draw plot_mean_curves' content on `ax` (a matplotlib Axes); returns it."""
    from infoprompt.data.tasks import convergence_level

    groups: dict[str, list[Curve]] = {}
    for curve in curves:
        key = curve.label if group_by == "label" else str(curve.args.get(group_by))
        groups.setdefault(key, []).append(curve)
    banded = thinned = False
    for index, (name, members) in enumerate(groups.items()):
        m = mean_curve(members)
        color = f"C{index % 10}"
        collapsed = sum(bool(c.collapsed) for c in members)
        note = f", {collapsed} collapsed" if collapsed else ""
        # Runs stop at different steps (early stopping): past the first stop the mean is over the runs still
        # going, which flatters a method whose weak seeds stopped early, so that stretch is drawn dotted.
        full = m.n == len(members)
        last_full = int(np.flatnonzero(full)[-1]) if full.any() else -1
        ax.plot(m.steps[:last_full + 1], m.mean[:last_full + 1], color=color, marker="o", markersize=3.5,
                label=f"{math_label(name)} (n={len(members)}{note})")
        if last_full < len(m.steps) - 1:
            tail = slice(max(last_full, 0), None)
            ax.plot(m.steps[tail], m.mean[tail], color=color, linestyle=":", marker="o", markersize=2, alpha=0.6)
            thinned = True
        band = ~np.isnan(m.std)
        if band.any():
            ax.fill_between(m.steps[band], (m.mean - m.std)[band], (m.mean + m.std)[band], color=color, alpha=0.2,
                            linewidth=0)
            banded = True
    metrics = sorted({c.metric for c in curves})
    tasks = {c.task for c in curves}
    majorities = [c.majority for c in curves if c.majority is not None]
    majority = float(np.mean(majorities)) if majorities and len(metrics) == 1 else None
    level = convergence_level(next(iter(tasks))) if len(tasks) == 1 and len(metrics) == 1 else None
    draw_references(ax, metrics[0], majority, level)
    ax.set_xlabel("training step")
    ax.set_ylabel(ylabel or f"dev {' / '.join(metric_label(m) for m in metrics)}")
    if title:
        ax.set_title(title)
    ax.grid(alpha=0.3)
    handles, labels = ax.get_legend_handles_labels()
    if banded:  # one legend entry for every line's shaded band
        from matplotlib.patches import Patch

        handles.append(Patch(color="0.5", alpha=0.25))
        labels.append(r"shaded: $\pm 1$ sample std over seeds")
    if thinned:  # one legend entry for the dotted stretches where some runs had already stopped
        from matplotlib.lines import Line2D

        handles.append(Line2D([], [], color="0.4", linestyle=":", marker="o", markersize=2))
        labels.append("dotted: fewer runs (the others stopped early)")
    ax.legend(handles, labels, fontsize=7.5, loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=2,
              frameon=False)
    return ax
