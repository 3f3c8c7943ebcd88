"""The Ray processes a sweep's local instance started: stopped at the end, and after a kill on the next start.

`ray.shutdown()` leaves nothing when the driver exits normally, but a SIGKILLed sweep never reaches it, and
Ray's agents (`ray::DashboardAgent`, `RuntimeEnvAgent`, ...) outlive their driver. So the sweep writes the
ids of the processes under it to a state file once the instance is up; the next sweep stops those still
running (the same pid *and* start time: a recycled pid is never touched) and says so, and a normal close
stops any that `ray.shutdown()` left.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path

STOP_WAIT = 5.0  # seconds a process gets to exit after SIGTERM before SIGKILL


def state_file() -> Path:
    uid = os.getuid() if hasattr(os, "getuid") else 0
    return Path(os.environ.get("INFOPROMPT_RAY_STATE") or Path(tempfile.gettempdir()) / f"infoprompt-ray-{uid}.json")


def descendants() -> list[dict]:
    """{pid, started} of every process under this one (Ray's head processes, agents and workers)."""
    import psutil

    out = []
    for child in psutil.Process().children(recursive=True):
        try:
            out.append({"pid": child.pid, "started": child.create_time()})
        except psutil.Error:
            continue
    return out


def record(processes: list[dict]) -> None:
    path = state_file()
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"driver": os.getpid(), "processes": processes}), encoding="utf-8")
    os.replace(tmp, path)


def stop(processes: list[dict]) -> int:
    """Stop those of `processes` still running as the same process; returns how many were stopped."""
    import psutil

    alive = []
    for entry in processes:
        try:
            proc = psutil.Process(int(entry["pid"]))
            if abs(proc.create_time() - float(entry["started"])) < 0.01 and proc.pid != os.getpid():
                alive.append(proc)
        except (psutil.Error, KeyError, ValueError, TypeError):
            continue
    for proc in alive:
        try:
            proc.terminate()
        except psutil.Error:
            pass
    _, survivors = psutil.wait_procs(alive, timeout=STOP_WAIT)
    for proc in survivors:
        try:
            proc.kill()
        except psutil.Error:
            pass
    psutil.wait_procs(survivors, timeout=STOP_WAIT)
    return len(alive)


def reap_stale() -> int:
    """Before a local instance starts: stop what an earlier, killed sweep left running (with a message)."""
    path = state_file()
    if not path.is_file():
        return 0
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        state = {}
    stopped = stop(state.get("processes") or [])
    path.unlink(missing_ok=True)
    if stopped:
        print(f"infoprompt: stopped {stopped} Ray process(es) left running by an earlier sweep "
              f"(driver pid {state.get('driver')}, killed before it could shut Ray down)", file=sys.stderr)
    return stopped


def close(processes: list[dict]) -> None:
    """After `ray.shutdown()`: stop any of the recorded processes still running, and forget them."""
    stop(processes)
    state_file().unlink(missing_ok=True)
