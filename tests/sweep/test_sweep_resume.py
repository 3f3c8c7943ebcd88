"""Acceptance: a sweep killed part-way and rerun finishes without redoing finished runs, and its report
equals the report of an uninterrupted sweep."""

from __future__ import annotations

import json
import os
import signal
import time

import fakerun

from infoprompt.sweep import expand, load_sweep, run_sweep
from infoprompt.sweep import rundir as rd


def starts(run_dir):
    path = run_dir / "starts.log"
    return [json.loads(x) for x in path.read_text().splitlines()] if path.is_file() else []


def wait_for(condition, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def test_killed_sweep_resumes_without_redoing_finished_runs_and_reports_the_same(tmp_path):
    config = tmp_path / "sweep.yaml"
    config.write_text(fakerun.SWEEP_YAML)
    specs = expand(load_sweep(config))
    assert len(specs) == fakerun.N_RUNS

    # Reference: the same sweep, never interrupted (in-process run function, same scores).
    reference = run_sweep(specs, tmp_path / "reference", run_fn=fakerun.run, progress=False)
    assert reference.ok and len(reference.outcomes) == fakerun.N_RUNS

    runs = tmp_path / "runs"
    # The grid's second run hangs, so the kill is sure to catch it part-way.
    hang = "sst2_warp_np4_full_seed1_"
    sweep = fakerun.sweep_process(config, runs, workers=2, hang=hang)
    finished = lambda: [d for d in runs.glob("*_*") if (d / rd.RESULT).is_file()]  # noqa: E731
    wait_for(lambda: len(finished()) >= 2 and any(starts(d) for d in runs.glob(hang + "*")), 180, "runs to start")
    os.kill(sweep.pid, signal.SIGKILL)  # the sweep only: its workers must notice and stop
    sweep.wait(10)
    done_before = {d.name for d in finished()}
    dirs = [d for d in runs.iterdir() if (d / rd.SPEC).is_file()]
    # workers exit within ~1 s of their sweep's death, and the OS releases their locks
    wait_for(lambda: all(rd.run_state(d, d.name[-10:]) != "running" for d in dirs), 60, "orphaned workers to exit")
    done_before |= {d.name for d in finished()}  # a run that finished as the sweep died
    interrupted = [d for d in dirs if d.name not in done_before and starts(d)]
    assert 2 <= len(done_before) < fakerun.N_RUNS and any(d.name.startswith(hang) for d in interrupted)

    rerun = fakerun.sweep_process(config, runs, workers=2)
    output, _ = rerun.communicate(timeout=120)
    assert rerun.returncode == 0, output
    assert f"{len(done_before)} already finished" in output
    for d in dirs:
        history = [s["resume"] for s in starts(d)]
        if d.name in done_before:
            assert history == [False], d.name  # never redone
        elif d in interrupted:
            assert history == [False, True], d.name  # restarted once, with --resume
        else:
            assert history == [False], d.name
    assert fakerun.report_texts(runs, tmp_path / "r1") == fakerun.report_texts(tmp_path / "reference", tmp_path / "r2")
