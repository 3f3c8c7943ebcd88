"""The frozen linear probe of issue 17's acceptance, measured under the study's own protocol.

Usage: python scripts/frozen_probe.py --data-dir DATA [--task sst2] [--shots 64 256] [--seeds 0 1 2 3 4]
           [--out probe.jsonl] [--against RECORDS_DIR --condition infoprompt --condition prompt ...]

For each (shots, seed): the same few-shot draw as `infoprompt train --shots N --seed S` (data.sampling), the
backbone's frozen mean-pooled last hidden states (all-MiniLM-L6-v2's own sentence embedding) as features, and a
scikit-learn logistic regression. Its C is chosen from a small grid on the SELECTION half of dev and the
REPORTED half is scored, the halves being exactly those `--select-on dev-split` draws for that seed
(training.selection.split_dev), so the probe's number is comparable cell by cell and seed by seed with the
study's records. `--against` prints each condition's paired difference from the probe (mean ± sample std,
95 % t interval, n) over the (shots, seed) cells both have.

The probe itself (features, the C grid, the fit) is infoprompt.analysis.probe.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

import numpy as np

from infoprompt.analysis.probe import C_GRID, embed, fit_probe  # noqa: F401  (C_GRID, embed: this script's API)
from infoprompt.atomic_files import atomic_write_bytes
from infoprompt.errors import InfoPromptError


def probe_cell(train_x, train_y, dev_x, dev_y, split) -> dict:
    """The probe with C chosen on the selection half of dev and the reported half scored."""
    sel, rep = np.array(split.selection), np.array(split.report)
    cell = fit_probe(train_x, train_y, dev_x[sel], dev_y[sel], dev_x[rep], dev_y[rep])
    return {k: cell[k] for k in ("C", "selection_accuracy", "report_accuracy", "majority_rate", "predicted_share",
                                 "collapsed")}


def run(args) -> list[dict]:
    from transformers import AutoModel, AutoTokenizer

    from infoprompt.backbones import ALIASES
    from infoprompt.data.sampling import sample_few_shot
    from infoprompt.data.tasks import get_task, load_split
    from infoprompt.training.selection import split_dev

    task = get_task(args.task)
    path = ALIASES[args.backbone]() if args.backbone in ALIASES else args.backbone
    tokenizer, model = AutoTokenizer.from_pretrained(path), AutoModel.from_pretrained(path).eval()
    train, dev = load_split(task, "train", Path(args.data_dir)), load_split(task, "dev", Path(args.data_dir))
    dev_x = embed([(e.text_a, e.text_b) for e in dev], tokenizer, model)
    dev_y = np.array([e.label for e in dev])
    records = []
    for shots in args.shots:
        for seed in args.seeds:
            rows = sample_few_shot(train, shots, seed)
            train_x = embed([(e.text_a, e.text_b) for e in rows], tokenizer, model)
            cell = probe_cell(train_x, np.array([e.label for e in rows]), dev_x, dev_y, split_dev(dev_y.tolist(), seed))
            records.append({"task": task.name, "backbone": args.backbone, "shots": shots, "seed": seed, **cell})
            print(f"{task.name} shots={shots} seed={seed}: reported half {cell['report_accuracy']:.4f} "
                  f"(C={cell['C']} chosen on the selection half, {cell['selection_accuracy']:.4f})", file=sys.stderr)
    return records


def paired_against(records: list[dict], records_dir: str, condition: str, shots: int | None = None) -> dict:
    """The condition's reported score minus the probe's, paired by (task, shots, seed); per seed, averaged over the
    shots both have (or only `shots`)."""
    from infoprompt.report.compare import CELL_KEYS, t_interval, variant
    from infoprompt.report.runs import load_runs, varying_keys

    runs, _ = load_runs(records_dir)
    keys = [k for k in varying_keys(runs) if k not in CELL_KEYS]
    probe = {(r["task"], r["shots"], r["seed"]): r["report_accuracy"] for r in records}
    by_seed: dict[int, list[float]] = {}
    for run in runs:
        key = (run.task, run.shots, run.seed)
        if variant(run, keys) == condition and key in probe and shots in (None, run.shots):
            by_seed.setdefault(run.seed, []).append(run.score() - probe[key])
    diffs = [statistics.fmean(v) for v in by_seed.values()]
    if not diffs:
        raise InfoPromptError(f"{records_dir}: no run of '{condition}' shares a (task, shots, seed) with the probe")
    return {"condition": condition, "shots": shots, "mean": statistics.fmean(diffs), "n": len(diffs),
            "std": statistics.stdev(diffs) if len(diffs) > 1 else None, "ci95": t_interval(diffs),
            "cells": sum(len(v) for v in by_seed.values())}


def format_paired(d: dict) -> str:
    ci = f"95 % CI [{100 * d['ci95'][0]:+.2f}, {100 * d['ci95'][1]:+.2f}]" if d["ci95"] else "no interval"
    std = f" ± {100 * d['std']:.2f}" if d["std"] is not None else ""
    where = f"shots={d['shots']}" if d["shots"] is not None else "all shots (per-seed average)"
    return f"{d['condition']} - probe, {where}: {100 * d['mean']:+.2f}{std} points, {ci} (n={d['n']} seeds)"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--task", default="sst2")
    parser.add_argument("--backbone", default="minilm")
    parser.add_argument("--shots", type=int, nargs="+", default=[64, 256])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--out", type=Path, help="write one JSON line per (shots, seed)")
    parser.add_argument("--from", dest="source", type=Path, help="read the records of an earlier --out instead of fitting")
    parser.add_argument("--against", help="a records folder (scripts/keep_records.py) to compare with, paired by seed")
    parser.add_argument("--condition", action="append", default=[], help="a condition of --against, as the report names it")
    args = parser.parse_args(argv)
    try:
        if args.source:
            records = [json.loads(line) for line in args.source.read_text(encoding="utf-8").splitlines() if line]
        else:
            records = run(args)
        if args.out:
            atomic_write_bytes(args.out, "".join(json.dumps(r, sort_keys=True) + "\n" for r in records).encode())
        for shots in sorted({r["shots"] for r in records}):
            cell = [r for r in records if r["shots"] == shots]
            values = [r["report_accuracy"] for r in cell]
            std = f" ± {statistics.stdev(values):.4f}" if len(values) > 1 else ""
            print(f"probe {cell[0]['task']} shots={shots}: {statistics.fmean(values):.4f}{std} (n={len(values)}; "
                  f"majority {cell[0]['majority_rate']:.4f}; collapsed {sum(r['collapsed'] for r in cell)})")
        for condition in args.condition:
            for shots in [*sorted({r["shots"] for r in records}), None]:
                print(format_paired(paired_against(records, args.against, condition, shots)))
    except InfoPromptError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
