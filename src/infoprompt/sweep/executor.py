"""Run a sweep: prepare every run directory, skip finished runs, run the rest N at a time.

A run another process is running (its lock is held) is put back at the end of the queue and then
waited for: when its lock frees, it is either finished (nothing to do) or crashed (restarted with
`--resume`). So two sweeps over the same runs directory share the work and both end complete, and
a sweep rerun after a kill finishes exactly the runs that were not finished.

Backends: "local" (a thread pool; each thread starts one worker process per run, or calls a
Python run function in-process) and "ray" (`infoprompt.sweep.ray_backend`; the run directory
must be on a filesystem every node sees).
"""

from __future__ import annotations

import concurrent.futures as cf
import os
from collections import deque
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Protocol

from infoprompt.errors import ConfigError
from infoprompt.sweep import rundir
from infoprompt.sweep.progress import SweepProgress
from infoprompt.sweep.runners import BUSY, FAILED, Outcome, RunFn, execute_run, run_in_subprocess, train_cli
from infoprompt.sweep.spec import RunSpec

BACKENDS = ("local", "ray")


@dataclass
class SweepResult:
    """How a sweep call ended: counts, and the failed runs with their one-line errors."""

    runs_dir: Path
    total: int
    skipped: int  # finished before this call
    outcomes: list[Outcome] = field(default_factory=list)

    @property
    def failed(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.status == FAILED]

    @property
    def ok(self) -> bool:
        return not self.failed


class Backend(Protocol):
    def submit(self, run_dir: Path, wait: bool) -> object: ...

    def wait_any(self, handles: list) -> list[tuple[object, Outcome]]: ...

    def close(self) -> None: ...


class LocalBackend:
    """A thread per slot; each thread runs `execute_run` in-process or waits on one worker process."""

    def __init__(self, workers: int, run_fn: RunFn | str | None, cwd: str):
        self.pool = cf.ThreadPoolExecutor(max_workers=workers, thread_name_prefix="sweep")
        if callable(run_fn):
            self.launch = partial(_in_process, run_fn=run_fn)
        else:
            threads = max(1, (os.cpu_count() or 1) // workers)
            self.launch = partial(run_in_subprocess, runner=run_fn, cwd=cwd, threads=threads)

    def submit(self, run_dir: Path, wait: bool) -> cf.Future:
        return self.pool.submit(self.launch, run_dir, wait)

    def wait_any(self, handles: list) -> list[tuple[object, Outcome]]:
        done, _ = cf.wait(handles, return_when=cf.FIRST_COMPLETED)
        return [(f, _outcome(f)) for f in done]

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)


def _in_process(run_dir: Path, wait: bool, run_fn: RunFn) -> Outcome:
    return execute_run(run_dir, run_fn, wait=wait)


def _outcome(future: cf.Future) -> Outcome:
    try:
        return future.result()
    except Exception as err:  # a bug in the launcher itself: report it against the run, keep going
        return Outcome("?", FAILED, message=f"{type(err).__name__}: {err}")


def prepare(specs: list[RunSpec], runs_dir: Path) -> list[tuple[RunSpec, Path]]:
    """Create each run's directory and run.json; returns (spec, run_dir) in grid order."""
    runs_dir.mkdir(parents=True, exist_ok=True)
    existing = rundir.existing_run_dirs(runs_dir)
    out = []
    for spec in specs:
        run_dir = rundir.find_run_dir(runs_dir, spec, existing)
        rundir.prepare_run_dir(run_dir, spec)
        out.append((spec, run_dir.resolve()))
    return out


def run_sweep(specs: list[RunSpec], runs_dir: str | Path, *, workers: int = 1, backend: str = "local",
              run_fn: RunFn | str | None = None, progress: bool = True, bar: bool | None = None,
              ray_address: str | None = None, cpus_per_run: float = 1.0) -> SweepResult:
    """Run every spec not yet finished in `runs_dir`.

    `run_fn`: None runs `infoprompt train` in one worker process per run; "module:function" runs
    that function in worker processes; a callable runs in this process (threads when workers > 1).
    """
    if workers < 1:
        raise ConfigError(f"--workers must be >= 1, got {workers}")
    if backend not in BACKENDS:
        raise ConfigError(f"--backend must be one of {BACKENDS}, got '{backend}'")
    if run_fn is train_cli and workers > 1:  # torch's RNG and settings are per process: one run at a time
        raise ConfigError("train_cli runs in-process one at a time; leave run_fn=None for parallel worker processes")
    runs_dir = Path(runs_dir)
    prepared = prepare(specs, runs_dir)
    todo = [d for spec, d in prepared if not rundir.is_finished(d, spec.hash)]
    result = SweepResult(runs_dir, total=len(prepared), skipped=len(prepared) - len(todo))
    meter = SweepProgress(len(prepared), result.skipped, enabled=progress, bar=bar)
    meter.note(f"sweep: {len(prepared)} runs in {runs_dir}: {result.skipped} already finished, {len(todo)} to run "
               f"({workers} at a time, {backend})")
    if not todo:
        meter.close()
        return result
    if backend == "ray":
        from infoprompt.sweep.ray_backend import RayBackend

        engine: Backend = RayBackend(run_fn, address=ray_address, cwd=os.getcwd(), cpus_per_run=cpus_per_run)
    else:
        engine = LocalBackend(workers, run_fn, os.getcwd())
    try:
        _drive(engine, todo, workers, meter, result)
    finally:
        engine.close()
        meter.close()
    return result


def _drive(engine: Backend, todo: list[Path], workers: int, meter: SweepProgress, result: SweepResult) -> None:
    """Keep at most `workers` runs in flight; a busy run goes to the back of the queue, then is waited for."""
    queue: deque[tuple[Path, bool]] = deque((d, False) for d in todo)
    in_flight: dict[object, tuple[Path, bool]] = {}
    while queue or in_flight:
        while queue and len(in_flight) < workers:
            run_dir, wait = queue.popleft()
            in_flight[engine.submit(run_dir, wait)] = (run_dir, wait)
        for handle, outcome in engine.wait_any(list(in_flight)):
            run_dir, wait = in_flight.pop(handle)
            if outcome.status == BUSY:
                meter.note(f"{run_dir.name}: running in another process; will wait for it")
                queue.append((run_dir, True))
                continue
            if outcome.run_dir == "?":
                outcome.run_dir = str(run_dir)
            result.outcomes.append(outcome)
            meter.update(outcome)
