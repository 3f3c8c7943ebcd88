"""Refuse a multi-process launch that silently became one process (issue 26, item 6).

`accelerate launch --cpu --num_processes 2 -m infoprompt.cli train ...` starts a single process (accelerate's
simple launcher; WORLD_SIZE is never set), so a run asked to use two processes would quietly use one. The
launcher is our parent process: its command line says what was asked for.
"""

from __future__ import annotations

import os

from infoprompt.errors import ConfigError


def launcher_argv(pid: int | None = None) -> list[str]:
    """The parent process's command line (empty where /proc is not readable)."""
    try:
        with open(f"/proc/{pid or os.getppid()}/cmdline", "rb") as fh:
            return [part.decode("utf-8", "replace") for part in fh.read().split(b"\0") if part]
    except OSError:
        return []


def requested_processes(argv: list[str]) -> int | None:
    """The `--num_processes N` (or `--num-processes`) an `accelerate launch` command line asks for."""
    if not any(os.path.basename(a) == "accelerate" for a in argv) or "launch" not in argv:
        return None
    for i, arg in enumerate(argv):
        for flag in ("--num_processes", "--num-processes"):
            value = arg[len(flag) + 1:] if arg.startswith(flag + "=") else (
                argv[i + 1] if arg == flag and i + 1 < len(argv) else None)
            if value is not None and value.lstrip("-").isdigit():
                return int(value)
    return None


def check_launch(argv: list[str] | None = None) -> None:
    """One line, before any work, when a launcher asked for N > 1 processes and this is the only one."""
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        return
    asked = requested_processes(launcher_argv() if argv is None else argv)
    if asked is not None and asked > 1:
        raise ConfigError(f"accelerate launch asked for {asked} processes but started only this one (it does so "
                          f"with --cpu); for {asked} CPU processes run `CUDA_VISIBLE_DEVICES= accelerate launch "
                          f"--multi_gpu --num_processes {asked} -m infoprompt.cli train ...` (docs/performance.md)")
