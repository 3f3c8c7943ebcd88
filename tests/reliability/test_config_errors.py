"""Invalid settings: one clear line on stderr, exit code 2, no traceback, before any training."""

from __future__ import annotations

import pytest

from infoprompt.cli import main


@pytest.mark.parametrize("extra, message", [
    (["--n-prompts", "0"], "--n-prompts must be >= 1, got 0"),
    (["--beta", "-0.1"], "--beta must be >= 0"),
    (["--gamma", "-1"], "--gamma must be >= 0"),
    (["--shots", "100"], "--shots 100 is more than the 24 training examples available"),
    (["--epochs", "0"], "--epochs must be >= 1"),
    (["--lr", "-1"], "--lr must be > 0"),
    (["--batch-size", "0"], "--batch-size must be >= 1"),
    (["--save-every", "0"], "--save-every must be >= 1"),
    (["--method", "nope"], "unknown method 'nope'"),
    (["--method", "warp", "--beta", "0.1"], "--beta do(es) not apply to method 'warp'"),
    (["--readout", "pooler"], "readout"),
    (["--backbone", "/no/such/model"], "--backbone '/no/such/model': no such model directory"),
])
def test_invalid_setting(tmp_path, capsys, train_argv, extra, message):
    assert main(train_argv(tmp_path / "run") + extra) == 2  # a later flag overrides the fixture's
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("infoprompt: error:"), err
    assert message in err[0], err[0]


@pytest.mark.parametrize("argv, message", [
    (["train", "--task", "nope"], "unknown task 'nope'"),
    (["train", "--task", "sst2", "--data-dir", "/no/such/dir"], "data directory '/no/such/dir' does not exist"),
    (["train", "--task", "custom", "--train-file", "/no/train.csv", "--dev-file", "/no/dev.csv", "--text-fields", "a"],
     "/no/train.csv: file not found"),
    (["train", "--task", "custom", "--train-file", "/no/train.csv"], "--task custom needs --train-file and --dev-file"),
    (["train", "--resume"], "--resume needs --output"),
    (["evaluate", "--checkpoint", "/no/such/run"], "checkpoint directory not found"),
    (["predict", "--checkpoint", "/no/such/run", "--input", "/no/in.csv"], "checkpoint directory not found"),
])
def test_invalid_command(capsys, argv, message):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0], err
