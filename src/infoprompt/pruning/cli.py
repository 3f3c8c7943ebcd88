"""``infoprompt prune``: XPrompt (hierarchical prompt pruning with rewinding) on a trained run.

Argument parsing only; the work is in infoprompt.pruning. Ratios are parsed here as text and checked
by the library, so a bad value is one ConfigError line (exit 2), not an argparse usage dump.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

TRAIN_FLAGS = {  # stage 1 when no --run is given: the `infoprompt train` flags that matter here
    "task": str, "method": str, "backbone": str, "shots": int, "seed": int, "n_prompts": int, "epochs": int,
    "batch_size": int, "lr": float, "schedule": str, "eval_every": int, "max_length": int, "readout": str,
    "optimizer": str,  # adamw | adafactor (the paper's optimizer), as `infoprompt train --optimizer`
    "packing": str,  # auto | off, as `infoprompt train --packing` (the retraining keeps stage 1's)
    "select_on": str, "patience": int,  # as `infoprompt train --select-on/--patience` (training.selection)
}


def cmd_prune(args: argparse.Namespace) -> int:
    from pathlib import Path

    from infoprompt.api import TrainConfig
    from infoprompt.errors import ConfigError
    from infoprompt.pruning import PruneSettings, parse_ratios, prune

    if args.threads is not None:
        import torch

        torch.set_num_threads(max(1, args.threads))
    if (args.ratio is None) == (args.sweep is None):
        raise ConfigError("give exactly one of --ratio R or --sweep R1,R2,...")
    ratios = parse_ratios(args.ratio, "--ratio") if args.ratio is not None else parse_ratios(args.sweep)
    if args.ratio is not None and len(ratios) != 1:
        raise ConfigError(f"--ratio takes one value (use --sweep for several), got '{args.ratio}'")
    given = {name: getattr(args, name) for name in TRAIN_FLAGS if getattr(args, name) is not None}
    train_config = None
    if args.run is None:
        if "task" not in given:
            raise ConfigError("give --run RUN_DIR (a trained run) or --task ... to train stage 1 first")
        given.setdefault("method", "prompt")
        train_config = TrainConfig(data_dir=args.data_dir, **given)
    elif given:
        raise ConfigError(f"--{sorted(given)[0].replace('_', '-')} is for training stage 1; --run already names a trained run")
    compare_ratio = parse_ratios(args.compare_ratio, "--compare-ratio")[0] if args.compare_ratio else None
    settings = PruneSettings(
        ratios=tuple(ratios), granularity=args.granularity, pieces=args.pieces, rewind=args.rewind, step=args.step,
        compare=args.compare, compare_ratio=compare_ratio, random_seeds=args.random_seeds,
        compare_retrain=args.compare_retrain, score_batch_size=args.score_batch_size,
    )
    out = args.output or (str(Path(args.run) / "xprompt") if args.run else None)
    if out is None:
        raise ConfigError("--output DIR is needed when training stage 1 here")
    log = (lambda message: None) if args.quiet else (lambda message: print(message, file=sys.stderr, flush=True))
    report = prune(args.run, out, settings, train_config=train_config, data_dir=args.data_dir, log=log)
    payload = report.payload
    if not args.quiet:
        from infoprompt.pruning.report import markdown

        print(markdown(payload), end="", file=sys.stderr if args.json else sys.stdout)
    print(f"prune: report -> {Path(out) / 'prune.md'} (+ prune.json, prune.png)", file=sys.stderr)
    if args.json:
        from infoprompt.cli import json_line

        print(json_line({"selected": payload["selected"], "stage1": payload["stage1"]["dev"]}))
    return 0


def add_parser(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "prune", help="XPrompt: prune a trained soft prompt (tokens, pieces), rewind and retrain",
        description="Hierarchical structured pruning of a trained soft prompt (XPrompt, Ma et al. 2022): "
                    "importance of tokens and pieces, iterative pruning to a ratio or a sweep with dev selection, "
                    "rewinding to the post-tuning values and retraining, and the negative-vs-random masking "
                    "comparison. See docs/xprompt.md.")
    p.add_argument("--run", help="a trained run directory (stage 1); without it, give --task ... to train one first")
    p.add_argument("--output", help="output folder (default RUN/xprompt)")
    p.add_argument("--ratio", help="prune this fraction of the prompt, in (0, 1)")
    p.add_argument("--sweep", help="comma-separated ratios, e.g. 0.1,0.2,...,0.9; the best on dev is selected")
    p.add_argument("--granularity", default="both", help="token, piece or both (hierarchical; default)")
    p.add_argument("--pieces", type=int, default=16, help="pieces per prompt token (k, default 16)")
    p.add_argument("--rewind", action=argparse.BooleanOptionalAction, default=True,
                   help="rewind survivors to their post-tuning values and retrain (default on)")
    p.add_argument("--step", type=float, default=0.1, help="iterative pruning grid (importance recomputed per step)")
    p.add_argument("--compare", action=argparse.BooleanOptionalAction, default=True,
                   help="negative vs random token masking (paper Fig. 2; default on)")
    p.add_argument("--compare-ratio", help="ratio for the comparison (default: the dev-selected ratio)")
    p.add_argument("--random-seeds", type=int, default=3, help="random masks in the comparison (default 3)")
    p.add_argument("--compare-retrain", action=argparse.BooleanOptionalAction, default=True,
                   help="also retrain each comparison mask (default on)")
    p.add_argument("--score-batch-size", type=int, help="batch size of the importance passes (default: training's)")
    p.add_argument("--data-dir", help="data folder (default: the one the run was trained with)")
    p.add_argument("--threads", type=int, help="torch threads (1 on a shared CPU)")
    p.add_argument("--json", action="store_true", help="print exactly one JSON line on stdout (selected ratio, stage-1 dev); the report goes to stderr")
    p.add_argument("--quiet", action="store_true")
    stage1 = p.add_argument_group("stage 1 (only without --run): train flags, as in `infoprompt train`")
    for name, kind in TRAIN_FLAGS.items():
        stage1.add_argument("--" + name.replace("_", "-"), type=kind, default=None)
    p.set_defaults(func=cmd_prune)
