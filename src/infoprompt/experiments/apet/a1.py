"""A1, position ablation: the same budget in N random placements; mean and std per budget group.

Budgets are the four classic methods' sizes on the backbone (APET_Prompt, _BitFit, _LoRA, _Adapter);
placements are `--apet-positions random` with `--apet-seed 0..N-1`. Runs go placement-major (every
group's first placement before any second one), so partial results already cover every group.
"""

from __future__ import annotations

from pathlib import Path

from infoprompt.experiments.apet.budgets import CLASSICS, classic_budgets
from infoprompt.experiments.apet.common import (
    Setup,
    accuracy,
    compact,
    label_levels,
    mean_std,
    run_all,
    write_outputs,
)


def run_a1(setup: Setup, placements: int, out_dir: Path, runs_dir: Path) -> dict:
    budgets = classic_budgets(setup.backbone)
    grid = [setup.flags(task, "apet", budget=budgets[c], apet_seed=p)
            for p in range(placements) for task in setup.tasks for c in CLASSICS]
    keys = [(task, c, p) for p in range(placements) for task in setup.tasks for c in CLASSICS]
    levels = {task: label_levels(task, setup.data_dir) for task in setup.tasks}

    def report(results: list) -> dict:
        groups = []
        for task in setup.tasks:
            for c in CLASSICS:
                accs = [accuracy(r) for (t, cc, _), r in zip(keys, results) if t == task and cc == c]
                done = [a for a in accs if a is not None]
                mean, std = mean_std(done)
                groups.append({"task": task, "group": f"APET_{c}", "budget": budgets[c], "runs": len(done),
                               "accuracies": done, "mean": mean, "std": std})
        record = {"experiment": "A1", "setup": setup.__dict__, "placements": placements, "budgets": budgets,
                  "levels": levels, "groups": groups,
                  "runs": [{"task": t, "group": c, "placement": p, **(compact(r) or {"missing": True})}
                           for (t, c, p), r in zip(keys, results)]}
        write_outputs(out_dir, "a1", record, markdown(record), lambda path: plot(record, path))
        return record

    results = run_all(grid, runs_dir, report)
    return report(results)


def markdown(record: dict) -> str:
    lines = [f"# A1: same budget, {record['placements']} random placements (backbone {record['setup']['backbone']})", "",
             "| task | group | budget | runs | mean acc (%) | std |", "|---|---|---:|---:|---:|---:|"]
    for g in record["groups"]:
        lines.append(f"| {g['task']} | {g['group']} | {g['budget']:,} | {g['runs']} | {g['mean']:.2f} | {g['std']:.2f} |")
    stds = [g["std"] for g in record["groups"] if g["runs"] > 1]
    if stds:
        lines += ["", f"Mean std over groups with >1 placement: {sum(stds) / len(stds):.2f} points."]
    return "\n".join(lines) + "\n"


def plot(record: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tasks = record["setup"]["tasks"]
    fig, axes = plt.subplots(1, len(tasks), figsize=(4.2 * len(tasks), 3.9), squeeze=False)
    for ax, task in zip(axes[0], tasks):
        groups = [g for g in record["groups"] if g["task"] == task]
        for i, g in enumerate(groups):
            ax.scatter([i] * len(g["accuracies"]), g["accuracies"], color="0.55", s=14, zorder=3,
                       label="one placement" if i == 0 else None)
            if g["runs"]:
                ax.errorbar(i, g["mean"], yerr=g["std"], fmt="o", color="C0", capsize=4, zorder=2,
                            label=r"mean $\pm$ 1 std over placements" if i == 0 else None)
        majority = record["levels"][task]["majority"]
        ax.axhline(majority, color="C3", ls=":", lw=1.2, label=f"majority class ({majority:.1f} %)")
        ax.set_xticks(range(len(groups)), [f"{g['group'][5:]}\n{g['budget']:,}" for g in groups], fontsize=8)
        ax.set_title(task)
        ax.set_ylabel("dev accuracy (%)")
        ax.grid(axis="y", alpha=0.3)
        ax.legend(fontsize=7, loc="best")
    fig.suptitle("A1: random placements per budget (x: the classic method whose size the budget copies)", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
