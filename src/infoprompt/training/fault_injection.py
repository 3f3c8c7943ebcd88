"""Kill a real training process with SIGKILL at chosen steps, resume it, and compare with a clean run.

This is how we check `--resume` (and how a user can check it on their own setup): the run is an
ordinary `infoprompt train` subprocess, killed from outside (no hook inside the loop), at the moment
its log shows the target step. After the last kill the run is resumed to the end. The interrupted
run must end with the same best dev metric, the same best step and bit-identical best-checkpoint
tensors as an uninterrupted run with the same seed.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from infoprompt.rundir import METRICS_LOG, TENSORS, read_records
from infoprompt.training.checkpoint import _sha256


@dataclass
class FaultReport:
    reference: dict
    resumed: dict
    kill_steps: list[int] = field(default_factory=list)  # the last logged step when each kill landed
    reference_sha256: str = ""
    resumed_sha256: str = ""

    @property
    def identical(self) -> bool:
        keys = ("dev", "best_step", "steps")
        return (all(self.reference.get(k) == self.resumed.get(k) for k in keys)
                and self.reference_sha256 == self.resumed_sha256)

    def to_dict(self) -> dict:
        return {"identical": self.identical, "kill_steps": self.kill_steps,
                "reference": {k: self.reference.get(k) for k in ("dev", "best_step", "steps")},
                "resumed": {k: self.resumed.get(k) for k in ("dev", "best_step", "steps")},
                "checkpoint_sha256": {"reference": self.reference_sha256, "resumed": self.resumed_sha256}}


def _train_command(train_args: list[str], output: Path, resume: bool) -> list[str]:
    command = [sys.executable, "-m", "infoprompt.cli", "train", *train_args, "--output", str(output), "--json", "--quiet"]
    return command + ["--resume"] if resume else command


def _run_to_end(train_args: list[str], output: Path, resume: bool) -> dict:
    done = subprocess.run(_train_command(train_args, output, resume), capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"training failed (exit {done.returncode}): {done.stderr.strip().splitlines()[-1:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _last_step(log: Path) -> int:
    """The step of the last complete record in a growing metrics.jsonl (a torn last line is skipped)."""
    records = read_records(log)
    return int(records[-1].get("step", 0)) if records else 0


def _kill_at(train_args: list[str], output: Path, target: int, resume: bool, timeout: float) -> int:
    """Start a training process; SIGKILL it once its log reaches `target`; return the step it had logged."""
    log = output / METRICS_LOG
    # A starting run replaces its log (truncated on resume, recreated when fresh), so a new inode
    # tells the old process's log from the new one's.
    old_inode = log.stat().st_ino if log.exists() else None
    process = subprocess.Popen(_train_command(train_args, output, resume), stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"training exited (code {process.returncode}) before step {target}: "
                                   f"{process.stderr.read().strip().splitlines()[-1:]}")
            fresh = log.exists() and log.stat().st_ino != old_inode
            if fresh and _last_step(log) >= target:
                os.kill(process.pid, signal.SIGKILL)
                process.wait()
                return _last_step(log)
            time.sleep(0.005)
        raise RuntimeError(f"step {target} not reached within {timeout:.0f}s")
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def kill_and_resume(train_args: list[str], workdir: Path, kills: int = 5, seed: int = 0,
                    timeout: float = 600.0) -> FaultReport:
    """Run once cleanly; run again with `kills` SIGKILLs at random steps and resumes; compare."""
    workdir = Path(workdir)
    reference_dir, faulty_dir = workdir / "reference", workdir / "interrupted"
    reference = _run_to_end(train_args, reference_dir, resume=False)
    total = int(reference["steps"])
    if total < kills + 1:
        raise ValueError(f"the run has only {total} steps; too few for {kills} kills")
    targets = sorted(random.Random(seed).sample(range(1, total), kills))
    report = FaultReport(reference=reference, resumed={})
    for i, target in enumerate(targets):
        if report.kill_steps and target <= report.kill_steps[-1]:
            continue  # the previous kill landed past this step; the next target still interrupts later
        report.kill_steps.append(_kill_at(train_args, faulty_dir, target, resume=i > 0, timeout=timeout))
    report.resumed = _run_to_end(train_args, faulty_dir, resume=True)
    report.reference_sha256 = _sha256(reference_dir / TENSORS)
    report.resumed_sha256 = _sha256(faulty_dir / TENSORS)
    return report
