"""Two sweeps on one runs directory: every run happens exactly once, nothing is torn, reports agree.

Locks are flocks held by the process doing the run, so they vanish with it (kill -9 included); a run
is finished only once its result.json has been written atomically.
"""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "sweep"))
import fakerun  # noqa: E402  (the sweep tests' cheap run function)

from infoprompt.report import write_report  # noqa: E402
from infoprompt.sweep import RunSpec, execute_run, expand, load_sweep, run_sweep  # noqa: E402
from infoprompt.sweep import rundir as rd  # noqa: E402
from infoprompt.sweep.executor import prepare  # noqa: E402


def starts(run_dir: Path) -> list[dict]:
    path = run_dir / "starts.log"
    return [json.loads(x) for x in path.read_text().splitlines()] if path.is_file() else []


def wait_for(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def test_two_concurrent_sweeps_share_the_work_and_each_run_happens_once(tmp_path):
    config = tmp_path / "sweep.yaml"
    config.write_text("grid:\n  method: [warp, infoprompt]\n  seed: [0, 1, 2]\n")
    runs = tmp_path / "runs"
    first = fakerun.sweep_process(config, runs, workers=2, sleep=0.3)
    second = fakerun.sweep_process(config, runs, workers=2, sleep=0.3)
    outputs = [p.communicate(timeout=120)[0] for p in (first, second)]
    assert [first.returncode, second.returncode] == [0, 0], outputs
    assert all("6/6 runs finished" in out for out in outputs)
    dirs = [d for d in runs.iterdir() if (d / rd.SPEC).is_file()]
    assert len(dirs) == 6
    for d in dirs:
        assert len(starts(d)) == 1, d.name  # never run by both sweeps
        assert rd.is_finished(d) and json.loads((d / rd.RESULT).read_text())["dev"]["accuracy"] > 0
        assert not list(d.glob(".result.json.*")) and not list(d.glob(".run.json.*"))  # no leftover temp files
    reference = run_sweep(expand(load_sweep(config)), tmp_path / "reference", run_fn=fakerun.run, progress=False)
    assert reference.ok
    assert fakerun.report_texts(runs, tmp_path / "a") == fakerun.report_texts(tmp_path / "reference", tmp_path / "b")


def test_a_killed_process_releases_its_run_and_the_next_attempt_resumes(tmp_path):
    (spec, run_dir), = prepare([RunSpec({"seed": 9})], tmp_path / "runs")
    code = ("import sys, fakerun; from infoprompt.sweep import execute_run; "
            "execute_run(sys.argv[1], fakerun.run)")
    env = {**os.environ, "PYTHONPATH": str(fakerun.HERE), "FAKE_HANG": run_dir.name}
    holder = subprocess.Popen([sys.executable, "-c", code, str(run_dir)], env=env)
    try:
        wait_for(lambda: starts(run_dir), 120, "the run to start")
        assert rd.run_state(run_dir, spec.hash) == "running"
        assert execute_run(run_dir, fakerun.run).status == "busy"  # a second process cannot take it
    finally:
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait(10)
    assert rd.run_state(run_dir, spec.hash) == "crashed"  # the OS released the flock with the process
    outcome = execute_run(run_dir, fakerun.run)
    assert (outcome.status, outcome.resumed) == ("finished", True)
    assert [s["resume"] for s in starts(run_dir)] == [False, True]


def test_a_sweep_waits_for_a_run_held_elsewhere_instead_of_redoing_it(tmp_path):
    runs = tmp_path / "runs"
    specs = [RunSpec({"seed": s}) for s in range(3)]
    held_spec, held_dir = prepare(specs, runs)[0]
    released = threading.Event()

    def other_sweep():  # holds the run's lock, finishes it, releases: as a second sweep would
        with rd.run_lock(held_dir, wait=False):
            released.wait(30)
            rd.atomic_write_json(held_dir / rd.RESULT, {"dev": {"accuracy": 0.5}, "spec_hash": held_spec.hash})

    holder = threading.Thread(target=other_sweep)
    holder.start()
    wait_for(lambda: rd.run_state(held_dir, held_spec.hash) == "running", 120, "the lock")
    timer = threading.Timer(0.5, released.set)
    timer.start()
    result = run_sweep(specs, runs, run_fn=fakerun.run, progress=False)
    holder.join()
    assert result.ok and sorted(o.status for o in result.outcomes) == ["already-done", "finished", "finished"]
    assert starts(held_dir) == []  # this sweep never ran it
    assert json.loads((held_dir / rd.RESULT).read_text())["dev"]["accuracy"] == 0.5


def test_concurrent_reports_never_leave_a_torn_or_mixed_file(tmp_path):
    runs = tmp_path / "runs"
    run_sweep([RunSpec({"seed": s, "method": m}) for s in range(3) for m in ("warp", "infoprompt")], runs,
              run_fn=fakerun.run, progress=False)
    out = tmp_path / "report"
    expected = write_report(runs, out, plots=False).markdown
    errors: list[BaseException] = []

    def writer():
        try:
            for _ in range(5):
                write_report(runs, out, plots=False)
        except BaseException as err:  # pragma: no cover - reported by the assert below
            errors.append(err)

    threads = [threading.Thread(target=writer) for _ in range(3)]
    for t in threads:
        t.start()
    for _ in range(50):  # read while they write: every file is always a whole report
        assert (out / "report.md").read_text() == expected
        rows = list(csv.reader((out / "table1.csv").open()))
        # header, the two methods, and the majority-class reference row every score table carries
        assert len(rows) == 4 and rows[0][0] == "method" and "majority" in rows[-1][0]
    for t in threads:
        t.join()
    assert not errors and (out / "report.md").read_text() == expected
    assert not [p for p in out.iterdir() if p.name.startswith(".report.md.")]


@pytest.mark.parametrize("kill_at", ["before-result", "after-result"])
def test_a_run_is_finished_only_once_its_result_is_written(tmp_path, kill_at):
    """A crash just before the atomic result write leaves an unfinished run; just after, a finished one."""
    (spec, run_dir), = prepare([RunSpec({"seed": 11})], tmp_path / "runs")

    def crash_before(spec, d, resume):
        raise KeyboardInterrupt  # stands in for a kill: nothing after this line runs

    if kill_at == "before-result":
        with pytest.raises(KeyboardInterrupt):
            execute_run(run_dir, crash_before)
        assert not rd.is_finished(run_dir, spec.hash) and rd.run_state(run_dir, spec.hash) == "crashed"
    else:
        execute_run(run_dir, fakerun.run)
        # what a kill right after os.replace leaves: the result, without the closing attempts record
        lines = (run_dir / rd.ATTEMPTS).read_text().splitlines()
        (run_dir / rd.ATTEMPTS).write_text(lines[0] + "\n")
        assert rd.run_state(run_dir, spec.hash) == "finished"
        assert execute_run(run_dir, fakerun.run).status == "already-done"
