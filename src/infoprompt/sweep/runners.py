"""How one run is carried out: the per-run protocol (`execute_run`) and the ways to call it.

`execute_run(run_dir, run_fn)` takes the run's lock, skips it if finished, restarts it with
`resume=True` if an earlier attempt crashed or failed, calls `run_fn(spec, run_dir, resume)` and
stores the summary it returns atomically as result.json. It runs inside whichever process does
the training, so the lock is held exactly as long as that process lives:

- `run_in_subprocess` (the default): `python -m infoprompt.sweep.worker RUN_DIR` per run, for
  isolation (a crash or a leak in one run never touches another or the sweep);
- a Python callable passed as `run_fn` runs in the calling process (tests, notebooks).

`train_cli` is the run function of real sweeps: what `infoprompt train <flags> --output RUN_DIR --json
--quiet [--resume]` does, through the Python API (`api.train`), with no command line parsed or printed
output read back.
"""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from infoprompt.errors import ConfigError, Terminated, error_line, sigterm_raises
from infoprompt.rundir import TRAIN_LOG
from infoprompt.sweep import rundir
from infoprompt.sweep.spec import RunSpec

RunFn = Callable[[RunSpec, Path, bool], dict]

FINISHED, ALREADY_DONE, FAILED, BUSY = "finished", "already-done", "failed", "busy"
# Worker exit codes (75 is EX_TEMPFAIL: "try again later").
EXIT_CODES = {FINISHED: 0, FAILED: 1, ALREADY_DONE: 3, BUSY: 75}


class RunFailed(RuntimeError):
    """The training command reported an error; the message is its one-line error."""


@dataclass
class Outcome:
    """What happened to one run in this sweep."""

    run_dir: str
    status: str
    seconds: float = 0.0
    resumed: bool = False
    message: str = ""

    @property
    def name(self) -> str:
        return Path(self.run_dir).name


def execute_run(run_dir: str | Path, run_fn: RunFn | None = None, wait: bool = False) -> Outcome:
    """Run one prepared run directory under its lock (see module docstring). Never raises for a failed run."""
    run_dir = Path(run_dir)
    spec = rundir.read_spec(run_dir)
    lock = rundir.run_lock(run_dir, wait)
    try:
        lock.acquire()
    except rundir.Timeout:
        return Outcome(str(run_dir), BUSY)
    try:
        if rundir.is_finished(run_dir, spec.hash):
            return Outcome(str(run_dir), ALREADY_DONE)
        attempts = rundir.read_attempts(run_dir)
        resume = bool(attempts)  # an earlier attempt crashed or failed: continue from its saved state
        attempt = sum(a.get("event") == "start" for a in attempts) + 1
        rundir.append_attempt(run_dir, "start", attempt=attempt, resume=resume)
        start = time.perf_counter()
        try:
            summary = (run_fn or train_cli)(spec, run_dir, resume)
            if not isinstance(summary, dict):
                raise RunFailed(f"the run function returned {type(summary).__name__}, not a summary dict")
        except Exception as err:  # any failure is this run's, and is recorded; the sweep goes on
            message = _one_line(err)
            if not isinstance(err, RunFailed):
                traceback.print_exc(file=sys.stderr)
            rundir.append_attempt(run_dir, "failed", attempt=attempt, error=message)
            return Outcome(str(run_dir), FAILED, time.perf_counter() - start, resume, message)
        seconds = time.perf_counter() - start
        rundir.atomic_write_json(run_dir / rundir.RESULT, {**summary, "spec_hash": spec.hash})
        rundir.append_attempt(run_dir, "finished", attempt=attempt, seconds=round(seconds, 3))
        return Outcome(str(run_dir), FINISHED, seconds, resume)
    finally:
        lock.release()


def _one_line(err: BaseException) -> str:
    lines = [x for x in str(err).strip().splitlines() if x.strip()]
    first = lines[0] if lines else ""
    return first if isinstance(err, RunFailed) else f"{type(err).__name__}: {first}".rstrip(": ")


