"""A run's learning-curve PNG (RUN_DIR/learning_curve.png): dev metric and training loss against step.

Drawn from the run's metrics log once training ends (`infoprompt.api.train`), with the references the report's
mean curves use (`report.curves.draw_references`), so it lives beside them rather than in training.
"""

from __future__ import annotations

import io
from pathlib import Path

from infoprompt.atomic_files import atomic_write_bytes
from infoprompt.report.curves import draw_references, metric_label
from infoprompt.rundir import read_records

__all__ = ["read_log", "plot_learning_curve", "learning_curve_figure"]


def read_log(path: Path) -> list[dict]:
    """Every record of a metrics log, read by the one JSON-lines reader (`infoprompt.rundir`, its torn-line policy)."""
    return read_records(path)


def plot_learning_curve(log_path: Path, png_path: Path, metric: str, title: str = "", *,
                        majority: float | None = None, level: float | None = None) -> None:
    """Save `learning_curve_figure` of the run's metrics log as a PNG."""
    fig = learning_curve_figure(read_log(log_path), metric, title, majority=majority, level=level)
    buffer = io.BytesIO()
    fig.savefig(buffer, dpi=100, format="png")
    atomic_write_bytes(png_path, buffer.getvalue())  # temp-and-rename: a symlink there is replaced, not written through


def learning_curve_figure(records: list[dict], metric: str, title: str = "", *, majority: float | None = None,
                          level: float | None = None):
    """Dev metric against step (every evaluation a point, so a single evaluation still shows), the checkpoint
    the run kept, the majority-class line (`majority`: what always predicting the dev majority class scores)
    and the task's convergence level, with the training loss (running mean) on a second axis; one legend
    below the axes naming every line and marker. A matplotlib Figure (no pyplot: no global state)."""
    from matplotlib.figure import Figure

    evals = [r for r in records if r.get("type") == "eval"]
    trains = [r for r in records if r.get("type") == "train"]
    closing = next((r for r in reversed(records) if r.get("type") == "selection"), {})
    fig = Figure(figsize=(6.4, 4.8))
    ax = fig.subplots()
    name = metric_label(metric)
    # --eval-subsample: in-training points score the subsample, some (kept, stopping, last) the full split too;
    # each gets its own series and says which it is.
    full = [r for r in evals if "subsample" not in r or "subset" in r]
    ax.plot([r["step"] for r in full], [r["metrics"][metric] for r in full], "o-", color="C0", markersize=4,
            label=f"dev {name} (full split)")
    sub = [(r["step"], (r["subset"] if "subset" in r else r)["metrics"][metric]) for r in evals if "subsample" in r]
    if sub:
        ax.plot([s for s, _ in sub], [v for _, v in sub], "s--", color="C4", markersize=3, alpha=0.8,
                label=f"dev {name} (subsample of {evals[-1]['subsample']} rows)")
    kept = [r for r in evals if r["step"] == closing.get("selected_step")]
    if kept and closing.get("select_on") != "last":
        ax.plot([kept[0]["step"]], [kept[0]["metrics"][metric]], marker="*", markersize=13, color="C2",
                linestyle="none", label="kept checkpoint (" + ("chosen on the selection half)"
                                                              if closing.get("select_on") == "dev-split"
                                                              else "chosen on dev)"))
    draw_references(ax, metric, majority, level)
    ax.set_xlabel("training step")
    ax.set_ylabel(f"dev {name}", color="C0")
    handles, labels = ax.get_legend_handles_labels()
    if trains:
        window = max(1, len(trains) // 50)
        losses = [r["total"] for r in trains]
        smooth = [sum(losses[max(0, i - window + 1): i + 1]) / len(losses[max(0, i - window + 1): i + 1])
                  for i in range(len(losses))]
        ax2 = ax.twinx()
        ax2.plot([r["step"] for r in trains], smooth, color="C1", alpha=0.7,
                 label="train loss" + (f" (running mean of {window} steps)" if window > 1 else ""))
        ax2.set_ylabel("train loss (running mean)", color="C1")
        more_handles, more_labels = ax2.get_legend_handles_labels()
        handles, labels = handles + more_handles, labels + more_labels
    ax.grid(alpha=0.3)
    ax.set_title(title, fontsize=10)
    fig.tight_layout(rect=(0, 0.14, 1, 1))  # the legend goes below the axes, where it hides no point
    fig.legend(handles, labels, fontsize=7.5, loc="lower center", ncol=2, frameon=False)
    return fig
