"""`python -m infoprompt.sweep.worker RUN_DIR`: carry out one sweep run in its own process.

The worker, not the sweep, holds the run's lock, so the lock lives exactly as long as the process
that trains. With `--parent-pid` the worker exits when the sweep that started it dies (its parent
pid changes), so killing a sweep stops its runs instead of leaving orphans behind; the next sweep
resumes them. Exit codes: 0 finished, 3 already finished, 75 locked by another process, 1 failed.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time

from infoprompt.errors import InfoPromptError
from infoprompt.sweep.runners import EXIT_CODES, execute_run, load_runner, train_cli


def _exit_with_parent(parent_pid: int, interval: float = 1.0) -> None:
    """Polling getppid() is portable and safe with threads (prctl's PDEATHSIG is Linux-only and per thread)."""

    def watch() -> None:
        while True:
            if os.getppid() != parent_pid:
                os._exit(137)  # the OS releases the run's flock; the run reads as crashed and is resumed later
            time.sleep(interval)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infoprompt.sweep.worker")
    parser.add_argument("run_dir")
    parser.add_argument("--parent-pid", type=int, help="exit when this process is no longer the parent")
    parser.add_argument("--wait", action="store_true", help="wait for the run's lock instead of giving up")
    parser.add_argument("--runner", help="module:function to call instead of `infoprompt train`")
    args = parser.parse_args(argv)
    if args.parent_pid:
        _exit_with_parent(args.parent_pid)
    try:
        run_fn = load_runner(args.runner) if args.runner else train_cli
        outcome = execute_run(args.run_dir, run_fn, wait=args.wait)
    except InfoPromptError as err:
        print(f"infoprompt sweep worker: error: {err}", file=sys.stderr)
        return EXIT_CODES["failed"]
    if outcome.message:
        print(f"infoprompt sweep worker: {outcome.status}: {outcome.message}", file=sys.stderr)
    return EXIT_CODES[outcome.status]


if __name__ == "__main__":
    sys.exit(main())
