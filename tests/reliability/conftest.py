"""Fixtures for the reliability suite: a tiny random BERT saved to disk (so CLI runs need no download
and take seconds) and a small synthetic sentiment task in CSV files."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from infoprompt.cli import main

POSITIVE = ["a great movie", "wonderful cast and fun", "this is positive", "a beautiful film", "great fun"]
NEGATIVE = ["a terrible film", "boring and long", "this is negative", "the plot is thin", "terrible and boring"]


def _rows(n: int, seed: int) -> list[tuple[str, int]]:
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        label = i % 2
        words = (POSITIVE if label else NEGATIVE)[rng.randrange(5)] + " " + rng.choice(["indeed", "really", "", "!"])
        rows.append((words.strip(), label))
    return rows


@pytest.fixture(scope="session")
def task_files(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("task")
    for name, n, seed in (("train.csv", 24, 0), ("dev.csv", 12, 1)):
        lines = ["sentence,label"] + [f"{text},{label}" for text, label in _rows(n, seed)]
        (folder / name).write_text("\n".join(lines) + "\n", encoding="utf-8")
    return folder


@pytest.fixture
def train_argv(task_files, tiny_model_dir):
    """argv for `infoprompt train` on the synthetic task with the tiny backbone."""

    def build(out: Path, *extra: str, files: Path | None = None, train: str = "train.csv", dev: str = "dev.csv") -> list[str]:
        files = files or task_files
        return ["train", "--task", "custom", "--train-file", str(files / train), "--dev-file", str(files / dev),
                "--text-fields", "sentence", "--verbalizer", "0=bad,1=good", "--backbone", str(tiny_model_dir),
                "--output", str(out), "--quiet", "--json", *extra]

    return build


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory, task_files, tiny_model_dir):
    """One finished InfoPrompt run on the synthetic task (cases copy it before changing it)."""
    run = tmp_path_factory.mktemp("trained") / "run"
    argv = ["train", "--task", "custom", "--train-file", str(task_files / "train.csv"), "--dev-file",
            str(task_files / "dev.csv"), "--text-fields", "sentence", "--verbalizer", "0=bad,1=good", "--backbone",
            str(tiny_model_dir), "--output", str(run), "--quiet", "--epochs", "1"]
    assert main(argv) == 0
    return run