def train_cli(spec: RunSpec, run_dir: Path, resume: bool) -> dict:
    """Train the run `spec` names into `run_dir` as `infoprompt train` would, and return its summary.

    The settings go to `api.train` as values (the schema checks them as for the command line); what the
    run prints (the equivalent command first, then the run's own lines and its JSON summary) goes to this
    process's stdout/stderr, i.e. the run's train.log. A user's error ends the run as a failed one with
    the line `infoprompt train` would print, which the sweep records."""
    argv = spec.argv() + [f"--output={run_dir}", "--json", "--quiet"] + (["--resume"] if resume else [])
    print(f"$ infoprompt {' '.join(argv)}", file=sys.stderr, flush=True)  # to rerun this one run by hand
    try:
        with sigterm_raises():  # the worker's main thread: SIGTERM ends the run in one line, as in the CLI
            return _train(spec, run_dir, resume)
    except (Exception, KeyboardInterrupt, Terminated) as err:
        line = error_line(err)
        if line is None:
            raise  # a bug: execute_run keeps its traceback in the log
        print(f"infoprompt: {line}", file=sys.stderr)
        raise RunFailed(f"infoprompt: {line}") from None


def _train(spec: RunSpec, run_dir: Path, resume: bool) -> dict:
    from infoprompt.api import train
    from infoprompt.atomic_files import json_text
    from infoprompt.config import train_config_from_settings
    from infoprompt.data.readers import BadRowPolicy
    from infoprompt.devices import resolve_device
    from infoprompt.report.headline import describe_result

    cfg = train_config_from_settings({**spec.flags, "output": str(run_dir), "resume": resume}, progress=False)
    resolve_device(cfg.device)  # a device that does not exist here: one line, before anything is loaded
    result = train(cfg)
    if not result.main_process:  # a multi-process launch: rank 0 alone reports
        raise RunFailed("infoprompt train printed no JSON summary")
    if result.skipped_rows:
        print(BadRowPolicy(True, list(result.skipped_rows)).summary(), file=sys.stderr)
    print(describe_result(result.summary) + f" -> {result.run_dir}", file=sys.stderr)
    print(json_text(result.summary, sort_keys=True), flush=True)  # the `--json` line, kept in train.log
    return result.summary


def load_runner(reference: str) -> RunFn:
    """'module:function' -> the function (lets a sweep run any importable run function in worker processes)."""
    module_name, _, attr = reference.partition(":")
    if not module_name or not attr:
        raise ConfigError(f"runner '{reference}': expected 'module:function'")
    try:
        return getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as err:
        raise ConfigError(f"runner '{reference}': {err}") from None


def run_in_subprocess(run_dir: str | Path, wait: bool = False, runner: str | None = None,
                      cwd: str | None = None, threads: int | None = None) -> Outcome:
    """One worker process per run; its output is appended to RUN_DIR/train.log."""
    run_dir = Path(run_dir)
    command = [sys.executable, "-m", "infoprompt.sweep.worker", str(run_dir), "--parent-pid", str(os.getpid())]
    if wait:
        command.append("--wait")
    if runner:
        command += ["--runner", runner]
    env = dict(os.environ)
    if threads:  # N workers on one machine: keep each run's torch from claiming every core
        for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
            env.setdefault(name, str(threads))
    start = time.perf_counter()
    with (run_dir / TRAIN_LOG).open("ab") as log:
        proc = subprocess.run(command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=env,
                              cwd=cwd, check=False)
    seconds = time.perf_counter() - start
    status = {code: name for name, code in EXIT_CODES.items()}.get(proc.returncode, FAILED)
    attempts = rundir.read_attempts(run_dir)
    starts = [a for a in attempts if a.get("event") == "start"]
    resumed = bool(starts and starts[-1].get("resume"))
    message = ""
    if status == FAILED:
        last = attempts[-1] if attempts else {}
        if proc.returncode == EXIT_CODES[FAILED] and last.get("event") == "failed":
            message = str(last.get("error", ""))
        elif proc.returncode < 0:
            message = f"worker killed by signal {-proc.returncode}; see {run_dir / TRAIN_LOG}"
        else:
            message = f"worker exited with code {proc.returncode}; see {run_dir / TRAIN_LOG}"
    return Outcome(str(run_dir), status, seconds if status in (FINISHED, FAILED) else 0.0, resumed, message)
