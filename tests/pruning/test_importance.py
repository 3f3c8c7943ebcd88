"""Importance scores: finite differences, per-example exactness, no side effects, determinism."""

from __future__ import annotations

import pytest
import torch

from infoprompt.data.example import Example
from infoprompt.data.tasks import get_task
from infoprompt.methods import build_method
from infoprompt.prompting.template import Template, collate
from infoprompt.pruning import attach_masker, importance_scores

TEXTS = [("a great movie", 1), ("boring and long", 0), ("wonderful cast and fun", 1), ("the plot is thin", 0),
         ("this is positive", 1)]


def setup(tiny, method_name="prompt"):
    torch.manual_seed(0)
    method = build_method(method_name, tiny, get_task("sst2"), {"n_prompts": 3})
    attach_masker(method, pieces=4)
    features = Template(tiny.tokenizer, 3, layout=method.config.layout, max_length=32).encode(
        [Example(t, label=y) for t, y in TEXTS])
    return method, features


def loss_at(method, feature, level, index, value):
    """The training loss of one example with one mask entry set to `value`."""
    masker = method.prompt_masker
    buffer = masker.token_mask if level == "token" else masker.piece_mask
    saved = buffer.clone()
    buffer.view(-1)[index] = value
    method.train()
    with torch.no_grad():
        loss = method(collate([feature], method.backbone_info.tokenizer.pad_token_id)).total().item()
    buffer.copy_(saved)
    return loss


@pytest.mark.parametrize(("level", "index"), [("token", 1), ("piece", 6)])
def test_importance_matches_finite_differences(tiny_bert, level, index):
    method, features = setup(tiny_bert)
    method.double()  # float64 so that the central difference is accurate (a backbone of this test's own)
    eps = 1e-4
    expected = sum(abs(loss_at(method, f, level, index, 1 + eps) - loss_at(method, f, level, index, 1 - eps)) / (2 * eps)
                   for f in features) / len(features)
    scores = importance_scores(method, features, level, batch_size=2)
    assert scores.shape == ((3,) if level == "token" else (3, 4))
    assert scores.view(-1)[index].item() == pytest.approx(expected, rel=1e-4)


def test_per_example_gradients_do_not_depend_on_the_batch_size(tiny):
    method, features = setup(tiny)
    one = importance_scores(method, features, "piece", batch_size=1)
    five = importance_scores(method, features, "piece", batch_size=5)
    assert torch.allclose(one, five, rtol=1e-4, atol=1e-7)
    assert (one > 0).all()


def test_pruned_units_score_zero_and_nothing_else_changes(tiny):
    method, features = setup(tiny, "infoprompt")
    method.prompt_masker.token_mask[0] = 0
    method.eval()
    before = {k: v.clone() for k, v in method.trainable_state_dict().items()}
    rng = torch.get_rng_state()
    first = importance_scores(method, features, "token", batch_size=2, seed=3)
    assert first[0] == 0 and (first[1:] > 0).all()
    assert torch.equal(importance_scores(method, features, "token", batch_size=2, seed=3), first)  # seeded sampling
    assert not method.training and torch.equal(torch.get_rng_state(), rng)
    assert all(p.grad is None for p in method.parameters())
    after = method.trainable_state_dict()
    assert all(torch.equal(after[k], before[k]) for k in before)


def test_generative_prompts_go_through_the_same_seam(roberta_tokenizer):
    """Prompt tuning scored by label likelihood on a tiny causal LM: the masker attaches and every token gets a score."""
    from infoprompt.backbones import load_backbone
    from infoprompt.testing import tiny_llama

    backbone = load_backbone("tiny-llama", model=tiny_llama(roberta_tokenizer), tokenizer=roberta_tokenizer)
    method = build_method("prompt", backbone, get_task("sst2"), {"n_prompts": 3, "predict": "label"})
    attach_masker(method, pieces=4)
    features = method.make_template(64).encode([Example(t, label=y) for t, y in TEXTS[:2]])
    scores = importance_scores(method, features, "token", batch_size=2)
    assert scores.shape == (3,) and (scores > 0).all()
