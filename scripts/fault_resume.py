"""Fault script: SIGKILL a training run at random steps, resume it each time, compare with a clean run.

    python3 scripts/fault_resume.py --kills 5 --seed 0 --workdir /tmp/fault -- \
        --task sst2 --method infoprompt --shots 64 --epochs 3 --save-every 5 --data-dir ../shared/data

Each kill lands at a random moment inside a randomly drawn step; after each, the run directory's committed
checkpoint and resume state must verify. `--launcher fork` starts the runs from one preloaded server
(20 kills: `--kills 20 --launcher fork`).

Prints one JSON line (kill steps, how many kills found a checkpoint, whether the logs agree, both runs'
best dev metrics and best steps, checkpoint hashes) and exits 0 when the interrupted run ends identical to the uninterrupted one, 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

from infoprompt.training.fault_injection import kill_and_resume


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kills", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0, help="draws the kill steps")
    parser.add_argument("--launcher", choices=("subprocess", "fork"), default="subprocess",
                        help="subprocess: each run a fresh `python -m infoprompt.cli`; fork: forked from a server that "
                             "imported the package once (many kills cost start-ups, not imports)")
    parser.add_argument("--workdir", help="where the two runs go (default: a temporary folder)")
    parser.add_argument("train_args", nargs=argparse.REMAINDER, help="-- then `infoprompt train` flags")
    args = parser.parse_args()
    train_args = [a for a in args.train_args if a != "--"]
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="infoprompt-fault-"))
    report = kill_and_resume(train_args, workdir, kills=args.kills, seed=args.seed,
                             launcher=args.launcher)
    print(json.dumps({**report.to_dict(), "workdir": str(workdir), "train_args": train_args}))
    return 0 if report.identical else 1


if __name__ == "__main__":
    sys.exit(main())
