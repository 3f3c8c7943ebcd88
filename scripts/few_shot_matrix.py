"""Train every method on every GLUE task with few-shot data and print one table (Markdown).

Usage: python scripts/few_shot_matrix.py --data-dir ../shared/data [--shots 64] [--epochs 3] [--out FILE]
Each cell is the best dev value of the task's primary metric; a failed run shows its error.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from infoprompt.api import TrainConfig, train
from infoprompt.errors import InfoPromptError

METHODS = ["prompt", "warp", "idpg", "infoprompt"]
TASKS = ["sst2", "cola", "rte", "mrpc"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--shots", type=int, default=64)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--runs-dir", default="runs/matrix")
    parser.add_argument("--out", help="also write the table (Markdown) and the raw summaries (JSON) here")
    args = parser.parse_args()
    rows, summaries, failures = [], [], 0
    for method in METHODS:
        cells = []
        for task in TASKS:
            start = time.perf_counter()
            cfg = TrainConfig(task=task, method=method, shots=args.shots, epochs=args.epochs, seed=args.seed,
                              data_dir=args.data_dir, progress=False,
                              output=str(Path(args.runs_dir) / f"{task}_{method}_s{args.seed}"))
            try:
                result = train(cfg)
                summaries.append(result.summary)
                metric = next(iter(result.metrics))
                cells.append(f"{result.metrics[metric]:.4f} ({time.perf_counter() - start:.0f}s)")
            except InfoPromptError as err:
                failures += 1
                cells.append(f"error: {err}")
            print(f"{method:>10} {task:>5}: {cells[-1]}", file=sys.stderr, flush=True)
        rows.append(f"| {method} | " + " | ".join(cells) + " |")
    header = (f"shots={args.shots}, epochs={args.epochs}, seed={args.seed}; primary dev metric (wall time)\n\n"
              "| method | " + " | ".join(TASKS) + " |\n|---|" + "---|" * len(TASKS))
    table = header + "\n" + "\n".join(rows)
    print(table)
    if args.out:
        Path(args.out).write_text(table + "\n", encoding="utf-8")
        Path(args.out).with_suffix(".json").write_text(json.dumps(summaries, indent=1), encoding="utf-8")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
