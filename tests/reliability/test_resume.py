"""`--resume`: a run interrupted at any step and resumed ends bit-identical to an uninterrupted one."""

from __future__ import annotations

import json

import pytest
import torch

from infoprompt.cli import main
from infoprompt.training.checkpoint import TENSORS, _sha256
from infoprompt.training.fault_injection import kill_and_resume
from infoprompt.training.resume import RESUME_DIR, STATE_JSON, STATE_TENSORS


class Interrupt(Exception):
    """Stands in for a crash: raised from inside a training step."""


def _summary(capsys) -> dict:
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


def _crash_at_step(monkeypatch, step: int) -> None:
    """Make the method's forward raise once `step` forward calls in training mode have run."""
    from infoprompt.methods.base import PromptMethod

    calls = {"n": 0}
    original = torch.nn.Module.__call__

    def counting_call(self, *args, **kwargs):
        if isinstance(self, PromptMethod) and self.training:
            calls["n"] += 1
            if calls["n"] > step:
                raise Interrupt(f"crash after step {step}")
        return original(self, *args, **kwargs)

    monkeypatch.setattr(torch.nn.Module, "__call__", counting_call)


@pytest.mark.parametrize("method, flags", [("infoprompt", []), ("warp", []), ("warp", ["--bucket-batches", "2"]),
                                          ("residual", ["--residual-bottleneck", "8"]), ("prompt", ["--mi-losses"]),
                                          ("late", []), ("idpg", ["--prompt-layer", "2"])])
def test_crash_then_resume_matches_uninterrupted(tmp_path, capsys, monkeypatch, train_argv, method, flags):
    extra = ["--method", method, "--epochs", "3", "--save-every", "2", "--seed", "3", "--batch-size", "4", *flags]
    assert main(train_argv(tmp_path / "clean", *extra)) == 0
    clean = _summary(capsys)
    with monkeypatch.context() as patch:
        _crash_at_step(patch, 9)  # mid-epoch 2 (6 steps per epoch), one step past a save
        with pytest.raises(Interrupt):
            main(train_argv(tmp_path / "crashed", *extra))
    state = json.loads((tmp_path / "crashed" / RESUME_DIR / STATE_JSON).read_text())
    assert state["position"]["step"] == 8 and not state["position"]["finished"]
    assert main(train_argv(tmp_path / "crashed", *extra, "--resume")) == 0
    resumed = _summary(capsys)
    assert resumed["dev"] == clean["dev"] and resumed["best_step"] == clean["best_step"]
    assert resumed["steps"] == clean["steps"] == 18
    assert _sha256(tmp_path / "crashed" / TENSORS) == _sha256(tmp_path / "clean" / TENSORS)
    clean_log = (tmp_path / "clean" / "metrics.jsonl").read_text().splitlines()
    resumed_log = (tmp_path / "crashed" / "metrics.jsonl").read_text().splitlines()
    assert resumed_log == clean_log  # replayed steps are logged once, with the same losses


def test_resume_of_a_finished_run_trains_nothing(tmp_path, capsys, train_argv):
    extra = ["--method", "warp", "--epochs", "1"]
    assert main(train_argv(tmp_path / "run", *extra)) == 0
    first = _summary(capsys)
    log_before = (tmp_path / "run" / "metrics.jsonl").read_text()
    assert main(train_argv(tmp_path / "run", *extra, "--resume")) == 0
    again = _summary(capsys)
    assert again["dev"] == first["dev"] and again["steps"] == first["steps"]
    assert (tmp_path / "run" / "metrics.jsonl").read_text() == log_before


def test_resume_with_changed_settings_is_refused(tmp_path, capsys, train_argv):
    assert main(train_argv(tmp_path / "run", "--method", "warp", "--epochs", "1")) == 0
    capsys.readouterr()
    assert main(train_argv(tmp_path / "run", "--method", "warp", "--epochs", "1", "--lr", "0.5", "--resume")) == 2
    err = capsys.readouterr().err.strip()
    assert "--resume" in err and "lr" in err and len(err.splitlines()) == 1


def test_corrupted_resume_state_is_a_clear_error(tmp_path, capsys, train_argv):
    assert main(train_argv(tmp_path / "run", "--method", "warp", "--epochs", "1")) == 0
    capsys.readouterr()
    tensors = tmp_path / "run" / RESUME_DIR / STATE_TENSORS
    tensors.write_bytes(tensors.read_bytes()[:100])
    assert main(train_argv(tmp_path / "run", "--method", "warp", "--epochs", "1", "--resume")) == 2
    assert "truncated or corrupted" in capsys.readouterr().err


def test_fresh_run_discards_an_older_state(tmp_path, capsys, train_argv):
    assert main(train_argv(tmp_path / "run", "--method", "warp", "--epochs", "2")) == 0
    capsys.readouterr()
    assert main(train_argv(tmp_path / "run", "--method", "warp", "--epochs", "1")) == 2  # issue 25: refused ...
    assert "already holds a run" in capsys.readouterr().err
    assert main(train_argv(tmp_path / "run", "--method", "warp", "--epochs", "1", "--overwrite")) == 0  # ... unless asked
    state = json.loads((tmp_path / "run" / RESUME_DIR / STATE_JSON).read_text())
    assert state["position"]["step"] == 3  # 24 examples / batch 8, one epoch: the new run's own state


def test_sigkill_at_random_steps_then_resume(tmp_path, train_argv):
    """The fault script's harness, on the tiny backbone: two real SIGKILLs of a CLI subprocess."""
    argv = train_argv(tmp_path / "unused", "--method", "infoprompt", "--epochs", "3", "--save-every", "2",
                      "--batch-size", "4")
    train_args = [a for a in argv[1:] if a not in ("--quiet", "--json")]
    out = train_args.index("--output")
    del train_args[out: out + 2]
    report = kill_and_resume(train_args, tmp_path, kills=2, seed=1, timeout=120)
    assert len(report.kill_steps) >= 1
    assert report.identical, report.to_dict()


def test_resume_under_other_packing_is_refused_and_off_matches_pre_packing_states(tmp_path, capsys, train_argv):
    """Packing changes float rounding, so a resume must keep it. A state saved before `--packing`
    existed (no such key) was padded: it resumes under `--packing off`, and only there."""
    assert main(train_argv(tmp_path / "run", "--method", "warp", "--epochs", "1")) == 0
    capsys.readouterr()
    assert main(train_argv(tmp_path / "run", "--method", "warp", "--epochs", "1", "--packing", "off", "--resume")) == 2
    assert "packing='auto'" in capsys.readouterr().err
    state_path = tmp_path / "run" / RESUME_DIR / STATE_JSON
    state = json.loads(state_path.read_text())
    del state["config"]["packing"]  # as written by a version without packing
    state["version"] = 1  # ... which wrote unsealed states (version 1); a sealed one must not be edited
    state.pop("record_sha256", None)
    state_path.write_text(json.dumps(state))
    assert main(train_argv(tmp_path / "run", "--method", "warp", "--epochs", "1", "--resume")) == 2
    capsys.readouterr()
    assert main(train_argv(tmp_path / "run", "--method", "warp", "--epochs", "1", "--packing", "off", "--resume")) == 0
