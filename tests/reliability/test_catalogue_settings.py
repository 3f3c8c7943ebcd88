"""Catalogue: settings checked up front (issue 19, item 4).

Each case is a bad setting given to `infoprompt train` (or a sweep): the answer is exit code 2, one
line on stderr naming the setting, and nothing written (no run directory, no runs directory), because
the configuration schema (`infoprompt.config`) checks every value before any data or backbone loads.
"""

from __future__ import annotations

import pytest

from infoprompt.cli import main

SETTINGS = [
    # non-finite numbers
    (["--beta", "nan"], "--beta must be a finite number, got nan"),
    (["--gamma", "inf"], "--gamma must be a finite number, got inf"),
    (["--nce-clamp", "nan"], "--nce-clamp must be a finite number"),
    (["--lr", "inf"], "--lr must be a finite number, got inf"),
    (["--lr", "nan"], "--lr must be a finite number"),
    (["--weight-decay", "nan"], "--weight-decay must be a finite number"),
    (["--warmup-ratio", "nan"], "--warmup-ratio must be a finite number"),
    (["--max-grad-norm", "inf"], "--max-grad-norm must be a finite number"),
    (["--kl-weight=-inf"], "--kl-weight must be a finite number"),
    # out of range or absurd
    (["--beta", "1e30"], "--beta must be <= 1000, got 1e+30"),
    (["--n-prompts", "1e12"], "--n-prompts must be <= 4096, got 1000000000000"),
    (["--n-prompts", "2.5"], "--n-prompts: invalid value '2.5' (expected an integer"),
    (["--batch-size", "1e12"], "--batch-size must be <= 1000000, got 1000000000000"),
    (["--epochs", "-3"], "--epochs must be >= 1, got -3"),
    (["--seed", "-1"], "--seed must be >= 0, got -1"),
    (["--seed", "4294967296"], "--seed must be <= 4294967295, got 4294967296"),
    (["--negatives", "1e12"], "--negatives must be <= 2147483647"),
    (["--lr", "0"], "--lr must be > 0, got 0.0"),
    (["--warmup-ratio", "1"], "--warmup-ratio must be < 1, got 1.0"),
    (["--max-grad-norm", "-1"], "--max-grad-norm must be > 0, got -1.0"),
    (["--eval-subsample", "0"], "--eval-subsample must be >= 2, got 0"),
    (["--eval-every", "0"], "--eval-every must be >= 1, got 0"),
    (["--max-length", "4096"], "--max-length 4096 is beyond the backbone"),
    (["--n-prompts", "64", "--max-length", "32"], "--n-prompts 64 leaves no room for text in --max-length 32"),
    (["--lr", "fast"], "--lr: invalid value 'fast'"),
    # conflicting flags
    (["--ablation", "no-head", "--gamma", "0.3"], "--ablation no-head sets gamma to 0; it conflicts with --gamma 0.3"),
    (["--ablation", "no-mi", "--beta", "0.2"], "--ablation no-mi sets beta and gamma to 0; it conflicts with --beta 0.2"),
    (["--method", "warp", "--ablation", "no-rep"], "--ablation no-rep applies to infoprompt, not to method 'warp'"),
    (["--method", "lora", "--bottleneck", "8"], "--bottleneck do(es) not apply to method 'lora'"),
    (["--select-on", "last", "--patience", "3"], "--patience needs a selection split"),
    (["--select-on", "test"], "--select-on test: task 'custom' has no labelled test split"),
    (["--patience", "-1"], "--patience must be >= 0, got -1"),
    # the few-shot protocol and its draws
    (["--select-on", "few-shot"], "--select-on few-shot needs --shots-per-class K"),
    (["--shots", "8", "--shots-per-class", "4"], "give --shots N (N in all) or --shots-per-class K"),
    (["--official-draw"], "--official-draw gives a training and a dev draw: use it with --select-on few-shot"),
    (["--select-on", "few-shot", "--official-draw"], "--official-draw: task 'custom' has no official LM-BFF draws"),
    (["--task", "sst5", "--select-on", "few-shot", "--official-draw", "--seed", "5"],
     "--official-draw: --seed 5 is not one of LM-BFF's draws (13, 21, 42, 87, 100)"),
    # devices
    (["--device", "bogus"], "--device must be auto, cpu, cuda, cuda:N or mps; got 'bogus'"),
    (["--device", "cuda:x"], "--device must be auto, cpu, cuda, cuda:N or mps; got 'cuda:x'"),
    (["--schedule", "cosine"], "--schedule: 'cosine' is not one of: constant, linear"),
]


def assert_refused(code: int, capsys, message: str) -> None:
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2, err
    assert len(err) == 1 and err[0].startswith("infoprompt: error:"), err
    assert message in err[0], err[0]


@pytest.mark.parametrize("extra, message", SETTINGS, ids=[" ".join(case[0]) for case in SETTINGS])
def test_setting_refused_before_anything_is_written(tmp_path, capsys, train_argv, extra, message):
    run = tmp_path / "run"
    assert_refused(main(train_argv(run) + extra), capsys, message)
    assert not run.exists()


def test_cuda_without_cuda_is_one_line(tmp_path, capsys, train_argv, monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    run = tmp_path / "run"
    assert_refused(main(train_argv(run) + ["--device", "cuda"]), capsys, "--device cuda: CUDA is not available")
    assert not run.exists()


SWEEPS = [
    ("fixed:\n  beta: .nan\ngrid:\n  seed: [0, 1]\n", "key 'fixed.beta': --beta must be a finite number"),
    ("grid:\n  method: [warp, infoprompt]\n  beta: [0.1]\n", "--beta do(es) not apply to method 'warp'"),
    ("grid:\n  ablation: [no-head]\n  gamma: [0.3]\n", "--ablation no-head sets gamma to 0"),
    ("fixed:\n  data_dir: /no/such/data\ngrid:\n  seed: [0]\n", "data directory '/no/such/data' does not exist"),
    ("fixed:\n  task: custom\n  text_fields: a\n  train_file: /no/train.csv\n  dev_file: /no/dev.csv\n"
     "grid:\n  seed: [0]\n", "--train-file: no such file '/no/train.csv'"),
]


@pytest.mark.parametrize("dry_run", [True, False], ids=["dry-run", "run"])
@pytest.mark.parametrize("text, message", SWEEPS, ids=[m for _, m in SWEEPS])
def test_sweep_refused_whole_before_its_first_run(tmp_path, capsys, text, message, dry_run):
    sweep = tmp_path / "s.yaml"
    sweep.write_text(text)
    runs = tmp_path / "runs"
    assert_refused(main(["sweep", str(sweep), "--runs-dir", str(runs), *(["--dry-run"] if dry_run else [])]), capsys,
                   message)
    assert not runs.exists()
