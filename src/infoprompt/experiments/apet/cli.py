"""``infoprompt apet a1|a2|transfer``: the APET experiments, resumable, with JSON + Markdown + PNG outputs."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from infoprompt.errors import ConfigError


def _setup(args: argparse.Namespace):
    from infoprompt.experiments.apet.common import Setup

    extra = {"apet_ops": args.ops} if args.ops else {}
    tasks = [t.strip() for t in args.tasks.split(",") if t.strip()]
    if not tasks:
        raise ConfigError("--tasks: give at least one task")
    return Setup(tasks=tasks, backbone=args.backbone, data_dir=args.data_dir, shots=args.shots or None,
                 epochs=args.epochs, seed=args.seed, max_length=args.max_length, eval_batch_size=args.eval_batch_size,
                 lr=args.lr, extra=extra, packing=args.packing)


def _budgets(text: str) -> list[int]:
    try:
        values = sorted({int(float(v)) for v in text.split(",") if v.strip()})
    except ValueError:
        raise ConfigError(f"--budgets: expected comma-separated integers, got '{text}'") from None
    if not values or values[0] < 1:
        raise ConfigError(f"--budgets: expected positive integers, got '{text}'")
    return values


def replot(experiment: str, out_dir: Path, data_dir: str | None = None) -> Path:
    """Redraw OUT/<experiment>.png from the committed OUT/<experiment>.json, running nothing (so a committed
    figure regenerates from a committed file). A transfer record made before it held the tasks' majority
    levels gets them from the data (`--data-dir`), only for the picture."""
    import json

    from infoprompt.experiments.apet import a1, a2, transfer
    from infoprompt.experiments.apet.common import label_levels

    stem = "transfer" if experiment == "transfer" else experiment
    source = out_dir / f"{stem}.json"
    if not source.is_file():
        raise ConfigError(f"--replot: {source} not found (run the experiment first)")
    record = json.loads(source.read_text(encoding="utf-8"))
    if experiment == "transfer" and "levels" not in record:
        record["levels"] = {t: label_levels(t, data_dir or record["setup"].get("data_dir"))
                            for t in record["setup"]["tasks"]}
    {"a1": a1.plot, "a2": a2.plot, "transfer": transfer.plot}[experiment](record, out_dir / f"{stem}.png")
    return out_dir / f"{stem}.png"


def cmd_apet(args: argparse.Namespace) -> int:
    if args.replot:
        print(f"apet {args.experiment}: redrew {replot(args.experiment, Path(args.out), args.data_dir)}")
        return 0
    setup = _setup(args)
    out_dir, runs_dir = Path(args.out), Path(args.runs_dir)
    if args.experiment == "a1":
        from infoprompt.experiments.apet.a1 import markdown, run_a1

        record = run_a1(setup, args.placements, out_dir, runs_dir)
    elif args.experiment == "a2":
        from infoprompt.experiments.apet.a2 import markdown, run_a2

        record = run_a2(setup, _budgets(args.budgets), args.tolerance, out_dir, runs_dir)
    else:
        from infoprompt.experiments.apet.transfer import markdown, run_transfer

        record = run_transfer(setup, args.budget, out_dir, runs_dir)
    print(markdown(record), end="")
    print(f"apet {args.experiment}: wrote {out_dir}/{'transfer' if args.experiment == 'transfer' else args.experiment}"
          ".{json,md,png}")
    return 0


def add_parser(subparsers: Any) -> None:
    from infoprompt.packing import PACKING_MODES

    p = subparsers.add_parser("apet", help="APET experiments: a1 (positions), a2 (budget sweep), transfer",
                              description="Run an APET experiment resumably (finished runs are skipped) and write "
                                          "OUT/<experiment>.json, .md and .png after every run. See docs/apet.md.")
    p.add_argument("experiment", choices=["a1", "a2", "transfer"])
    p.add_argument("--tasks", default="sst2,rte,mrpc")
    p.add_argument("--backbone", default="minilm")
    p.add_argument("--data-dir")
    p.add_argument("--shots", type=int, default=256, help="few-shot training examples (0: the full train split)")
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--seed", type=int, default=0, help="training seed (data draw, initial values)")
    p.add_argument("--max-length", type=int, default=128)
    p.add_argument("--eval-batch-size", type=int, default=64)
    p.add_argument("--lr", type=float, help="default: each method's own")
    p.add_argument("--packing", default="auto", choices=PACKING_MODES,
                   help="as `infoprompt train --packing` (off: padded batches, as the committed results used)")
    p.add_argument("--ops", help="APET operations for random placement (default: the method's add,plug,concat)")
    p.add_argument("--out", default="docs/results/apet", help="where the JSON/Markdown/PNG go")
    p.add_argument("--runs-dir", default="runs/apet", help="where the run directories go (resumable)")
    p.add_argument("--placements", type=int, default=3, help="a1: random placements per budget")
    p.add_argument("--budgets", default="64,256,1024,4096,16384,65536,262144", help="a2: budgets (log scale)")
    p.add_argument("--tolerance", type=float, default=1.0, help="a2: points below fine-tuning for the high threshold")
    p.add_argument("--budget", type=int, default=65536, help="transfer: the APET budget of the source runs")
    p.add_argument("--replot", action="store_true",
                   help="only redraw OUT/<experiment>.png from the committed OUT/<experiment>.json (no training)")
    p.set_defaults(func=cmd_apet)
