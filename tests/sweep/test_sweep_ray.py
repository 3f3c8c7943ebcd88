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


DRIVER = """
import json, os, sys, time
from infoprompt.sweep.ray_backend import RayBackend
backend = RayBackend(None, address=None, cwd=os.getcwd())
print(json.dumps(backend.processes), flush=True)
if sys.argv[1] == "hang":
    time.sleep(600)
backend.close()
"""


@pytest.mark.slow  # two local Ray instances: about 40 s on a quiet machine (3 min on a loaded 2-core one)
def test_a_killed_ray_sweep_leaves_no_ray_process_after_the_next_start(tmp_path):
    import signal
    import subprocess
    import sys

    import psutil

    env = {**os.environ, "RAY_AUTH_MODE": "disabled", "INFOPROMPT_RAY_STATE": str(tmp_path / "ray.json"),
           "PYTHONPATH": os.pathsep.join(sys.path)}
    first = subprocess.Popen([sys.executable, "-c", DRIVER, "hang"], stdout=subprocess.PIPE, text=True, env=env)
    started = json.loads(first.stdout.readline())
    assert started and (tmp_path / "ray.json").is_file()
    first.send_signal(signal.SIGKILL)  # no ray.shutdown(), no cleanup of ours
    first.wait(timeout=30)

    def same_alive() -> list[int]:
        alive = []
        for p in started:
            try:
                if abs(psutil.Process(p["pid"]).create_time() - p["started"]) < 0.01:
                    alive.append(p["pid"])
            except psutil.Error:
                pass
        return alive

    left = same_alive()
    second = subprocess.run([sys.executable, "-c", DRIVER, "close"], capture_output=True, text=True, env=env,
                            timeout=300)
    assert second.returncode == 0, second.stderr[-2000:]
    assert not same_alive()  # nothing of the first sweep's Ray survives the second start
    if left:  # some of Ray's processes outlived their killed driver: the second start stopped them and said so
        assert "Ray process(es) left running by an earlier sweep" in second.stderr
    assert not (tmp_path / "ray.json").exists()  # the second sweep closed cleanly and forgot its processes
