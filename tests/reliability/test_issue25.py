"""Issue 25 through the CLI: outputs never alias inputs or runs, one writer per run directory, SIGTERM ends in
one line with the state resumable, resume checks the data's content, predict streams and refuses torn input."""

from __future__ import annotations

import json
import os
import shutil
import signal

import pytest
import torch

from infoprompt.atomic_files import RunLock
from infoprompt.cli import main


@pytest.fixture
def run(trained_run):
    """The reliability suite's finished run (conftest.trained_run); read-only here."""
    return trained_run


def _error(capsys) -> str:
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("infoprompt: error: "), lines
    return lines[0]


def _predict(run, inp, *extra) -> list[str]:
    return ["predict", "--checkpoint", str(run), "--input", str(inp), *extra]


def test_predict_output_never_replaces_the_input_or_a_run_file(tmp_path, run, capsys):
    inp = tmp_path / "in.jsonl"
    inp.write_text('{"sentence": "great fun"}\n')
    link = tmp_path / "link.jsonl"
    link.symlink_to(inp)
    before = {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()}
    for output, expected in ((run / "config.json", "lies in the run directory"), (inp, "is the input"),
                             (link, "is the input"), (run / "resume" / "x.jsonl", "lies in the run directory")):
        assert main(_predict(run, inp, "--output", str(output))) == 2
        assert expected in _error(capsys)
    assert {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()} == before
    assert inp.read_text() == '{"sentence": "great fun"}\n'


def test_a_second_writer_is_refused_naming_the_holder(tmp_path, train_argv, capsys):
    out = tmp_path / "run"
    out.mkdir()
    with RunLock(out):
        assert main(train_argv(out, "--epochs", "1")) == 2
        err = _error(capsys)
    assert f"pid {os.getpid()} on host" in err and "another infoprompt process" in err
    assert not (out / "config.json").exists()


def test_a_symlinked_run_file_is_replaced_not_written_through(tmp_path, train_argv, capsys):
    out = tmp_path / "run"
    out.mkdir()
    victim = tmp_path / "victim.png"
    victim.write_bytes(b"precious")
    (out / "learning_curve.png").symlink_to(victim)
    assert main(train_argv(out, "--epochs", "1")) == 0
    assert victim.read_bytes() == b"precious"
    assert not (out / "learning_curve.png").is_symlink() and (out / "learning_curve.png").stat().st_size > 100


def test_sigterm_ends_in_one_line_and_the_run_resumes_bit_identical(tmp_path, train_argv, capsys, monkeypatch):
    from infoprompt.methods.base import PromptMethod

    extra = ["--method", "warp", "--epochs", "3", "--save-every", "2", "--batch-size", "4"]
    assert main(train_argv(tmp_path / "clean", *extra)) == 0
    clean = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    calls = {"n": 0}
    original = torch.nn.Module.__call__

    def call(self, *args, **kwargs):
        if isinstance(self, PromptMethod) and self.training:
            calls["n"] += 1
            if calls["n"] == 9:
                os.kill(os.getpid(), signal.SIGTERM)  # delivered to the handler main() installed
        return original(self, *args, **kwargs)

    with monkeypatch.context() as patch:
        patch.setattr(torch.nn.Module, "__call__", call)
        assert main(train_argv(tmp_path / "killed", *extra)) == 2
    assert "terminated (SIGTERM)" in _error(capsys)
    assert not list((tmp_path / "killed").glob(".infoprompt.lock"))
    assert main(train_argv(tmp_path / "killed", *extra, "--resume")) == 0
    resumed = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert (resumed["dev"], resumed["best_step"], resumed["steps"]) == (clean["dev"], clean["best_step"], clean["steps"])
    assert (tmp_path / "killed" / "model.safetensors").read_bytes() == (tmp_path / "clean" / "model.safetensors").read_bytes()


def test_resume_on_other_training_rows_of_the_same_count_is_refused(tmp_path, train_argv, task_files, capsys):
    files = tmp_path / "files"
    shutil.copytree(task_files, files)
    assert main(train_argv(tmp_path / "run", "--method", "warp", "--epochs", "1", files=files)) == 0
    capsys.readouterr()
    lines = (files / "train.csv").read_text().splitlines()
    lines[1] = "so " + lines[1]  # same row count and labels, other text
    (files / "train.csv").write_text("\n".join(lines) + "\n")
    assert main(train_argv(tmp_path / "run", "--method", "warp", "--epochs", "1", "--resume", files=files)) == 2
    assert "the training examples differ" in _error(capsys)


def test_predict_refuses_a_torn_last_line_invisible_text_and_fifos(tmp_path, run, capsys):
    torn = tmp_path / "torn.jsonl"
    torn.write_text('{"sentence": "great fun"}\n{"sentence": "bor')
    out = tmp_path / "pred.jsonl"
    assert main(_predict(run, torn, "--output", str(out))) == 2
    assert f"{torn}:2: the last line does not end in a line break" in _error(capsys) and not out.exists()
    blank = tmp_path / "blank.jsonl"
    blank.write_text('{"sentence": "great fun"}\n{"sentence": "\\u200b\\u00ad "}\n')
    assert main(_predict(run, blank)) == 2
    assert f"{blank}:2: field 'sentence' is empty after normalisation" in _error(capsys)
    assert main(_predict(run, blank, "--skip-bad-rows", "--output", str(out))) == 0
    assert len(out.read_text().splitlines()) == 1 and "skipped 1 bad row" in capsys.readouterr().err
    fifo = tmp_path / "rows.jsonl"
    os.mkfifo(fifo)
    assert main(_predict(run, fifo)) == 2
    assert "is not a regular file" in _error(capsys)


def test_predict_streams_in_chunks_with_the_same_output(tmp_path, run, task_files, capsys, monkeypatch):
    from infoprompt.evaluation import predictions

    whole, chunked = tmp_path / "whole.tsv", tmp_path / "chunked.tsv"
    assert main(_predict(run, task_files / "dev.csv", "--output", str(whole))) == 0
    scored = []
    real = predictions.prediction_rows
    monkeypatch.setattr(predictions, "CHUNK", 5)
    monkeypatch.setattr("infoprompt.api.prediction_rows", lambda ex, *a: scored.append(len(ex)) or real(ex, *a))
    assert main(_predict(run, task_files / "dev.csv", "--output", str(chunked))) == 0
    assert scored == [5, 5, 2] and chunked.read_bytes() == whole.read_bytes()
    assert "wrote 12 predictions" in capsys.readouterr().err


def test_numpy_scalars_are_numbers():
    import numpy as np

    from infoprompt.config import TrainConfig

    cfg = TrainConfig(task="sst2", seed=np.int64(3), lr=np.float64(0.01), epochs=np.int32(2))
    assert (cfg.seed, cfg.lr, cfg.epochs) == (3, 0.01, 2) and type(cfg.seed) is int and type(cfg.lr) is float
