"""Errors a user can act on. The CLI maps these to a one-line message and exit code 2."""


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


def check_settings(checks: list[tuple[bool, str]]) -> None:
    """Raise a ConfigError with the message of the first failed (condition, message) pair."""
    for ok, message in checks:
        if not ok:
            raise ConfigError(message)
