"""E, zero-shot transfer: APET trained on a source task, applied unchanged to every target task.

Labels go through the unified set (`common.UNIFIED`: negative / not_entailment / not_equivalent -> 0,
positive / entailment / equivalent -> 1): the source head's predicted label is mapped to 0/1 and
compared with the target example's mapped gold label. The diagonal is the in-task dev accuracy.
Source runs are ordinary `apet` runs (the same flags as an A2 run of that budget reuse its run).
"""

from __future__ import annotations

import math
from pathlib import Path

from infoprompt.experiments.apet.common import (
    Setup,
    compact,
    label_levels,
    run_one,
    unified_labels,
    write_outputs,
)


def transfer_accuracy(run_dir: str, source: str, target: str, data_dir: str | None, backbone) -> float:
    """Accuracy (%) of the source checkpoint on the target's dev split, in the unified label set."""
    from infoprompt.api import load
    from infoprompt.data.tasks import get_task, load_split, resolve_data_dir

    model = load(run_dir, backbone)
    examples = load_split(get_task(target), "dev", resolve_data_dir(data_dir))
    predicted = model.predict_examples(examples)
    source_map, target_map = unified_labels(source), unified_labels(target)
    hits = sum(source_map[p] == target_map[e.label] for p, e in zip(predicted, examples))
    return 100.0 * hits / len(examples)


def run_transfer(setup: Setup, budget: int, out_dir: Path, runs_dir: Path) -> dict:
    from infoprompt.backbones import load_backbone

    for task in setup.tasks:
        unified_labels(task)  # fail before training when a task has no unified labels
    record = {"experiment": "E", "setup": setup.__dict__, "budget": budget, "sources": {}, "matrix": {},
              "levels": {task: label_levels(task, setup.data_dir) for task in setup.tasks}}
    backbone = None
    for source in setup.tasks:
        result = run_one(setup.flags(source, "apet", budget=budget), runs_dir)
        record["sources"][source] = compact(result) or {"missing": True}
        if result is None:
            continue
        backbone = backbone or load_backbone(setup.backbone)
        record["matrix"][source] = {target: transfer_accuracy(result["run_dir"], source, target, setup.data_dir, backbone)
                                    for target in setup.tasks}
        write_outputs(out_dir, "transfer", record, markdown(record), lambda path: plot(record, path))
    write_outputs(out_dir, "transfer", record, markdown(record), lambda path: plot(record, path))
    return record


def markdown(record: dict) -> str:
    tasks = record["setup"]["tasks"]
    lines = [f"# E: zero-shot transfer, APET budget {record['budget']:,} (rows: source, columns: target; "
             "unified-label dev accuracy %)", "", "| source \\ target | " + " | ".join(tasks) + " |",
             "|---|" + "---:|" * len(tasks)]
    for source in tasks:
        row = record["matrix"].get(source)
        cells = [f"{row[t]:.2f}" if row else "—" for t in tasks]
        lines.append(f"| {source} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def plot(record: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    tasks = record["setup"]["tasks"]
    grid = np.full((len(tasks), len(tasks)), np.nan)
    for i, source in enumerate(tasks):
        for j, target in enumerate(tasks):
            if source in record["matrix"]:
                grid[i, j] = record["matrix"][source][target]
    levels = record.get("levels") or {}
    fig, ax = plt.subplots(figsize=(4.8, 4.0))
    low = float(np.nanmin(grid)) if not np.isnan(grid).all() else 40.0
    image = ax.imshow(grid, cmap="viridis", vmin=min(40.0, 5 * math.floor(low / 5)), vmax=100)
    for i in range(len(tasks)):
        for j in range(len(tasks)):
            if not np.isnan(grid[i, j]):
                below = tasks[j] in levels and grid[i, j] <= levels[tasks[j]]["majority"]
                ax.text(j, i, f"{grid[i, j]:.1f}" + ("*" if below else ""), ha="center", va="center",
                        color="w" if grid[i, j] < 75 else "k")
    ax.set_xticks(range(len(tasks)), [f"{t}\n(majority {levels[t]['majority']:.1f})" if t in levels else t
                                      for t in tasks], fontsize=8)
    ax.set_yticks(range(len(tasks)), tasks)
    ax.set_xlabel("target task")
    ax.set_ylabel("source task")
    ax.set_title(f"E: zero-shot transfer (APET, budget {record['budget']:,})"
                 + ("\n* at or below the target's majority-class rate" if levels else ""), fontsize=9)
    fig.colorbar(image, ax=ax, label="accuracy (%)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
