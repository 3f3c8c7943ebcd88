"""Kill a real training process with SIGKILL at random moments, resume it, and compare with a clean run.

This is how we check `--resume` (and how a user can check it on their own setup): the run is an
ordinary `infoprompt train` process, killed from outside (no hook inside the loop), at a random moment
within a randomly drawn step (once its log shows the step, after a random part of a step's duration), so
kills land in steps, evaluations and saves alike. After each kill the run directory must still verify
(`check_run_dir`: the last committed checkpoint and resume state); after the last kill the run is resumed
to the end. The interrupted run must end with the same best dev metric, best step and log, and
bit-identical best-checkpoint tensors, as an uninterrupted run with the same seed.

Processes are started by `launcher`: "subprocess" (a fresh `python -m infoprompt.cli`, as a user runs
it) or "fork" (forked from a server that imported the package once, so twenty kills cost twenty
start-ups of a run, not twenty imports of torch; each is still a separate process killed by SIGKILL).
"""

from __future__ import annotations

import contextlib
import json
import multiprocessing
import os
import random
import runpy
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from infoprompt.rundir import CONFIG, METRICS_LOG, RESUME_DIR, STATE_JSON, STATE_TENSORS, TENSORS, read_records
from infoprompt.training.checkpoint import _sha256, committed_tensor_file, read_checkpoint_config, record_digest

# what the fork server imports once: the CLI and the lazy imports of a run on a BERT-like backbone (a module
# that is not installed is skipped by the server)
PRELOAD = ["infoprompt.cli", "infoprompt.api", "infoprompt.report.learning_curve", "matplotlib.figure",
           "sklearn.model_selection", "transformers.models.bert.modeling_bert"]


@dataclass
class FaultReport:
    reference: dict
    resumed: dict
    kill_steps: list[int] = field(default_factory=list)  # the last logged step when each kill landed
    reference_sha256: str = ""
    resumed_sha256: str = ""
    checkpoints_seen: int = 0  # kills after which a committed checkpoint was found (and verified)
    logs_equal: bool = True  # the two runs' metrics.jsonl, record for record

    @property
    def identical(self) -> bool:
        keys = ("dev", "best_step", "steps")
        return (all(self.reference.get(k) == self.resumed.get(k) for k in keys)
                and self.reference_sha256 == self.resumed_sha256 and self.logs_equal)

    def to_dict(self) -> dict:
        return {"identical": self.identical, "kill_steps": self.kill_steps, "kills": len(self.kill_steps),
                "checkpoints_seen": self.checkpoints_seen, "logs_equal": self.logs_equal,
                "reference": {k: self.reference.get(k) for k in ("dev", "best_step", "steps")},
                "resumed": {k: self.resumed.get(k) for k in ("dev", "best_step", "steps")},
                "checkpoint_sha256": {"reference": self.reference_sha256, "resumed": self.resumed_sha256}}


def _train_command(train_args: list[str], output: Path, resume: bool) -> list[str]:
    argv = ["train", *train_args, "--output", str(output), "--json", "--quiet"]
    return argv + ["--resume"] if resume else argv


class _Run:
    """One training process (a Popen, or a forked multiprocessing child) with its stdout and stderr in files."""

    def __init__(self, argv: list[str], launcher: str, folder: Path):
        fd, name = tempfile.mkstemp(prefix="fault-", dir=folder)
        os.close(fd)
        self.out, self.err = Path(name + ".out"), Path(name + ".err")
        os.unlink(name)
        if launcher == "subprocess":
            with self.out.open("w") as out, self.err.open("w") as err:
                self.proc = subprocess.Popen([sys.executable, "-m", "infoprompt.cli", *argv], stdout=out, stderr=err)
        else:
            context = multiprocessing.get_context("forkserver")
            context.set_forkserver_preload(PRELOAD)
            self.proc = context.Process(target=_cli_child, args=(argv, str(self.out), str(self.err)), daemon=True)
            self.proc.start()

    def poll(self) -> int | None:
        if isinstance(self.proc, subprocess.Popen):
            return self.proc.poll()
        return self.proc.exitcode

    def wait(self) -> int | None:
        self.proc.wait() if isinstance(self.proc, subprocess.Popen) else self.proc.join()
        return self.poll()

    def kill(self) -> None:
        if self.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
        self.wait()

    def tail(self) -> list[str]:
        return self.err.read_text(errors="replace").strip().splitlines()[-1:] if self.err.exists() else []

    def summary(self) -> dict:
        return json.loads(self.out.read_text().strip().splitlines()[-1])

    def close(self) -> None:
        self.kill()
        for path in (self.out, self.err):
            path.unlink(missing_ok=True)


