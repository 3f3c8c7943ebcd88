"""Atomic file writes (temporary file in the same folder, fsync, rename): a reader sees the old file
or the new one, never a torn one, even after `kill -9` or a full disk (the temporary file is removed
and the previous file is left as it was). Torch-free, so light processes (the sweep driver, its
workers' bookkeeping) can use it without paying for importing torch.

Files get the permissions a plain `open()` would give them (0666 minus the umask), not the 0600 of
`tempfile.mkstemp`, so shared run folders stay readable by the group the umask allows."""

from __future__ import annotations

import contextlib
import json
import math
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from infoprompt.rundir import (
    CONFIG,
    LEARNING_CURVE,
    METRICS_LOG,
    MODEL_CARD,
    PENDING,
    RESUME_DIR,
    RUN_LOCK,
    RUN_MARKERS,
    STATE_JSON,
    TENSORS,
)


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


def fsync_dir(folder: Path) -> None:
    """fsync a directory, so the renames inside it survive a power cut (best effort: some file systems refuse)."""
    try:
        fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def resolved(path: Path, flag: str) -> Path:
    """`path` with every symlink followed (the last component included); a symlink loop is one line."""
    try:
        return Path(os.path.realpath(path, strict=False))
    except (RuntimeError, OSError) as err:  # Python < 3.13 raises RuntimeError on a loop
        from infoprompt.errors import ConfigError

        raise ConfigError(f"{flag} {path}: cannot be resolved ({err})") from None


def is_run_dir(folder: Path) -> bool:
    """True if `folder` holds an infoprompt checkpoint or training state."""
    return (folder / TENSORS).is_file() or (folder / RESUME_DIR / STATE_JSON).is_file()


def run_dir_of(path: Path) -> Path | None:
    """The run directory `path` lies in (the path itself or any folder above it), or None."""
    for folder in (path, *path.parents):
        if folder.is_dir() and is_run_dir(folder):
            return folder
    return None


def check_output_file(output: Path, inputs: list[Path], flag: str = "--output") -> Path:
    """Refuse an output file that would replace an input (symlinks followed), or any file of a run
    directory (a checkpoint, its log, its resume state): writing there destroys what was read or trained.
    Returns the path as given (it is written by temp-and-rename, so a symlink there is replaced, not
    written through)."""
    from infoprompt.errors import ConfigError

    target = resolved(output, flag)
    for source in inputs:
        if source is not None and target == resolved(Path(source), flag):
            raise ConfigError(f"{flag} {output}: is the input {source} (resolved: {target}); it would be overwritten")
    for candidate in dict.fromkeys((Path(os.path.abspath(output)).parent, target.parent)):
        run = run_dir_of(candidate)
        if run is not None:
            raise ConfigError(f"{flag} {output}: lies in the run directory {run}; writing there could replace the "
                              "checkpoint or its records; choose a path outside it")
    return output


def check_inside(path: Path, root: Path, flag: str = "--output") -> None:
    """Refuse a file of a run that would land outside its run directory (a symlinked file or folder in it)."""
    from infoprompt.errors import ConfigError

    top = resolved(root, flag)
    parent = resolved(Path(path).parent, flag)
    if parent != top and top not in parent.parents:
        raise ConfigError(f"{flag} {root}: {path.parent} resolves to {parent}, outside the run directory")


def check_fresh_run_dir(run_dir: Path, *, overwrite: bool, resume: bool) -> None:
    """A fresh run into a folder that already holds a run is refused unless --overwrite or --resume:
    otherwise one run's log would sit beside another's checkpoint."""
    from infoprompt.errors import ConfigError

    if resume or overwrite or not run_dir.is_dir():
        return
    log = run_dir / METRICS_LOG
    found = [name for name in RUN_MARKERS[:3] if (run_dir / name).exists()]
    if log.exists() and log.stat().st_size > 0:
        found.append(log.name)
    if found:
        raise ConfigError(f"--output {run_dir}: already holds a run ({found[0]}); add --resume to continue it, "
                          "--overwrite to replace it, or choose another --output")


# --overwrite's folders inside RUN_DIR: the old run while it is moved aside, once it is aside (until the new run
# has saved), and the new run's files while a failed new run is undone
MOVING, OVERWRITTEN, DISCARDING, DISCARDED = ".overwriting", ".overwritten", ".discarding", ".discarded"
# what a training run writes into its directory and --overwrite replaces
REPLACED = (CONFIG, TENSORS, PENDING, METRICS_LOG, LEARNING_CURVE, RESUME_DIR, MODEL_CARD)


