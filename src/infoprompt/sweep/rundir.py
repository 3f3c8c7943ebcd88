"""One run's directory: its spec, its lock, its attempts log and its result.

    RUN_DIR/run.json        the spec (flags, argv, hash); identical whoever writes it
    RUN_DIR/.lock           flock held by the process running the run (released by the OS on a crash)
    RUN_DIR/attempts.jsonl  one line per start / finish / failure (written under the lock)
    RUN_DIR/train.log       the run's stdout and stderr, all attempts
    RUN_DIR/result.json     the run's summary, written atomically: the only "finished" marker
    ... plus what `infoprompt train --output RUN_DIR` writes (config.json, model.safetensors, metrics.jsonl)

The lock is an flock (via `filelock`), so it belongs to an open file of a live process: `kill -9`
of that process releases it and the next sweep restarts the run with `--resume`. A run counts as
finished only when result.json exists, parses, and carries the spec's hash.
"""

from __future__ import annotations

import json
import os
import socket
import time
from pathlib import Path

from filelock import FileLock, Timeout

from infoprompt.atomic_files import atomic_write_json, json_text
from infoprompt.errors import ConfigError
from infoprompt.rundir import ATTEMPTS, RESULT, SPEC, SWEEP_LOCK, read_records
from infoprompt.sweep.spec import HASH_CHARS, RunSpec

# The file names are infoprompt.rundir's; SPEC, RESULT and ATTEMPTS are re-exported for the sweep's modules.
__all__ = ["SPEC", "RESULT", "ATTEMPTS", "Timeout", "existing_run_dirs", "find_run_dir",
           "prepare_run_dir", "read_spec", "read_result", "is_finished", "atomic_write_json", "run_lock",
           "read_attempts", "append_attempt", "run_state"]


def existing_run_dirs(runs_dir: Path) -> dict[str, Path]:
    """Run directories already under `runs_dir`, by the hash their name ends with (one scan for a whole sweep)."""
    found: dict[str, Path] = {}
    if runs_dir.is_dir():
        for child in sorted(runs_dir.iterdir()):
            stem, _, digest = child.name.rpartition("_")
            if stem and len(digest) == HASH_CHARS and (child / SPEC).is_file():
                found.setdefault(digest, child)
    return found


def find_run_dir(runs_dir: Path, spec: RunSpec, existing: dict[str, Path] | None = None) -> Path:
    """The run's directory: an existing one with the spec's hash (whatever its readable prefix), else a new name."""
    existing = existing_run_dirs(runs_dir) if existing is None else existing
    return existing.get(spec.hash, runs_dir / spec.name)


def prepare_run_dir(run_dir: Path, spec: RunSpec) -> None:
    """Create the run directory and its run.json (atomically; a same-content rewrite by a second sweep is harmless)."""
    run_dir.mkdir(parents=True, exist_ok=True)
    existing = run_dir / SPEC
    if existing.is_file():
        try:
            recorded = json.loads(existing.read_text(encoding="utf-8")).get("hash")
        except (json.JSONDecodeError, UnicodeDecodeError, AttributeError):
            recorded = None
        if recorded == spec.hash:
            return
        if recorded is not None:
            raise ConfigError(f"{existing}: holds run {recorded}, not {spec.hash}; move the directory away")
    atomic_write_json(existing, spec.to_json())


def read_spec(run_dir: Path) -> RunSpec:
    path = run_dir / SPEC
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
        spec = RunSpec(dict(record["flags"]))
    except FileNotFoundError:
        raise ConfigError(f"{path}: missing (not a sweep run directory)") from None
    except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError) as err:
        raise ConfigError(f"{path}: unreadable run spec ({type(err).__name__}: {err})") from None
    if record.get("hash") != spec.hash:
        raise ConfigError(f"{path}: field 'hash' is {record.get('hash')!r} but the flags hash to {spec.hash!r}")
    return spec


def read_result(run_dir: Path) -> dict | None:
    """The run's result, or None when there is none or it cannot be read (then the run is not finished)."""
    try:
        record = json.loads((run_dir / RESULT).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError, UnicodeDecodeError):
        return None
    return record if isinstance(record, dict) else None


def is_finished(run_dir: Path, spec_hash: str | None = None) -> bool:
    result = read_result(run_dir)
    if result is None:
        return False
    expected = spec_hash or run_dir.name[-HASH_CHARS:]
    return result.get("spec_hash") == expected


def run_lock(run_dir: Path, wait: bool) -> FileLock:
    """The run's flock; `wait=False` fails at once (filelock.Timeout) when another process holds it."""
    timeout = -1 if wait else 0
    try:
        # Fail closed where the filesystem has no flock: a soft lock would not be released by a crash.
        return FileLock(run_dir / SWEEP_LOCK, timeout=timeout, fallback_to_soft=False)
    except TypeError:  # filelock < 3.21 has no soft fallback to turn off
        return FileLock(run_dir / SWEEP_LOCK, timeout=timeout)


def read_attempts(run_dir: Path) -> list[dict]:
    """The attempts log, read by the one JSON-lines reader: a torn last line (a kill mid-write) is skipped, a
    damaged line elsewhere is a DataError naming it."""
    return read_records(run_dir / ATTEMPTS)


def append_attempt(run_dir: Path, event: str, **fields) -> None:
    record = {"event": event, "time": round(time.time(), 3), "pid": os.getpid(), "host": socket.gethostname(), **fields}
    with (run_dir / ATTEMPTS).open("a", encoding="utf-8") as fh:
        fh.write(json_text(record, sort_keys=True) + "\n")
        fh.flush()
        os.fsync(fh.fileno())


def run_state(run_dir: Path, spec_hash: str) -> str:
    """finished | running (locked by a live process) | crashed | failed | pending."""
    if is_finished(run_dir, spec_hash):
        return "finished"
    if not run_dir.is_dir():
        return "pending"
    lock = run_lock(run_dir, wait=False)
    try:
        lock.acquire()
    except Timeout:
        return "running"
    else:
        lock.release()
    if is_finished(run_dir, spec_hash):  # finished between the two looks
        return "finished"
    events = [a.get("event") for a in read_attempts(run_dir)]
    if not events:
        return "pending"
    return "failed" if events[-1] == "failed" else "crashed"
