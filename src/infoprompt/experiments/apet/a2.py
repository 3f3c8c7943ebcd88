"""A2, budget sweep: accuracy vs budget on a log scale, with the low and high thresholds.

Low threshold: the first budget whose dev accuracy beats the majority-class level by more than one
binomial standard error of that level on the dev set (sqrt(p(1-p)/n): 1.7 points on SST-2, 2.3 on
MRPC), so one lucky example does not count as "beating random guessing". The majority level is
stronger than the paper's 100/C chance on unbalanced dev sets such as MRPC; both are recorded.
High threshold: the first budget within `tolerance` points of full fine-tuning (`--method finetune`,
same data, epochs and seed); undefined when fine-tuning itself does not clear the low bar.
"""

from __future__ import annotations

import math
from pathlib import Path

from infoprompt.experiments.apet.common import (
    Setup,
    accuracy,
    compact,
    label_levels,
    run_all,
    write_outputs,
)


def thresholds(budgets: list[int], accs: list[float | None], low_level: float, high_level: float | None,
               tolerance: float, margin: float = 0.0) -> dict:
    """First budget with acc > low_level + margin, and first with acc >= high_level - tolerance (None if never).

    The high threshold is None when `high_level` (fine-tuning) does not itself clear low_level + margin.
    """
    low = next((b for b, a in zip(budgets, accs) if a is not None and a > low_level + margin), None)
    high = None
    if high_level is not None and high_level > low_level + margin:
        high = next((b for b, a in zip(budgets, accs) if a is not None and a >= high_level - tolerance), None)
    return {"low": low, "high": high}


def standard_error(level: float, n: int) -> float:
    """One binomial standard error (in points) of an accuracy `level` (%) measured on n examples."""
    p = level / 100.0
    return 100.0 * math.sqrt(p * (1 - p) / n)


def run_a2(setup: Setup, budgets: list[int], tolerance: float, out_dir: Path, runs_dir: Path) -> dict:
    grid = [setup.flags(task, "finetune") for task in setup.tasks]
    keys: list[tuple[str, int | None]] = [(task, None) for task in setup.tasks]
    for budget in budgets:
        for task in setup.tasks:
            grid.append(setup.flags(task, "apet", budget=budget))
            keys.append((task, budget))
    levels = {task: label_levels(task, setup.data_dir) for task in setup.tasks}

    def report(results: list) -> dict:
        curves = {}
        for task in setup.tasks:
            finetune = next((accuracy(r) for (t, b), r in zip(keys, results) if t == task and b is None), None)
            accs = [next((accuracy(r) for (t, bb), r in zip(keys, results) if t == task and bb == b), None)
                    for b in budgets]
            margin = standard_error(levels[task]["majority"], levels[task]["dev_size"])
            curves[task] = {"budgets": budgets, "accuracy": accs, "finetune": finetune, **levels[task],
                            "low_margin": margin,
                            "thresholds": thresholds(budgets, accs, levels[task]["majority"], finetune, tolerance,
                                                     margin)}
        record = {"experiment": "A2", "setup": setup.__dict__, "tolerance": tolerance, "curves": curves,
                  "low_level": "majority-class dev accuracy", "runs": [
                      {"task": t, "budget": b, **(compact(r) or {"missing": True})} for (t, b), r in zip(keys, results)]}
        write_outputs(out_dir, "a2", record, markdown(record), lambda path: plot(record, path))
        return record

    results = run_all(grid, runs_dir, report)
    return report(results)


def _fmt(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}"


