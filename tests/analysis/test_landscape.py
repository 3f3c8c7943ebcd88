"""Loss landscape on a tiny random BERT: surfaces, trajectories, determinism, no side effects."""

from __future__ import annotations

import csv
import json

import pytest
import torch

from infoprompt.analysis import LandscapeSettings, loss_landscape
from infoprompt.analysis.common import embedding_axes
from infoprompt.analysis.landscape import evaluate_losses
from infoprompt.data.example import Example
from infoprompt.data.tasks import get_task
from infoprompt.errors import ConfigError
from infoprompt.methods import build_method
from infoprompt.prompting.template import Template, collate
from infoprompt.testing import CORPUS

EXAMPLES = [Example(text, label=i % 2) for i, text in enumerate(CORPUS * 2)]
SMALL = dict(steps=3, grid=3, examples=4, shots=None, batch_size=4)


def run(backbone, **settings):
    return loss_landscape("sst2", backbone=backbone, train_examples=EXAMPLES,
                          settings=LandscapeSettings(**{**SMALL, **settings}))


def test_surfaces_trajectories_and_files(tiny_bert, tmp_path):
    result = run(tiny_bert)
    assert set(result.surfaces) == {"pred", "rep"}
    for surface in result.surfaces.values():
        assert len(surface) == 3 and all(len(row) == 3 for row in surface)
        assert all(torch.isfinite(torch.tensor(row)).all() for row in surface)
    assert [t.gamma for t in result.trajectories] == [0.05, 0.0]
    first, second = result.trajectories
    assert len(first.coords) == len(second.coords) == SMALL["steps"] + 1
    assert first.coords[0] == second.coords[0]  # the same initialisation for every γ
    assert first.coords[-1] != first.coords[0]  # training moved the prompt
    assert "head" in first.losses[0] and "head" not in second.losses[0]
    assert result.extent >= 1.5
    paths = result.write(tmp_path)
    assert len(list(csv.DictReader(paths["csv"].open()))) == 9
    saved = json.loads(paths["json"].read_text())
    assert saved["settings"]["gammas"] == [0.05, 0.0] and len(saved["trajectories"]) == 2
    assert paths["png"].read_bytes()[:4] == b"\x89PNG"


def test_same_seed_same_landscape(tiny_bert):
    a, b = run(tiny_bert, gammas=(0.05,)), run(tiny_bert, gammas=(0.05,))
    assert a.surfaces == b.surfaces
    assert a.trajectories[0].coords == b.trajectories[0].coords


def test_loss_evaluation_leaves_the_method_as_it_was(tiny_bert):
    method = build_method("infoprompt", tiny_bert, get_task("sst2"), {"n_prompts": 1})
    method.eval()
    batch = collate(Template(tiny_bert.tokenizer, 1).encode(EXAMPLES[:4]))
    before = {k: v.clone() for k, v in method.trainable_state_dict().items()}
    token = embedding_axes(tiny_bert, 2).mean.unsqueeze(0)
    first = evaluate_losses(method, batch, token, seed=3)
    assert evaluate_losses(method, batch, token, seed=3) == first  # fixed seed: common random numbers
    assert evaluate_losses(method, batch, token + 1.0, seed=3) != first  # the prompt matters
    assert method.prompt_masker is None and not method.training
    assert method.config.nce_clamp_mode == "scale"
    after = method.trainable_state_dict()
    assert set(after) == set(before) and all(torch.equal(after[k], before[k]) for k in before)


def test_raw_units_scale_coordinates_by_the_axis_std(tiny_bert):
    std_units = run(tiny_bert, gammas=(0.0,), steps=1, units="std")
    raw_units = run(tiny_bert, gammas=(0.0,), steps=1, units="raw")
    scale = torch.tensor(std_units.axis_std)
    start_std = torch.tensor(std_units.trajectories[0].coords[0])
    start_raw = torch.tensor(raw_units.trajectories[0].coords[0])
    assert torch.allclose(start_std * scale, start_raw, atol=1e-5)


@pytest.mark.parametrize(("field", "value"), [("beta", 0.0), ("grid", 1), ("units", "cm"), ("gammas", ())])
def test_bad_settings_are_config_errors(tiny_bert, field, value):
    with pytest.raises(ConfigError):
        run(tiny_bert, **{field: value})
