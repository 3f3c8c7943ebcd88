"""Copy the raw records of a sweep's finished runs into a folder that can be committed (issue 17).

Usage: python scripts/keep_records.py RUNS_DIR DEST

For every run under RUNS_DIR with a result.json, writes DEST/<run>/ with
  run.json       the run's flags (what `infoprompt report` reads for its conditions)
  result.json    the run's summary (selected and last scores, protocol, collapse flags)
  config.json    the checkpoint's config (task, metric names, method options), without its weights
  metrics.jsonl  every record of the run's log except the per-step "train" records (evaluations with
                 both dev halves, the closing "selection" record, test scores)
and nothing else: no checkpoints, resume states, plots or host-specific logs (train.log, attempts.jsonl).
`infoprompt report DEST` then gives the same report as `infoprompt report RUNS_DIR`. (The folder must
not be called `runs/`: .gitignore excludes every folder of that name.) Rerunning overwrites with the
same bytes; runs without a result are skipped and counted.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from infoprompt.atomic_files import atomic_write_bytes
from infoprompt.rundir import CONFIG, RESULT, SPEC, jsonl_entries
from infoprompt.rundir import METRICS_LOG as LOG

COPIED = (SPEC, RESULT, CONFIG)
DROPPED_RECORDS = ("train",)  # one per optimizer step: large, and no report reads them


def eval_records(log: Path) -> bytes:
    """The log's lines minus the per-step training records, byte for byte (read by the one JSON-lines reader: a
    torn last line of a killed run is left out, a damaged line elsewhere is a DataError naming it)."""
    return b"".join(raw for raw, record in jsonl_entries(log) if record.get("type") not in DROPPED_RECORDS)


def keep_records(runs_dir: Path, dest: Path) -> tuple[int, int]:
    """(runs copied, runs skipped for lack of a result)."""
    copied = skipped = 0
    for spec in sorted(runs_dir.rglob(SPEC)):
        run_dir = spec.parent
        if dest.resolve() in run_dir.resolve().parents:
            continue  # DEST inside RUNS_DIR: never copy the copies
        if not (run_dir / RESULT).is_file():
            skipped += 1
            continue
        target = dest / run_dir.relative_to(runs_dir)
        target.mkdir(parents=True, exist_ok=True)
        for name in COPIED:
            if (run_dir / name).is_file():
                atomic_write_bytes(target / name, (run_dir / name).read_bytes())
        if (run_dir / LOG).is_file():
            atomic_write_bytes(target / LOG, eval_records(run_dir / LOG))
        copied += 1
    return copied, skipped


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs_dir", type=Path)
    parser.add_argument("dest", type=Path)
    args = parser.parse_args(argv)
    if not args.runs_dir.is_dir():
        print(f"error: {args.runs_dir}: runs directory not found", file=sys.stderr)
        return 2
    if "runs" in args.dest.resolve().relative_to(args.dest.resolve().anchor).parts:
        print(f"warning: {args.dest} is inside a folder named 'runs', which .gitignore excludes", file=sys.stderr)
    copied, skipped = keep_records(args.runs_dir, args.dest)
    print(f"{args.dest}: records of {copied} finished runs" + (f" ({skipped} unfinished skipped)" if skipped else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
