"""Stopping what a killed sweep's Ray instance left running, and never what a running sweep uses."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest

from infoprompt.sweep import ray_cleanup

psutil = pytest.importorskip("psutil")


@pytest.fixture()
def sleeper():
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    time.sleep(0.2)
    yield proc
    proc.kill()
    proc.wait()


def _entry(proc) -> dict:
    return {"pid": proc.pid, "started": psutil.Process(proc.pid).create_time()}


def test_a_dead_drivers_processes_are_stopped(tmp_path, monkeypatch, sleeper, capsys):
    monkeypatch.setattr(ray_cleanup.tempfile, "gettempdir", lambda: str(tmp_path))
    monkeypatch.delenv("INFOPROMPT_RAY_STATE", raising=False)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    state = tmp_path / f"{ray_cleanup._prefix()}-{dead.pid}.json"
    state.write_text(json.dumps({"driver": dead.pid, "driver_started": 1.0, "processes": [_entry(sleeper)]}))
    assert ray_cleanup.reap_stale() == 1
    assert sleeper.wait(timeout=10) is not None
    assert not state.exists()
    assert "stopped 1 Ray process(es)" in capsys.readouterr().err


def test_a_running_drivers_processes_are_left_alone(tmp_path, monkeypatch, sleeper):
    monkeypatch.setattr(ray_cleanup.tempfile, "gettempdir", lambda: str(tmp_path))
    monkeypatch.delenv("INFOPROMPT_RAY_STATE", raising=False)
    driver = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        started = psutil.Process(driver.pid).create_time()
        state = tmp_path / f"{ray_cleanup._prefix()}-{driver.pid}.json"
        state.write_text(json.dumps({"driver": driver.pid, "driver_started": started, "processes": [_entry(sleeper)]}))
        assert ray_cleanup.reap_stale() == 0
        assert sleeper.poll() is None  # another sweep's Ray process keeps running
        assert state.exists()
    finally:
        driver.kill()
        driver.wait()


def test_each_driver_writes_its_own_state_file(tmp_path, monkeypatch):
    monkeypatch.setattr(ray_cleanup.tempfile, "gettempdir", lambda: str(tmp_path))
    monkeypatch.delenv("INFOPROMPT_RAY_STATE", raising=False)
    ray_cleanup.record([])
    written = ray_cleanup.state_file()
    assert written.name.endswith(f"-{os.getpid()}.json")
    assert json.loads(written.read_text())["driver_started"] is not None
    assert ray_cleanup.state_files() == [written]
    ray_cleanup.close([])
    assert not written.exists()
