"""Learning curves from run directories: per-run curves, convergence steps, mean curves with a band.

Public API (also used by `infoprompt analyze curves`):

    curves = collect_curves("runs/fig3", task="sst2", n_prompts=4, method=["warp", "infoprompt"])
    plot_mean_curves(curves, "fig3_sst2.png", title="SST-2, np=4")

A curve is a run's dev metric at each evaluation (metrics.jsonl "eval" records). Convergence
step: the first evaluation step at which a run reaches `fraction` (0.95) of its own best dev
metric; for a best value b the threshold is b − (1 − fraction)·|b|, which is fraction·b for b > 0
and stays below b for b ≤ 0 (an MCC can be negative). A step logged twice (a resumed run that
replayed it) keeps its last record.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from infoprompt.errors import ConfigError, DataError
from infoprompt.report.runs import METRICS_LOG, RunRecord, load_runs, variant_label, varying_keys

__all__ = ["Curve", "MeanCurve", "collect_curves", "read_curve", "convergence_step", "mean_curve", "plot_mean_curves"]


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

    @property
    def method(self) -> str:
        return str(self.args.get("method"))

    @property
    def seed(self) -> int:
        return int(self.args.get("seed", 0))

    @property
    def best(self) -> float:
        return float(np.max(self.values))

    def convergence_step(self, fraction: float = 0.95) -> int | None:
        return convergence_step(self.steps, self.values, fraction)


@dataclass
class MeanCurve:
    """Mean and sample std (ddof=1) over curves at each step; n = curves covering that step."""

    steps: np.ndarray
    mean: np.ndarray
    std: np.ndarray
    n: np.ndarray


def convergence_step(steps, values, fraction: float = 0.95) -> int | None:
    """First step whose value reaches `fraction` of the curve's own best (see module docstring)."""
    if not 0 < fraction <= 1:
        raise ConfigError(f"convergence fraction must be in (0, 1], got {fraction}")
    values = np.asarray(values, dtype=float)
    if values.size == 0:
        return None
    best = float(np.max(values))
    threshold = best - (1.0 - fraction) * abs(best)
    index = int(np.argmax(values >= threshold))  # the first True
    return int(np.asarray(steps)[index])


def read_curve(record: RunRecord, metric: str | None = None) -> Curve | None:
    """The run's dev curve for `metric` (default: its primary metric); None when it has no metrics log."""
    path = record.run_dir / METRICS_LOG
    if not path.is_file():
        return None
    metric = metric or record.primary_metric
    by_step: dict[int, float] = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:
            raise DataError(f"{path}:{number}: not a JSON record") from None
        if entry.get("type") != "eval":
            continue
        scores = entry.get("metrics") or {}
        if metric not in scores:
            raise DataError(f"{path}:{number}: field 'metrics.{metric}' missing (has {sorted(scores)})")
        by_step[int(entry["step"])] = float(scores[metric])
    if not by_step:
        return None
    steps = np.array(sorted(by_step), dtype=int)
    return Curve(record.run_dir, record.task, metric, steps, np.array([by_step[s] for s in steps]), dict(record.args))


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


def plot_mean_curves(curves: list[Curve], path: str | Path, *, title: str | None = None, ylabel: str | None = None,
                     group_by: str = "label") -> Path:
    """One line per group (default: curve label) = mean over its runs, with a ±1 sample-std band (paper Fig. 3).

    Written atomically as PNG; returns the path.
    """
    from matplotlib.figure import Figure  # no pyplot: no global state, safe in threads and without a display

    from infoprompt.training.checkpoint import atomic_write_bytes

    if not curves:
        raise ConfigError("plot_mean_curves: no curves to plot")
    groups: dict[str, list[Curve]] = {}
    for curve in curves:
        key = curve.label if group_by == "label" else str(curve.args.get(group_by))
        groups.setdefault(key, []).append(curve)
    fig = Figure(figsize=(6.4, 4.2))
    ax = fig.subplots()
    for index, (name, members) in enumerate(groups.items()):
        m = mean_curve(members)
        color = f"C{index % 10}"
        ax.plot(m.steps, m.mean, color=color, label=f"{name} (n={len(members)})")
        band = ~np.isnan(m.std)
        if band.any():
            ax.fill_between(m.steps[band], (m.mean - m.std)[band], (m.mean + m.std)[band], color=color, alpha=0.2,
                            linewidth=0)
    metrics = sorted({c.metric for c in curves})
    ax.set_xlabel("step")
    ax.set_ylabel(ylabel or f"dev {'/'.join(metrics)}")
    if title:
        ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100, metadata={"Software": None})
    path = Path(path)
    atomic_write_bytes(path, buffer.getvalue())
    return path
