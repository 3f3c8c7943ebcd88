"""Errors a user can act on. The CLI maps these to a one-line message and exit code 2 (`error_line`)."""

import contextlib
import errno
import signal
import threading
from collections.abc import Iterator


class InfoPromptError(Exception):
    """Base class for every error caused by user input (files, flags, checkpoints)."""


class DataError(InfoPromptError):
    """A data file is malformed; the message names file, line and field."""


class ConfigError(InfoPromptError):
    """An option value is invalid or inconsistent."""


class CheckpointError(InfoPromptError):
    """A checkpoint is missing, corrupted or incompatible with the requested backbone or task."""


class TrainingDivergedError(InfoPromptError):
    """A loss term became NaN or infinite; the last good checkpoint is kept."""


def environment_error_line(err: BaseException) -> str | None:
    """One line for a failure of the machine rather than of the code (file system, memory, encoding),
    or None when `err` is not one. The CLI prints it instead of a traceback (exit code 2)."""
    if isinstance(err, OSError):
        where = f"{err.filename}: " if err.filename else ""
        reason = err.strerror or str(err) or type(err).__name__
        hint = _OS_HINTS.get(err.errno, "")
        return f"{where}{reason}{hint}"
    if isinstance(err, UnicodeError):
        return f"text is not valid {getattr(err, 'encoding', 'UTF-8')} ({err}); save the file as UTF-8"
    if isinstance(err, MemoryError) or type(err).__name__ == "OutOfMemoryError":
        first = (str(err).strip().splitlines() or [""])[0]
        return f"out of memory{': ' + first if first else ''} (lower --batch-size, --max-length or --eval-batch-size)"
    return None


_OS_HINTS = {
    errno.ENOSPC: " (disk full: files saved before are kept as they were; free space and rerun, with --resume "
                  "to continue a training run)",
    errno.EROFS: " (read-only file system: choose another --output)",
    errno.EACCES: " (check the permissions, or choose another path)",
    errno.EPERM: " (check the permissions, or choose another path)",
    errno.EEXIST: " (a file is in the way where a folder is needed)",
    errno.ENOTDIR: " (a file is in the way where a folder is needed)",
    errno.EISDIR: " (a folder where a file is needed)",
}


def check_settings(checks: list[tuple[bool, str]]) -> None:
    """Raise a ConfigError with the message of the first failed (condition, message) pair."""
    for ok, message in checks:
        if not ok:
            raise ConfigError(message)


KEPT = "files saved before are kept (rerun with --resume to continue a training run)"


class Terminated(BaseException):
    """SIGTERM, raised in the main thread (a BaseException, like KeyboardInterrupt, so that no
    `except Exception` swallows it; temp-and-rename writes clean their temporary file on the way out)."""


def _on_sigterm(signum, frame) -> None:
    raise Terminated()


@contextlib.contextmanager
def sigterm_raises() -> Iterator[None]:
    """While the block runs in the main thread, SIGTERM raises `Terminated` (elsewhere nothing changes:
    Python delivers signals to the main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def one_line(text: str) -> str:
    """Messages are one line: embedded line breaks (from a library's error) become ' | '."""
    return " | ".join(part.strip() for part in text.strip().splitlines() if part.strip())


def error_line(err: BaseException) -> str | None:
    """What `infoprompt` prints after 'infoprompt: ' when a command ends in `err`: one line for a user's
    error, the machine's failure, SIGINT or SIGTERM; None for a bug (whose traceback is kept). The CLI and
    the sweep's runs (their failed run's error) both report through it."""
    if isinstance(err, InfoPromptError):
        return f"error: {one_line(str(err))}"
    if isinstance(err, (OSError, UnicodeError, MemoryError, RuntimeError)):
        line = environment_error_line(err)  # disk, permissions, memory: one line too
        return None if line is None else f"error: {one_line(line)}"
    if isinstance(err, KeyboardInterrupt):
        return f"interrupted (SIGINT); {KEPT}"
    if isinstance(err, Terminated):
        return f"error: terminated (SIGTERM); {KEPT}"
    return None
