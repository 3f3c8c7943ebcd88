"""Run the whole reliability catalogue (catalogue.py) and print its counts, one command:

    PYTHONPATH=src python3 tests/reliability/run_catalogue.py     # exit 0 only if every case is answered

Every case runs in process through `infoprompt.cli.main`, by the same `run_case` that test_catalogue.py
asserts on (through pytest, so the fixtures are conftest's own: the synthetic task, the tiny BERT, the
trained run). Each case gets one verdict:

    answered   the promised exit code, the one line `infoprompt: error: ...` (for an error) holding the
               promised file, line and field, and its check that nothing was written or lost holds
    traceback  a Python traceback on stderr, or an exception escaped the command
    silent     exit 0 where an error was promised, or the promised text missing from the answer
    hang       no answer within CASE_TIMEOUT seconds
    unclear    anything else: another exit code, more than one line, or its nothing-lost check failed
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from catalogue import CASES, CATEGORIES, Ctx  # noqa: E402

CASE_TIMEOUT = 60  # seconds a case may take before it counts as a hang
VERDICTS = ("answered", "traceback", "silent", "hang", "unclear")
COLUMNS = ("answered", "tracebacks", "silent", "hangs", "unclear")  # the table's headings, one per verdict


@dataclass
class Outcome:
    name: str
    category: str
    verdict: str
    detail: str = ""
    seconds: float = 0.0


class CaseTimeout(BaseException):
    """Raised in the case by SIGALRM; a BaseException so that no `except Exception` of the CLI swallows it."""


@contextlib.contextmanager
def time_limit(seconds: float) -> Iterator[None]:
    """SIGALRM after `seconds` (main thread on POSIX; elsewhere no limit)."""
    if not hasattr(signal, "SIGALRM") or threading.current_thread() is not threading.main_thread():
        yield
        return

    def expire(signum, frame):
        raise CaseTimeout

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def run_case(name: str, tmp: Path, task_files: Path, model: Path, trained: Path, monkeypatch, capsys,
             timeout: float = CASE_TIMEOUT) -> Outcome:
    """One catalogue case through the real CLI, in process, judged (see the module docstring)."""
    from infoprompt.cli import main

    category, build = CASES[name]
    files = tmp / "files"
    shutil.copytree(task_files, files)
    umask = os.umask(0o022)
    os.umask(umask)
    start = time.monotonic()
    try:
        spec = build(Ctx(tmp, files, model, trained, monkeypatch))  # the case's own setup: errors are its bugs
        capsys.readouterr()  # only the case's own command is judged
        with time_limit(timeout):
            try:
                code = main(spec.argv)
            except SystemExit as exit_:  # argparse
                code = exit_.code if isinstance(exit_.code, int) else 2
            finally:
                out, err = capsys.readouterr()
    except CaseTimeout:
        return Outcome(name, category, "hang", f"no answer within {timeout:g} s", time.monotonic() - start)
    except Exception as escaped:  # an exception escaped the command: a traceback
        return Outcome(name, category, "traceback", f"{type(escaped).__name__}: {escaped}"[:500],
                       time.monotonic() - start)
    finally:
        os.umask(umask)
    verdict, detail = judge(spec, code, out, err)
    if verdict == "answered" and spec.check is not None:
        try:
            spec.check(out, err)
        except Exception as failed:
            verdict, detail = "unclear", f"its nothing-lost check failed: {type(failed).__name__}: {failed}"[:500]
    return Outcome(name, category, verdict, detail, time.monotonic() - start)


def judge(spec, code: int, out: str, err: str) -> tuple[str, str]:
    """The verdict on one answer (its nothing-lost check aside)."""
    if "Traceback" in err:
        return "traceback", err[-2000:]
    if code == 0 and spec.code != 0:
        return "silent", f"exit 0, expected {spec.code}; stderr: {err[-500:]}"
    if code != spec.code:
        return "unclear", f"exit {code}, expected {spec.code}; stderr: {err[-2000:]}"
    text = out + err
    if spec.code == 2:
        lines = err.strip().splitlines()
        if len(lines) != 1 or not lines[0].startswith("infoprompt: error: "):
            return "unclear", f"not one line 'infoprompt: error: ...': {lines[:5]}"
        text = lines[0]
    missing = [expected for expected in spec.expect if expected not in text]
    if missing:
        return "silent", f"{missing[0]!r} not in {text[-2000:]!r}"
    return "answered", ""


def table(outcomes: list[Outcome]) -> str:
    """Per category: cases and each verdict's count; then the total."""
    rows = [("category", "cases", *COLUMNS)]
    for category in (*CATEGORIES, "total"):
        mine = [o for o in outcomes if category in (o.category, "total")]
        rows.append((category, len(mine), *(sum(o.verdict == v for o in mine) for v in VERDICTS)))
    return "\n".join(f"{r[0]:<12}" + "".join(f"{v:>11}" for v in r[1:]) for r in rows)


class Collect:
    """pytest plugin: the Outcome each test_case leaves in its report's user_properties."""

    def __init__(self) -> None:
        self.outcomes: list[Outcome] = []

    def pytest_runtest_logreport(self, report) -> None:
        found = [value for key, value in report.user_properties if key == "catalogue_outcome"]
        if report.when == "call" and found:
            self.outcomes.append(found[0])
        elif report.failed and report.when == "setup":  # a fixture failed: the case never ran
            name = report.nodeid.rsplit("[", 1)[-1].rstrip("]")
            self.outcomes.append(Outcome(name, CASES[name][0], "traceback", "setup failed"))


def main(argv: list[str] | None = None) -> int:
    import pytest

    collect = Collect()
    args = [f"{HERE / 'test_catalogue.py'}::test_case", "-p", "no:cacheprovider", "--no-header", *(argv or [])]
    started = time.monotonic()
    pytest.main(args, plugins=[collect])
    print(f"\ncatalogue: {len(collect.outcomes)} of {len(CASES)} cases run in {time.monotonic() - started:.0f} s")
    for outcome in collect.outcomes:
        if outcome.verdict != "answered":
            print(f"{outcome.verdict:<10} {outcome.name}: {outcome.detail.splitlines()[0] if outcome.detail else ''}")
    print(table(collect.outcomes))
    ok = len(collect.outcomes) == len(CASES) and all(o.verdict == "answered" for o in collect.outcomes)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
