"""A NaN/inf loss stops the run naming step and term and keeps the last good checkpoint; untrusted or
mismatched checkpoints give one clear line, never a crash deep in torch."""

from __future__ import annotations

import json

import pytest
import torch

from infoprompt.cli import main
from infoprompt.methods.base import MethodOutput, PromptMethod
from infoprompt.training.checkpoint import CONFIG, TENSORS, seal_record


def _poison_after(monkeypatch, step: int, term: str = "rep", value: float = float("nan"), poison=None) -> None:
    """From training step `step + 1` on, one loss term of the method's output becomes `poison(term value)`
    (default: multiplied by `value`, a NaN or inf)."""
    calls = {"n": 0}
    original = torch.nn.Module.__call__
    poison = poison or (lambda loss: loss * value)

    def call(self, *args, **kwargs):
        out = original(self, *args, **kwargs)
        if isinstance(self, PromptMethod) and self.training and isinstance(out, MethodOutput):
            calls["n"] += 1
            if calls["n"] > step:
                out.losses[term] = poison(out.losses[term])
        return out

    monkeypatch.setattr(torch.nn.Module, "__call__", call)


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_nan_or_inf_stops_with_step_and_term_and_keeps_checkpoint(tmp_path, capsys, monkeypatch, train_argv, value):
    run = tmp_path / "run"
    _poison_after(monkeypatch, 4, "rep", value)  # 3 steps per epoch: epoch 1 evaluates and saves first
    code = main(train_argv(run, "--method", "infoprompt", "--epochs", "3"))
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1
    assert "loss term 'rep'" in err[0] and "at step 5" in err[0] and "step 3" in err[0]
    record = json.loads((run / CONFIG).read_text())
    assert record["step"] == 3  # the last good checkpoint, from the epoch-1 evaluation
    monkeypatch.undo()
    assert main(["evaluate", "--checkpoint", str(run), "--json"]) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["dev"] == record["dev_metrics"]


def test_finite_loss_with_nan_gradient_stops_before_the_update(tmp_path, capsys, monkeypatch, train_argv):
    """A finite loss whose backward is NaN (sqrt at 0) is stopped at its own step, naming the parameter,
    and the parameters never see the NaN: the saved checkpoint still evaluates to its record."""
    # forward: + sqrt(0) = + 0; backward: d sqrt/dx at 0 = inf, times 0 = NaN
    _poison_after(monkeypatch, 4, "pred", poison=lambda pred: pred + torch.sqrt(pred - pred.detach()))
    run = tmp_path / "run"
    code = main(train_argv(run, "--method", "warp", "--epochs", "3"))
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1
    assert "the gradient of 'prompt'" in err[0] and "at step 5" in err[0]
    record = json.loads((run / CONFIG).read_text())
    monkeypatch.undo()
    assert main(["evaluate", "--checkpoint", str(run), "--json"]) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["dev"] == record["dev_metrics"]


@pytest.fixture
def checkpoint(tmp_path, capsys, train_argv):
    run = tmp_path / "run"
    assert main(train_argv(run, "--method", "warp", "--epochs", "1")) == 0
    capsys.readouterr()
    return run


def _evaluate_error(capsys, run) -> str:
    assert main(["evaluate", "--checkpoint", str(run)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "Traceback" not in err[0]
    return err[0]


def test_truncated_tensor_file(checkpoint, capsys):
    data = (checkpoint / TENSORS).read_bytes()
    (checkpoint / TENSORS).write_bytes(data[: len(data) // 2])
    assert "truncated or corrupted" in _evaluate_error(capsys, checkpoint)


def test_flipped_byte_in_tensor_file(checkpoint, capsys):
    data = bytearray((checkpoint / TENSORS).read_bytes())
    data[-5] ^= 0xFF
    (checkpoint / TENSORS).write_bytes(bytes(data))
    assert "truncated or corrupted" in _evaluate_error(capsys, checkpoint)


def test_corrupted_json(checkpoint, capsys):
    (checkpoint / CONFIG).write_text('{"format_version": 1, "method":')
    assert "corrupted JSON" in _evaluate_error(capsys, checkpoint)


def test_pickle_checkpoint_is_never_loaded(tmp_path, capsys):
    """A directory holding only a pickle (e.g. pytorch_model.bin) is refused; nothing is unpickled."""
    folder = tmp_path / "pickled"
    folder.mkdir()
    marker = tmp_path / "executed"
    (folder / "pytorch_model.bin").write_bytes(b"cos\nsystem\n(S'touch " + str(marker).encode() + b"'\ntR.")
    assert "missing" in _evaluate_error(capsys, folder)
    assert not marker.exists()


def test_checkpoint_for_another_backbone(checkpoint, capsys, tmp_path, bert_tokenizer):
    from infoprompt.testing import make_tiny_backbone

    other = tmp_path / "other-bert"
    backbone = make_tiny_backbone("bert", bert_tokenizer, mlm=False, seed=7)
    backbone.model.save_pretrained(other)
    bert_tokenizer.save_pretrained(other)
    record = json.loads((checkpoint / CONFIG).read_text())
    record["backbone"]["name"] = str(other)
    (checkpoint / CONFIG).write_text(json.dumps(seal_record(record)))  # resealed: the fingerprint check answers
    assert "trained on backbone" in _evaluate_error(capsys, checkpoint)


def test_checkpoint_with_another_hidden_size(checkpoint, capsys):
    record = json.loads((checkpoint / CONFIG).read_text())
    record["backbone"]["hidden_size"] = 768
    (checkpoint / CONFIG).write_text(json.dumps(seal_record(record)))
    assert "hidden_size=768" in _evaluate_error(capsys, checkpoint)


def test_dev_file_with_another_label_set(checkpoint, capsys, tmp_path):
    other = tmp_path / "dev.csv"
    other.write_text("sentence,label\na great movie,positive\n")
    assert main(["evaluate", "--checkpoint", str(checkpoint), "--dev-file", str(other)]) == 2
    err = capsys.readouterr().err
    assert f"{other}:2: field 'label': unknown label 'positive'" in err
