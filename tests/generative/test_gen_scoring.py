"""The label-likelihood readout against a direct computation, and padding invariance."""

import pytest
import torch
from torch.nn import functional as F

from infoprompt.data.tasks import get_task
from infoprompt.generative.scoring import LabelScorer, left_align
from infoprompt.methods import build_method
from infoprompt.prompting.template import collate


def test_left_align_moves_padding_to_the_front():
    embeds = torch.arange(6.0).view(2, 3, 1)
    mask = torch.tensor([[1, 1, 0], [1, 1, 1]])
    aligned, new_mask = left_align(embeds, mask)
    assert aligned[0, :, 0].tolist() == [2.0, 0.0, 1.0] and new_mask[0].tolist() == [0, 1, 1]
    assert torch.equal(aligned[1], embeds[1]) and new_mask[1].tolist() == [1, 1, 1]


def test_causal_multi_token_score_equals_a_direct_forward(causal_backbone):
    model, tok = causal_backbone.model, causal_backbone.tokenizer
    prefix = tok("<s>hello world", add_special_tokens=False)["input_ids"]
    label = tok(" quick brown fox", add_special_tokens=False)["input_ids"]
    assert len(label) > 1
    embeds = model.get_input_embeddings()(torch.tensor([prefix]))
    sums = LabelScorer("causal", [label, label[:1]])(model, embeds, torch.ones(1, len(prefix), dtype=torch.long)).sums
    logits = model(input_ids=torch.tensor([prefix + label])).logits[0]
    direct = F.log_softmax(logits[len(prefix) - 1:-1], -1)[torch.arange(len(label)), label].sum()
    assert sums[0, 0].item() == pytest.approx(direct.item(), abs=1e-4)
    single = LabelScorer("causal", [label[:1], [label[0] + 1]])(model, embeds, torch.ones(1, len(prefix), dtype=torch.long))
    assert single.sums[0, 0].item() == pytest.approx(sums[0, 1].item(), abs=1e-5)  # fast path == general path


def test_seq2seq_score_equals_the_models_own_loss(t5_backbone):
    model, tok = t5_backbone.model, t5_backbone.tokenizer
    source = tok("hello world", add_special_tokens=False)["input_ids"]
    target = tok("quick brown", add_special_tokens=False)["input_ids"] + [tok.eos_token_id]
    embeds = model.get_input_embeddings()(torch.tensor([source]))
    sums = LabelScorer("seq2seq", [target])(model, embeds, torch.ones(1, len(source), dtype=torch.long)).sums
    loss = model(input_ids=torch.tensor([source]), labels=torch.tensor([target])).loss  # mean token NLL
    assert sums[0, 0].item() == pytest.approx(-loss.item() * len(target), abs=1e-4)


def test_scores_do_not_depend_on_the_batch_padding(gen_backbone, toy):
    method = build_method("gen-prompt", gen_backbone, get_task("sst2"), {"n_prompts": 2})
    method.eval()
    features = method.make_template(64).encode(toy)
    pad = gen_backbone.tokenizer.pad_token_id
    together = method(collate(features, pad)).logits
    alone = torch.cat([method(collate([f], pad)).logits for f in features])
    assert torch.allclose(together, alone, atol=1e-5)
