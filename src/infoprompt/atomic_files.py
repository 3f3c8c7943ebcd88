"""Atomic file writes (temporary file in the same folder, fsync, rename): a reader sees the old file
or the new one, never a torn one, even after `kill -9`. Torch-free, so light processes (the sweep
driver, its workers' bookkeeping) can use it without paying for importing torch."""

from __future__ import annotations

import json
import math
import os
import tempfile
from pathlib import Path


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write to a temporary file in the same directory, fsync, then rename over `path`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
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