def _cli_child(argv: list[str], out: str, err: str) -> None:
    """A forked child: `python -m infoprompt.cli ARGV` (run as the process's entry point, as the subprocess
    launcher does; the server preloaded its imports), stdout and stderr to files, its exit code the process's."""
    sys.argv = ["infoprompt", *argv]
    with open(out, "w") as stdout, open(err, "w") as stderr:
        with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # runpy: the module was preloaded, as intended
            runpy.run_module("infoprompt.cli", run_name="__main__", alter_sys=True)


def _last_step(log: Path) -> int:
    """The step of the last complete record in a growing metrics.jsonl (a torn last line is skipped)."""
    records = read_records(log)
    return int(records[-1].get("step", 0)) if records else 0


def _watch(run: _Run, log: Path, until, timeout: float) -> list[float]:
    """Poll a starting run's log until `until(step)` holds (or the run ends: `until` None); return the
    times at which new steps appeared. A starting run replaces its log (truncated on resume, recreated
    when fresh), so a new inode tells the old process's log from the new one's."""
    old_inode = log.stat().st_ino if log.exists() else None
    deadline, seen, arrivals = time.monotonic() + timeout, -1, []
    while time.monotonic() < deadline:
        fresh = log.exists() and log.stat().st_ino != old_inode
        step = _last_step(log) if fresh else -1
        if step > seen:
            seen = step
            arrivals.append(time.monotonic())
        if until is not None and fresh and until(step):
            return arrivals
        if run.poll() is not None:
            if until is None and run.poll() == 0:
                return arrivals
            raise RuntimeError(f"training exited (code {run.poll()}) early: {run.tail()}")
        time.sleep(0.005)
    raise RuntimeError(f"the run did not get there within {timeout:.0f}s")


def check_run_dir(run_dir: Path) -> bool:
    """What a kill must leave: the committed checkpoint (if any) and resume state (if any) verify. Returns
    whether there is a checkpoint; raises CheckpointError (or ValueError) if either does not verify."""
    state = run_dir / RESUME_DIR / STATE_JSON
    if state.is_file():
        record = json.loads(state.read_text(encoding="utf-8"))
        tensors = committed_tensor_file(state.parent, STATE_TENSORS, record["tensors_sha256"])
        if record_digest(record) != record["record_sha256"] or _sha256(tensors) != record["tensors_sha256"]:
            raise ValueError(f"{state}: the resume state does not verify after a kill")
    if not (run_dir / CONFIG).exists():
        return False
    read_checkpoint_config(run_dir)
    return True


def kill_and_resume(train_args: list[str], workdir: Path, kills: int = 5, seed: int = 0,
                    timeout: float = 600.0, launcher: str = "subprocess") -> FaultReport:
    """Run once cleanly; run again with `kills` SIGKILLs at random moments and resumes; compare."""
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    reference_dir, faulty_dir = workdir / "reference", workdir / "interrupted"
    rng = random.Random(seed)
    run = _Run(_train_command(train_args, reference_dir, False), launcher, workdir)
    try:
        arrivals = _watch(run, reference_dir / METRICS_LOG, None, timeout)
        run.wait()
        reference = run.summary()
    finally:
        run.close()
    total = int(reference["steps"])
    if total < kills + 1:
        raise ValueError(f"the run has only {total} steps; too few for {kills} kills")
    pace = statistics.median(b - a for a, b in zip(arrivals, arrivals[1:])) if len(arrivals) > 2 else 0.05
    targets = sorted(rng.sample(range(1, total), kills))
    report = FaultReport(reference=reference, resumed={})
    for i, target in enumerate(targets):
        run = _Run(_train_command(train_args, faulty_dir, i > 0), launcher, workdir)
        try:
            _watch(run, faulty_dir / METRICS_LOG, lambda step, t=target: step >= t, timeout)
            time.sleep(rng.uniform(0, pace))  # anywhere in the step: its update, evaluation or saves
            run.kill()
        finally:
            run.close()
        report.kill_steps.append(_last_step(faulty_dir / METRICS_LOG))
        report.checkpoints_seen += check_run_dir(faulty_dir)
    run = _Run(_train_command(train_args, faulty_dir, True), launcher, workdir)
    try:
        if run.wait() != 0:
            raise RuntimeError(f"the resumed run failed (exit {run.poll()}): {run.tail()}")
        report.resumed = run.summary()
    finally:
        run.close()
    report.reference_sha256 = _sha256(reference_dir / TENSORS)
    report.resumed_sha256 = _sha256(faulty_dir / TENSORS)
    report.logs_equal = read_records(reference_dir / METRICS_LOG) == read_records(faulty_dir / METRICS_LOG)
    return report
