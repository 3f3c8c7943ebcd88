"""Errors a user can act on. The CLI maps these to a one-line message and exit code 2."""

import errno


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
