"""The Ray processes a sweep's local instance started: stopped at the end, and after a kill on the next start.

`ray.shutdown()` leaves nothing when the driver exits normally, but a SIGKILLed sweep never reaches it, and
Ray's agents (`ray::DashboardAgent`, `RuntimeEnvAgent`, ...) outlive their driver. So the sweep writes the
ids of the processes under it to a state file once the instance is up; the next sweep stops those still
running (the same pid *and* start time: a recycled pid is never touched) and says so, and a normal close
stops any that `ray.shutdown()` left. Each driver has its own state file, and the processes of a driver
that is still running (another sweep on the same machine) are never touched: only a dead driver's are.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path

STOP_WAIT = 5.0  # seconds a process gets to exit after SIGTERM before SIGKILL


def _prefix() -> str:
    return f"infoprompt-ray-{os.getuid() if hasattr(os, 'getuid') else 0}"


def state_file() -> Path:
    """This driver's state file ($INFOPROMPT_RAY_STATE when set: then it is the only one looked at)."""
    chosen = os.environ.get("INFOPROMPT_RAY_STATE")
    return Path(chosen) if chosen else Path(tempfile.gettempdir()) / f"{_prefix()}-{os.getpid()}.json"


def state_files() -> list[Path]:
    """Every driver's state file of this user (the one named by $INFOPROMPT_RAY_STATE when set)."""
    chosen = os.environ.get("INFOPROMPT_RAY_STATE")
    if chosen:
        return [Path(chosen)]
    folder = Path(tempfile.gettempdir())
    return sorted([*folder.glob(f"{_prefix()}-*.json"), *folder.glob(f"{_prefix()}.json")])


def _started(pid: int) -> float | None:
    import psutil

    try:
        return psutil.Process(pid).create_time()
    except psutil.Error:
        return None


def driver_alive(state: dict) -> bool:
    """Whether the sweep that wrote `state` still runs (the same pid and, when recorded, start time)."""
    try:
        pid = int(state["driver"])
    except (KeyError, TypeError, ValueError):
        return False
    if pid == os.getpid():
        return False
    started = _started(pid)
    if started is None:
        return False
    recorded = state.get("driver_started")
    return recorded is None or abs(started - float(recorded)) < 0.01


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
    tmp.write_text(json.dumps({"driver": os.getpid(), "driver_started": _started(os.getpid()),
                               "processes": processes}), encoding="utf-8")
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
    """Before a local instance starts: stop what earlier, killed sweeps left running (with a message); the
    processes of a sweep that is still running are left alone."""
    total = 0
    for path in state_files():
        try:
            state = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            continue
        except (OSError, json.JSONDecodeError, UnicodeDecodeError):
            state = {}
        if not isinstance(state, dict):
            state = {}
        if driver_alive(state):
            continue  # another sweep's Ray instance, in use
        stopped = stop(state.get("processes") or [])
        path.unlink(missing_ok=True)
        if stopped:
            print(f"infoprompt: stopped {stopped} Ray process(es) left running by an earlier sweep "
                  f"(driver pid {state.get('driver')}, killed before it could shut Ray down)", file=sys.stderr)
        total += stopped
    return total


def close(processes: list[dict]) -> None:
    """After `ray.shutdown()`: stop any of the recorded processes still running, and forget them."""
    stop(processes)
    state_file().unlink(missing_ok=True)
