"""`--backend ray` against a local Ray instance (pip install 'infoprompt[ray]'); one instance, ~15 s."""

from __future__ import annotations

import json
import os

import fakerun
import pytest

from infoprompt.sweep import RunSpec, run_sweep
from infoprompt.sweep import rundir as rd
from infoprompt.sweep.executor import prepare

ray = pytest.importorskip("ray")


def test_ray_backend_runs_each_run_once_in_worker_processes_and_resumes_crashed_ones(tmp_path, monkeypatch):
    # Ray's local workers inherit this environment: they can import the fake run function.
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(fakerun.HERE), os.environ.get("PYTHONPATH", "")]))
    monkeypatch.setenv("RAY_AUTH_MODE", "disabled")
    runs = tmp_path / "runs"
    specs = [RunSpec({"method": m, "seed": s}) for m in ("warp", "infoprompt") for s in (0, 1)]
    crashed = prepare(specs, runs)[2][1]
    rd.append_attempt(crashed, "start", attempt=1, resume=False)  # an earlier sweep died while running it
    result = run_sweep(specs, runs, workers=2, backend="ray", run_fn="fakerun:run", progress=False)
    assert not ray.is_initialized()  # the sweep shut down the instance it started
    assert result.ok and len(result.outcomes) == 4 and {o.status for o in result.outcomes} == {"finished"}
    pids = set()
    for spec, run_dir in prepare(specs, runs):
        assert rd.is_finished(run_dir, spec.hash)
        starts = [json.loads(x) for x in (run_dir / "starts.log").read_text().splitlines()]
        assert [s["resume"] for s in starts] == [run_dir == crashed]
        pids |= {s["pid"] for s in starts}
    assert os.getpid() not in pids and len(pids) == 4  # one worker process per run, none of them this one
    again = run_sweep(specs, runs, workers=2, backend="ray", run_fn="fakerun:run", progress=False)
    assert again.skipped == 4 and again.outcomes == []  # nothing to do: Ray is not even started