def _exists(path: Path) -> bool:
    return path.exists() or path.is_symlink()


def _move_into(run_dir: Path, folder: Path) -> None:
    """Move the run's files (and temporary files a kill left of them) into `folder` (made here), the record
    first: a half-moved run never reads as one."""
    folder.mkdir(exist_ok=True)
    temporary = [p.name for name in REPLACED for p in run_dir.glob(f".{name}.*")]  # see make_temp
    for name in [*sorted(REPLACED, key=lambda n: n != CONFIG), *temporary]:
        if _exists(run_dir / name):
            os.replace(run_dir / name, folder / name)


def _move_back(folder: Path, run_dir: Path) -> None:
    """Move `folder`'s files back into the run directory, the record last; then remove the folder."""
    for entry in sorted(folder.iterdir(), key=lambda p: p.name == CONFIG):
        os.replace(entry, run_dir / entry.name)
    folder.rmdir()
    fsync_dir(run_dir)


def settle_overwrite(run_dir: Path, finished: bool = False) -> None:
    """End an --overwrite (one that returned or failed, or one killed, found by the next run). Once the new run
    has committed a checkpoint (its config.json) or finished, the old run's files go; before that the new run's
    files go and the old run's come back, so a new run that fails before its first save loses nothing. Each
    step is a rename into or out of a hidden folder, so a kill at any point is settled by the next call."""
    run_dir = Path(run_dir)
    if (run_dir / MOVING).is_dir():  # killed while the old run was being moved aside: nothing new was written
        _move_back(run_dir / MOVING, run_dir)
    aside = run_dir / OVERWRITTEN
    if aside.is_dir() and (finished or (run_dir / CONFIG).exists()) and not (run_dir / DISCARDED).is_dir():
        shutil.rmtree(aside)
    elif aside.is_dir():
        if not (run_dir / DISCARDED).is_dir():
            _move_into(run_dir, run_dir / DISCARDING)
            os.replace(run_dir / DISCARDING, run_dir / DISCARDED)
        _move_back(aside, run_dir)
    for leftover in (DISCARDING, DISCARDED):
        if (run_dir / leftover).is_dir():
            shutil.rmtree(run_dir / leftover)


@contextlib.contextmanager
def replacing_run(run_dir: Path, overwrite: bool) -> Iterator[None]:
    """Around a run that holds its directory's lock: under --overwrite the old run's files move into
    RUN_DIR/.overwritten, and `settle_overwrite` ends it: deleted once the new run has saved, put back if it
    fails before. A leftover of a killed --overwrite is settled first, whatever this run's flags."""
    run_dir = Path(run_dir)
    settle_overwrite(run_dir)
    if overwrite and any(_exists(run_dir / name) for name in REPLACED):
        _move_into(run_dir, run_dir / MOVING)
        os.replace(run_dir / MOVING, run_dir / OVERWRITTEN)
        fsync_dir(run_dir)
    try:
        yield
    except BaseException:
        settle_overwrite(run_dir)
        raise
    settle_overwrite(run_dir, finished=True)


class RunLock:
    """One writer per run directory: an flock on RUN_DIR/.infoprompt.lock holding 'pid host' of its holder.
    The OS releases it when the holder dies (even by kill -9); the file is removed on a clean release."""

    def __init__(self, run_dir: Path):
        self.path = Path(run_dir) / RUN_LOCK
        self.fd: int | None = None

    def acquire(self) -> RunLock:
        import fcntl
        import socket

        from infoprompt.errors import ConfigError

        self.path.parent.mkdir(parents=True, exist_ok=True)
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o666 & ~current_umask())
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = os.pread(fd, 200, 0).decode("utf-8", "replace").strip() or "unknown"
                os.close(fd)
                raise ConfigError(f"--output {self.path.parent}: another infoprompt process is writing to this run "
                                  f"directory (pid {holder}; lock {self.path}); wait for it to end or choose "
                                  "another --output") from None
            try:  # the holder before us may have removed the file after we opened it: lock the live one
                same = os.fstat(fd).st_ino == os.stat(self.path, follow_symlinks=False).st_ino
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()} on host {socket.gethostname()}\n".encode(), 0)
        self.fd = fd
        return self

    def release(self) -> None:
        if self.fd is None:
            return
        try:
            os.unlink(self.path)
        except OSError:
            pass
        os.close(self.fd)  # closing releases the flock
        self.fd = None

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()
