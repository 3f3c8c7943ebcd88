"""Atomic file writes (temporary file in the same folder, fsync, rename): a reader sees the old file
or the new one, never a torn one, even after `kill -9` or a full disk (the temporary file is removed
and the previous file is left as it was). Torch-free, so light processes (the sweep driver, its
workers' bookkeeping) can use it without paying for importing torch.

Files get the permissions a plain `open()` would give them (0666 minus the umask), not the 0600 of
`tempfile.mkstemp`, so shared run folders stay readable by the group the umask allows."""

from __future__ import annotations

import json
import math
import os
import tempfile
from pathlib import Path


def current_umask() -> int:
    """The process umask (read by setting and restoring it: the only portable way)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def make_temp(path: Path) -> tuple[int, str]:
    """A temporary file beside `path` with umask-respecting permissions: (fd, name)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        os.fchmod(fd, 0o666 & ~current_umask())
    except OSError:
        pass  # a file system without POSIX modes (some network mounts): keep what mkstemp gave
    return fd, tmp


def check_output_dir(path: Path, flag: str = "--output") -> None:
    """Refuse, before any work, an output folder that cannot be one: a file in the way (at the path or
    above it), or a nearest existing ancestor that is not writable. Raises ConfigError (one line)."""
    from infoprompt.errors import ConfigError

    path = Path(path)
    if path.exists() and not path.is_dir():
        raise ConfigError(f"{flag} {path}: is an existing file, not a folder (a run writes several files there)")
    ancestor = path
    while not ancestor.exists():
        if ancestor.parent == ancestor:
            break
        ancestor = ancestor.parent
    if ancestor.exists() and not ancestor.is_dir():
        raise ConfigError(f"{flag} {path}: {ancestor} is a file, so no folder can be made under it")
    if not os.access(ancestor, os.W_OK | os.X_OK):
        raise ConfigError(f"{flag} {path}: {ancestor} is not writable (permission denied or read-only)")


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write to a temporary file in the same directory, fsync, then rename over `path`."""
    path = Path(path)
    fd, tmp = make_temp(path)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def finite_json(obj):
    """`obj` with every NaN or infinite float replaced by None: bare NaN/Infinity are not JSON, and every
    record the toolkit writes must parse with any JSON reader (dumped with allow_nan=False)."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: finite_json(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [finite_json(v) for v in obj]
    return obj


def json_text(obj, **kwargs) -> str:
    """`json.dumps` that always writes valid JSON (see finite_json)."""
    return json.dumps(finite_json(obj), allow_nan=False, **kwargs)


def atomic_write_json(path: Path, obj: dict) -> None:
    atomic_write_bytes(path, (json_text(obj, indent=2, sort_keys=True) + "\n").encode("utf-8"))
