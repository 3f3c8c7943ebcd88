"""Fixtures for XPrompt tests: one torch thread, a tiny BERT on disk, a small synthetic sentiment task,
and a short stage-1 run per method (trained once per session)."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

POSITIVE = ["a great movie", "wonderful cast and fun", "this is positive", "a beautiful film", "great fun"]
NEGATIVE = ["a terrible film", "boring and long", "this is negative", "the plot is thin", "terrible and boring"]


@pytest.fixture(autouse=True)
def _one_thread(one_torch_thread):
    yield


@pytest.fixture(scope="session")
def tiny_dir(tiny_model_dir) -> Path:
    return tiny_model_dir


@pytest.fixture(scope="session")
def tiny(tiny_dir):
    from infoprompt.backbones import load_backbone

    return load_backbone(str(tiny_dir))


@pytest.fixture(scope="session")
def task_files(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("task")
    # dev texts never occur in train: an input's cached prompt-free encoding (idpg, infoprompt) then comes
    # from a dev batch, as in a reloaded checkpoint's evaluation, so the recorded dev scores are exact
    for name, n, seed, tails in (("train.csv", 16, 0, ["indeed", "really", "so"]), ("dev.csv", 12, 1, ["truly", "quite"])):
        rng = random.Random(seed)
        rows = [f"{(POSITIVE if i % 2 else NEGATIVE)[rng.randrange(5)]} {rng.choice(tails)},{i % 2}" for i in range(n)]
        (folder / name).write_text("sentence,label\n" + "\n".join(rows) + "\n", encoding="utf-8")
    return folder


def stage_one_config(task_files: Path, tiny_dir: Path, method: str, out: Path, **extra):
    from infoprompt.api import TrainConfig

    return TrainConfig(task="custom", train_file=str(task_files / "train.csv"), dev_file=str(task_files / "dev.csv"),
                       text_fields=["sentence"], verbalizer="0=bad,1=good", backbone=str(tiny_dir), method=method,
                       n_prompts=4, epochs=2, batch_size=8, lr=1e-2, max_length=32, output=str(out), progress=False,
                       **extra)


@pytest.fixture(scope="session")
def stage_one(tmp_path_factory, task_files, tiny_dir, tiny):
    """method name -> a trained stage-1 run directory (each trained once, on first use)."""
    from infoprompt.api import train

    runs: dict[str, Path] = {}

    def get(method: str) -> Path:
        if method not in runs:
            out = tmp_path_factory.mktemp(f"stage1-{method}")
            train(stage_one_config(task_files, tiny_dir, method, out), backbone=tiny)
            runs[method] = out
        return runs[method]

    return get
