"""Prompt CMI on a tiny random BERT: sources, determinism, limits of the definition, errors."""

from __future__ import annotations

import csv
import json
import math

import pytest

from infoprompt.analysis import CMISettings, estimate_prompt_cmi
from infoprompt.analysis.sources import checkpoint_data_dir
from infoprompt.data.example import Example
from infoprompt.data.tasks import get_task
from infoprompt.errors import ConfigError
from infoprompt.methods import build_method
from infoprompt.testing import CORPUS
from infoprompt.training.checkpoint import save_checkpoint

EXAMPLES = [Example(text, label=i % 2) for i, text in enumerate(CORPUS)]
SMALL = dict(inputs=4, samples=6, replicas=2, directions=2)


def _checkpoint(path, backbone, method="warp", n_prompts=2):
    m = build_method(method, backbone, get_task("sst2"), {"n_prompts": n_prompts})
    save_checkpoint(path, m, {"template": {"max_length": 64, "layout": "warp"}})
    return str(path)


@pytest.fixture
def checkpoints(tmp_path, tiny_bert):
    return {name: _checkpoint(tmp_path / name, tiny_bert, name) for name in ("warp", "idpg")}


def run(backbone, sources, **settings):
    return estimate_prompt_cmi(sources, task="sst2", backbone=backbone, examples=EXAMPLES,
                               settings=CMISettings(**{**SMALL, **settings}), n_prompts=2)


def test_every_source_gets_bounds_per_input_and_files(tiny_bert, checkpoints, tmp_path):
    sources = ["random", "text:this is positive", checkpoints["warp"], f"mine={checkpoints['idpg']}"]
    result = run(tiny_bert, sources)
    assert result.sources == ["random", "'this is positive'", "warp", "mine"]
    assert result.n_prompts == 2 and result.task == "sst2"
    assert len(result.records) == 4 * SMALL["inputs"]
    for r in result.records:
        assert r["estimate"] == pytest.approx((r["lower"] + r["upper"]) / 2)
        assert r["lower"] <= math.log(SMALL["samples"]) + 1e-6
    paths = result.write(tmp_path / "out")
    rows = list(csv.DictReader(paths["csv"].open()))
    assert len(rows) == len(result.records) and set(rows[0]) == {"source", "input", "lower", "upper", "estimate"}
    saved = json.loads(paths["json"].read_text())
    assert set(saved["summary"]) == set(result.sources)
    check = saved["estimator_check"]  # run at this run's own M (accuracy at M = 24: test_mi.py)
    assert check["samples"] == SMALL["samples"] and check["true_nats"] == pytest.approx(1.0217, abs=1e-4)
    assert paths["png"].read_bytes()[:4] == b"\x89PNG"


def test_same_seed_same_numbers(tiny_bert):
    a = run(tiny_bert, ["random", "text:hello world"])
    b = run(tiny_bert, ["random", "text:hello world"])
    assert a.records == b.records


def test_no_perturbation_means_no_information(tiny_bert):
    result = run(tiny_bert, ["random"], tau=0.0)
    assert all(abs(r["estimate"]) < 1e-9 for r in result.records)


def test_more_perturbation_or_less_noise_means_more_information(tiny_bert):
    small = run(tiny_bert, ["random"], tau=0.2).summary()["random"]["mean"]
    large = run(tiny_bert, ["random"], tau=2.0).summary()["random"]["mean"]
    noisy = run(tiny_bert, ["random"], tau=2.0, eta=10.0).summary()["random"]["mean"]
    assert small < large
    assert noisy < large


def test_bad_sources_are_one_line_errors(tiny_bert, tmp_path, checkpoints):
    with pytest.raises(ConfigError, match="not 'random'"):
        run(tiny_bert, [str(tmp_path / "missing")])
    with pytest.raises(ConfigError, match="labelled"):
        run(tiny_bert, ["random", "random"])
    with pytest.raises(ConfigError, match="prompt tokens"):
        run(tiny_bert, [checkpoints["warp"], _checkpoint(tmp_path / "np3", tiny_bert, n_prompts=3)])
    with pytest.raises(ConfigError, match="--task"):
        estimate_prompt_cmi(["random"], backbone=tiny_bert, examples=EXAMPLES, settings=CMISettings(**SMALL))
    with pytest.raises(ConfigError, match="--samples"):
        run(tiny_bert, ["random"], samples=1)


def test_data_dir_falls_back_to_the_checkpoints(tiny_bert, tmp_path):
    m = build_method("warp", tiny_bert, get_task("sst2"), {"n_prompts": 2})
    for name, folder in (("here", tmp_path), ("gone", tmp_path / "no-such-folder")):
        save_checkpoint(tmp_path / name, m, {"template": {"max_length": 64, "layout": "warp"}, "data_dir": str(folder)})
    assert checkpoint_data_dir(["random", f"A={tmp_path / 'here'}"]) == str(tmp_path)
    assert checkpoint_data_dir([str(tmp_path / "gone")]) is None
    assert checkpoint_data_dir(["random", "text:hi"]) is None
