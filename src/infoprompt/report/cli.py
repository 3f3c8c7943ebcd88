"""``infoprompt report RUNS_DIR``: the paper's tables and learning-curve plots from finished runs."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from infoprompt.errors import ConfigError


def cmd_report(args: argparse.Namespace) -> int:
    from infoprompt.report import write_report

    re_tasks = tuple(t.strip() for t in args.re_tasks.split(",") if t.strip())
    report = write_report(args.runs_dir, args.out, metric=args.metric, re_tasks=re_tasks, rule=args.score,
                          plots=not args.no_plots)
    if not args.quiet:
        print(report.markdown, end="")
    out = args.out or f"{args.runs_dir.rstrip('/')}/report"
    if args.compare:
        from infoprompt.atomic_files import atomic_write_bytes
        from infoprompt.report.compare import format_difference, paired_difference
        from infoprompt.report.runs import load_runs

        records, _ = load_runs(args.runs_dir, metric=args.metric)
        texts = []
        for pair in args.compare:
            a, sep, b = pair.partition(",")
            if not sep:
                raise ConfigError(f"--compare takes A,B (e.g. infoprompt,warp), got '{pair}'")
            texts.append(format_difference(paired_difference(records, a.strip(), b.strip(), rule=args.score)))
        text = "\n\n".join(texts) + "\n"
        atomic_write_bytes(Path(out) / "paired_differences.txt", text.encode("utf-8"))
        if not args.quiet:
            print(text, end="")
    print(f"report: {report.runs} finished runs -> {out}/report.md (+ CSV per table"
          + (", curves/*.png" if not args.no_plots else "") + ")", file=sys.stderr)
    return 0


def add_parser(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "report", help="tables (Markdown + CSV) and mean learning curves from a runs directory",
        description="Aggregate the finished runs under RUNS_DIR (mean ± sample std over seeds) into the paper's "
                    "table layouts, a convergence table and mean learning-curve plots.")
    p.add_argument("runs_dir", help="a sweep's runs directory (searched at any depth for result.json)")
    p.add_argument("--out", help="output folder (default RUNS_DIR/report)")
    p.add_argument("--metric", help="score every run by this metric (default: each task's primary metric)")
    p.add_argument("--re-tasks", default="semeval",
                   help="comma-separated tasks reported in Tables 2/4 (relation extraction / NER)")
    p.add_argument("--score", default="selected", choices=["selected", "last", "best-dev"],
                   help="which score of each run: selected (default, honest: the reported split at the checkpoint "
                        "the selection split kept), last (its last evaluation), best-dev (the old optimistic rule: "
                        "the best dev evaluation, which chose itself)")
    p.add_argument("--no-plots", action="store_true", help="skip the learning-curve PNGs")
    p.add_argument("--quiet", action="store_true", help="do not print the Markdown")
    p.add_argument("--compare", action="append", metavar="A,B",
                   help="paired difference of condition A's average minus B's over seeds (method, method:ablation, plus "
                        "+flag=value for each other flag a variant sets, e.g. infoprompt+generator_mode=residual); "
                        "repeatable; written to paired_differences.txt")
    p.set_defaults(func=cmd_report)
