"""A tuning copy of a GLUE task whose dev split is held out of its TRAINING file (issue 17).

Usage: python scripts/holdout_dev.py DATA_DIR OUT_DIR [--task sst2] [--size 872] [--seed 0]

Writes OUT_DIR/glue/<task>/train.tsv (the training rows minus `size` seeded rows, original order) and
OUT_DIR/glue/<task>/dev.tsv (those held-out rows, original order), so that `INFOPROMPT_DATA=OUT_DIR`
runs the unchanged built-in task. InfoPrompt's new defaults are chosen on runs over this copy
(configs/sweeps/infoprompt_defaults_minilm.yaml): the task's real dev set, whose halves the study
reports, never takes part in the choice. (The study's dev-split halves are seeded per run seed, so
selection halves of one seed overlap the reported halves of another: choosing on them would leak.)
Rows are copied byte for byte; running it twice writes the same files.
"""

from __future__ import annotations

import argparse
import random
import sys
from pathlib import Path

from infoprompt.atomic_files import atomic_write_bytes

# Tasks whose train.tsv is one header line plus one example per line (checked below).
TASKS = ("sst2",)


def split_rows(lines: list[bytes], size: int, seed: int) -> tuple[list[bytes], list[bytes]]:
    """(kept rows, held-out rows) of `lines` (no header), each in file order."""
    held = set(random.Random(seed).sample(range(len(lines)), size))
    return [r for i, r in enumerate(lines) if i not in held], [r for i, r in enumerate(lines) if i in held]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data_dir", type=Path)
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--task", default="sst2", choices=TASKS)
    parser.add_argument("--size", type=int, default=872, help="held-out rows (default: the size of SST-2 dev)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    source = args.data_dir / "glue" / args.task / "train.tsv"
    if not source.is_file():
        print(f"error: {source}: not found (DATA_DIR must hold glue/{args.task}/train.tsv)", file=sys.stderr)
        return 2
    header, *rows = source.read_bytes().splitlines(keepends=True)
    width = header.count(b"\t")
    bad = next((i for i, r in enumerate(rows, 2) if r.count(b"\t") != width), None)
    if bad is not None:
        print(f"error: {source}:{bad}: not one example per line ({width + 1} tab-separated fields expected)",
              file=sys.stderr)
        return 2
    if not 0 < args.size < len(rows):
        print(f"error: --size must be in [1, {len(rows) - 1}], got {args.size}", file=sys.stderr)
        return 2
    kept, held = split_rows(rows, args.size, args.seed)
    target = args.out_dir / "glue" / args.task
    target.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(target / "train.tsv", header + b"".join(kept))
    atomic_write_bytes(target / "dev.tsv", header + b"".join(held))
    print(f"{target}: train {len(kept)} rows, dev {len(held)} rows held out of {source} (seed {args.seed})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