def markdown(record: dict) -> str:
    curves = record["curves"]
    tasks = list(curves)
    budgets = next(iter(curves.values()))["budgets"] if curves else []
    lines = [f"# A2: budget sweep (backbone {record['setup']['backbone']}, dev accuracy %)", "",
             "| budget | " + " | ".join(tasks) + " |", "|---:|" + "---:|" * len(tasks)]
    for i, b in enumerate(budgets):
        lines.append(f"| {b:,} | " + " | ".join(_fmt(curves[t]["accuracy"][i]) for t in tasks) + " |")
    lines.append("| finetune | " + " | ".join(_fmt(curves[t]["finetune"]) for t in tasks) + " |")
    lines.append("| majority | " + " | ".join(_fmt(curves[t]["majority"]) for t in tasks) + " |")
    lines += ["", "Low threshold: first budget above the majority-class level by more than one binomial standard "
              "error of the dev set; high threshold: first budget within "
              f"{record['tolerance']} point(s) of full fine-tuning (undefined when fine-tuning does not clear the low "
              "bar).", ""]
    for t in tasks:
        th, curve = curves[t]["thresholds"], curves[t]
        undefined = curve["finetune"] is not None and curve["finetune"] <= curve["majority"] + curve["low_margin"]
        high = th["high"] if th["high"] is not None else ("undefined (fine-tuning below the low bar)" if undefined
                                                          else "not reached")
        lines.append(f"- {t}: low bar {curve['majority'] + curve['low_margin']:.2f}; "
                     f"low threshold {th['low'] if th['low'] is not None else 'not reached'}; "
                     f"high bar {_fmt(None if curve['finetune'] is None else curve['finetune'] - record['tolerance'])}; "
                     f"high threshold {high}")
    return "\n".join(lines) + "\n"


def budget_label(budget: float, _position=None) -> str:
    """A compact tick label for a budget (16, 256, 1.02k, 262k): short enough that a log axis never collides."""
    return f"{budget:.0f}" if budget < 1000 else f"{budget / 1000:.3g}k"


def plot(record: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D
    from matplotlib.ticker import FixedLocator, FuncFormatter, NullFormatter

    fig, ax = plt.subplots(figsize=(7.0, 4.6))
    budgets: set[int] = set()
    for i, (task, curve) in enumerate(record["curves"].items()):
        color = f"C{i}"
        points = [(b, a) for b, a in zip(curve["budgets"], curve["accuracy"]) if a is not None]
        budgets |= set(curve["budgets"])
        if points:
            ax.plot(*zip(*points), "o-", color=color, label=task)
        ax.axhline(curve["majority"], color=color, ls=":", lw=1.2)
        if curve["finetune"] is not None:
            ax.axhline(curve["finetune"], color=color, ls="--", lw=1)
        for kind, marker in (("low", "v"), ("high", "^")):
            b = curve["thresholds"][kind]
            if b is not None:
                a = dict(points)[b]
                ax.scatter([b], [a], marker=marker, s=140, facecolors="none", edgecolors=color, linewidths=2)
    ax.set_xscale("log")
    ax.xaxis.set_major_locator(FixedLocator(sorted(budgets)))  # ticks at the budgets tried, labelled compactly
    ax.xaxis.set_major_formatter(FuncFormatter(budget_label))
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel("tunable parameters (budget, log scale)")
    ax.set_ylabel("dev accuracy (%)")
    ax.set_title("A2: accuracy vs budget", fontsize=10)
    ax.grid(alpha=0.3)
    handles, labels = ax.get_legend_handles_labels()
    keys = [(Line2D([], [], color="0.3", ls=":", lw=1.2), "majority class (task colour)"),
            (Line2D([], [], color="0.3", ls="--", lw=1), "full fine-tuning (task colour)"),
            (Line2D([], [], marker="v", color="0.3", ls="none", markerfacecolor="none", markersize=10),
             "low threshold: first budget > majority + 1 s.e."),
            (Line2D([], [], marker="^", color="0.3", ls="none", markerfacecolor="none", markersize=10),
             f"high threshold: within {record['tolerance']:g} point(s) of fine-tuning")]
    ax.legend(handles + [k[0] for k in keys], labels + [k[1] for k in keys], fontsize=7.5, loc="center left",
              bbox_to_anchor=(1.01, 0.5), frameon=False)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
