"""Issue 25: `--overwrite` keeps the old run until the new one has saved. The old run's files move into
RUN_DIR/.overwritten at the start; they are deleted once the new run commits its first checkpoint (or finishes)
and put back if it fails before; a kill at any rename of that dance is settled by the next run."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
import torch

from infoprompt.atomic_files import replacing_run, settle_overwrite
from infoprompt.cli import main
from infoprompt.rundir import CONFIG, LEARNING_CURVE, METRICS_LOG, RESUME_DIR, RUN_LOCK, STATE_JSON


class Interrupt(Exception):
    """A crash inside the new run's first training step."""


def _files(folder: Path) -> dict[str, bytes]:
    """Every file of a run directory (hidden folders included) by relative path, the lock left out."""
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file() and p.name != RUN_LOCK}


def _evaluate(run: Path, capsys) -> dict:
    capsys.readouterr()
    assert main(["evaluate", "--checkpoint", str(run), "--json"]) == 0
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])["dev"]


def _crash_in_the_first_step(monkeypatch) -> None:
    from infoprompt.methods.base import PromptMethod

    original = torch.nn.Module.__call__

    def crashing(self, *args, **kwargs):
        if isinstance(self, PromptMethod) and self.training:
            raise Interrupt("crash in step 1")
        return original(self, *args, **kwargs)

    monkeypatch.setattr(torch.nn.Module, "__call__", crashing)


def test_an_overwrite_that_fails_before_its_first_save_leaves_the_old_run(tmp_path, train_argv, capsys, monkeypatch):
    run = tmp_path / "run"
    assert main(train_argv(run, "--method", "warp", "--epochs", "2")) == 0
    before, score = _files(run), _evaluate(run, capsys)
    assert {CONFIG, METRICS_LOG, LEARNING_CURVE, f"{RESUME_DIR}/{STATE_JSON}"} <= set(before)
    with monkeypatch.context() as patch:
        _crash_in_the_first_step(patch)
        with pytest.raises(Interrupt):
            main(train_argv(run, "--method", "warp", "--epochs", "1", "--seed", "7", "--overwrite"))
    assert _files(run) == before  # byte for byte, no hidden folder left
    assert _evaluate(run, capsys) == score


def test_a_successful_overwrite_leaves_no_old_file(tmp_path, train_argv, capsys):
    run, fresh = tmp_path / "run", tmp_path / "fresh"
    assert main(train_argv(run, "--method", "warp", "--epochs", "2")) == 0
    new = ("--method", "warp", "--epochs", "1", "--seed", "7", "--max-steps", "2")  # no evaluation of epoch 2's
    assert main(train_argv(fresh, *new)) == 0
    assert main(train_argv(run, *new, "--overwrite")) == 0
    got, want = _files(run), _files(fresh)
    assert sorted(got) == sorted(want)  # the same files as a fresh run of the new settings, none hidden
    assert got[METRICS_LOG] == want[METRICS_LOG]
    assert json.loads(got[f"{RESUME_DIR}/{STATE_JSON}"])["position"]["step"] == 2
    assert _evaluate(run, capsys) == _evaluate(fresh, capsys)


def _old_run(run: Path) -> dict[str, bytes]:
    """A stand-in run directory (the settle logic moves files; it never reads them)."""
    for name, text in ((CONFIG, "old record"), ("model.safetensors", "old tensors"), (METRICS_LOG, "old log\n"),
                       (LEARNING_CURVE, "old plot"), (f"{RESUME_DIR}/{STATE_JSON}", "old state")):
        (run / name).parent.mkdir(parents=True, exist_ok=True)
        (run / name).write_text(text)
    return _files(run)


def _snapshot_every_rename(monkeypatch, run: Path, out: Path) -> list[Path]:
    """Copies of `run` before and after every rename and folder removal: what a SIGKILL there leaves."""
    taken: list[Path] = []

    def wrap(real):
        def call(*args, **kwargs):
            for moment in ("before", "after"):
                if moment == "after":
                    result = real(*args, **kwargs)
                taken.append(out / f"kill{len(taken):03d}")
                shutil.copytree(run, taken[-1], symlinks=True)
            return result
        return call

    for name in ("replace", "rmdir"):
        monkeypatch.setattr(os, name, wrap(getattr(os, name)))
    return taken


@pytest.mark.parametrize("saves", [False, True])
def test_a_kill_at_any_rename_of_an_overwrite_is_settled_by_the_next_run(tmp_path, monkeypatch, saves):
    run = tmp_path / "run"
    run.mkdir()
    old = _old_run(run)
    new = {METRICS_LOG: b"new log\n", **({CONFIG: b"new record"} if saves else {})}
    with monkeypatch.context() as patch:
        taken = _snapshot_every_rename(patch, run, tmp_path / "kills")
        with pytest.raises(Interrupt), replacing_run(run, overwrite=True):
            for name, data in new.items():  # the new run's writes (a checkpoint commit is a rename too)
                (run / f".{name}.tmp").write_bytes(data)
                os.replace(run / f".{name}.tmp", run / name)
            raise Interrupt("the new run fails")
    assert len(taken) >= 12
    outcomes = set()
    for snap in [*taken, run]:
        settle_overwrite(snap)
        files = _files(snap)
        assert files in (old, new), snap.name  # the old run, whole, or the new one's files, never a mix
        outcomes.add("old" if files == old else "new")
    assert outcomes == ({"old", "new"} if saves else {"old"})
    assert _files(run) == (new if saves else old)
