"""Label likelihoods of the causal and seq2seq families against a direct computation; padding and
shared-prefix caching do not change them."""

import pytest
import torch
from torch.nn import functional as F

from infoprompt.data.tasks import get_task
from infoprompt.families.causal import shared_prefix_length
from infoprompt.generative.scoring import left_align
from infoprompt.methods import build_method
from infoprompt.prompting.template import collate


def test_left_align_moves_padding_to_the_front():
    embeds = torch.arange(6.0).view(2, 3, 1)
    mask = torch.tensor([[1, 1, 0], [1, 1, 1]])
    aligned, new_mask = left_align(embeds, mask)
    assert aligned[0, :, 0].tolist() == [2.0, 0.0, 1.0] and new_mask[0].tolist() == [0, 1, 1]
    assert torch.equal(aligned[1], embeds[1]) and new_mask[1].tolist() == [1, 1, 1]


def _score(backbone, ids: list[int], candidates: list[list[int]], share_prefix: bool = True) -> torch.Tensor:
    model, family = backbone.model, backbone.family
    embeds = model.get_input_embeddings()(torch.tensor([ids]))
    batch = {"attention_mask": torch.ones(1, len(ids), dtype=torch.long), "mask_pos": torch.tensor([len(ids) - 1])}
    reading = family.read(model, embeds, batch, family.answer_readout, share_prefix=share_prefix)
    return family.score_labels(model, reading, candidates)


@pytest.mark.parametrize("share_prefix", [True, False])
def test_causal_multi_token_score_equals_a_direct_forward(causal_backbone, share_prefix):
    model, tok = causal_backbone.model, causal_backbone.tokenizer
    prefix = tok("<s>hello world", add_special_tokens=False)["input_ids"]
    label = tok(" quick brown fox", add_special_tokens=False)["input_ids"]
    assert len(label) > 1
    sums = _score(causal_backbone, prefix, [label, label[:1]], share_prefix)
    logits = model(input_ids=torch.tensor([prefix + label])).logits[0]
    direct = F.log_softmax(logits[len(prefix) - 1:-1], -1)[torch.arange(len(label)), label].sum()
    assert sums[0, 0].item() == pytest.approx(direct.item(), abs=1e-4)
    assert sums[0, 1].item() == pytest.approx(F.log_softmax(logits[len(prefix) - 1], -1)[label[0]].item(), abs=1e-5)


def test_seq2seq_score_equals_the_models_own_loss(t5_backbone):
    model, tok = t5_backbone.model, t5_backbone.tokenizer
    source = tok("hello world", add_special_tokens=False)["input_ids"]
    target = tok("quick brown", add_special_tokens=False)["input_ids"] + [tok.eos_token_id]
    sums = _score(t5_backbone, source, [target])
    loss = model(input_ids=torch.tensor([source]), labels=torch.tensor([target])).loss  # mean token NLL
    assert sums[0, 0].item() == pytest.approx(-loss.item() * len(target), abs=1e-4)


def test_shared_prefix_is_the_common_real_start_and_never_the_answer():
    embeds = torch.tensor([[[1.0], [2.0], [3.0], [4.0]], [[1.0], [2.0], [3.0], [5.0]]])
    mask = torch.ones(2, 4, dtype=torch.long)
    assert shared_prefix_length(embeds, mask, torch.tensor([3, 3])) == 3
    assert shared_prefix_length(embeds, mask, torch.tensor([3, 1])) == 1  # row 2 answers at position 1
    assert shared_prefix_length(embeds[:1], mask[:1], torch.tensor([3])) == 0  # one row: nothing to share


@pytest.mark.parametrize("method_name", ["prompt", "idpg"])
def test_scores_do_not_depend_on_padding_or_prefix_sharing(gen_backbone, toy, method_name):
    """Batched (shared-prefix cache, right padding) = one example at a time = no cache at all."""
    method = build_method(method_name, gen_backbone, get_task("sst2"), {"n_prompts": 2, "predict": "label"})
    method.eval()
    features = method.make_template(64).encode(toy)
    pad = gen_backbone.tokenizer.pad_token_id
    together = method(collate(features, pad)).logits
    alone = torch.cat([method(collate([f], pad)).logits for f in features])
    method.share_prefix = False
    unshared = method(collate(features, pad)).logits
    assert torch.allclose(together, alone, atol=1e-5) and torch.allclose(together, unshared, atol=1e-5)
