"""Padding-free packed batches: the plan, the mask, exactness against the padded pass, and the fallbacks."""

import pytest
import torch

from infoprompt.data.example import Example
from infoprompt.data.tasks import get_task
from infoprompt.errors import ConfigError
from infoprompt.methods import build_method
from infoprompt.packing import MIN_PADDING_SAVING, Packer, block_mask, plan_packing
from infoprompt.prompting.template import Template, collate

WORDS = "the film is a great and moving story but far too long for its thin plot".split()
# lengths 1..15 words in a shuffled order: a batch of 8 wastes about half its tokens to padding
RAGGED = [Example(" ".join(WORDS[: n]), label=n % 2) for n in (12, 2, 7, 1, 15, 4, 9, 3)]


def batch_for(method, backbone, examples):
    template = Template(backbone.tokenizer, method.config.n_prompts, layout=method.config.layout, max_length=64)
    return collate(template.encode(examples), backbone.tokenizer.pad_token_id)


def test_plan_puts_every_token_once_with_restarting_positions():
    lengths = [5, 2, 7, 1]
    plan = plan_packing(lengths, padded_width=7)
    assert plan.rows == 2 and plan.width == 8  # 15 tokens, rows of at most 2 x 7: two balanced rows (7+1, 5+2)
    assert len(set(plan.dest.tolist())) == 15 and max(plan.dest.tolist()) < 16  # no slot used twice, none lost
    assert plan.source.tolist()[:5] == [0, 1, 2, 3, 4] and plan.source.tolist()[5:7] == [7, 8]
    for example, n in enumerate(lengths):
        slots = (plan.segments.view(-1) == example).nonzero().view(-1)
        assert len(slots) == n and plan.positions.view(-1)[slots].tolist() == list(range(n))


def test_plan_uses_more_rows_when_the_batch_is_long():
    plan = plan_packing([10] * 8)  # 80 tokens, longest 10: rows of at most 20 -> 4 rows, all full
    assert (plan.rows, plan.width) == (4, 20)
    assert (plan.segments >= 0).all()


def test_block_mask_keeps_examples_apart_and_no_row_empty():
    segments = torch.tensor([[0, 0, 1, -1]])
    allowed = block_mask(segments, "sdpa", torch.float32)[0, 0]
    assert allowed.tolist() == [[True, True, False, False], [True, True, False, False],
                                [False, False, True, False], [False, False, False, True]]
    additive = block_mask(segments, "eager", torch.float32)[0, 0]
    assert (additive == 0).tolist() == allowed.tolist() and additive.min() == torch.finfo(torch.float32).min


def test_position_offset_follows_roberta_padding_idx(tiny_backbone):
    expected = tiny_backbone.model.config.pad_token_id + 1 if tiny_backbone.model.config.model_type == "roberta" else 0
    assert tiny_backbone.family.position_offset(tiny_backbone.model) == expected


@pytest.mark.parametrize("name", ["prompt", "infoprompt", "lora", "adapter"])
def test_packed_training_pass_matches_the_padded_one(tiny_backbone, name):
    """Logits and the gradients of every trained parameter agree with the padded pass (BERT and RoBERTa)."""
    method = build_method(name, tiny_backbone, get_task("sst2"), {"n_prompts": 4})
    method.train()
    batch = batch_for(method, tiny_backbone, RAGGED)
    assert batch["attention_mask"].float().mean() <= 1 - MIN_PADDING_SAVING  # the batch is worth packing

    def run(mode):
        method.set_packing(mode)
        method.zero_grad()
        torch.manual_seed(1)  # InfoPrompt samples in its losses
        out = method(batch)
        out.total().backward()
        grads = {n: p.grad.clone() for n, p in method.named_parameters() if p.grad is not None}
        return out.logits.detach(), grads, method.packer

    packed_logits, packed_grads, packer = run("auto")
    padded_logits, padded_grads, _ = run("off")
    assert packer.status == "on" and packer.packed_batches == 1
    assert torch.allclose(packed_logits, padded_logits, atol=1e-5)
    assert packed_grads.keys() == padded_grads.keys() and packed_grads
    for n in packed_grads:
        assert torch.allclose(packed_grads[n], padded_grads[n], atol=1e-5, rtol=1e-4), n


def test_sorted_batches_stay_padded(tiny_bert):
    """Evaluation batches are formed by length, so they waste little: they keep the padded pass."""
    method = build_method("prompt", tiny_bert, get_task("sst2"), {"n_prompts": 4})
    same_length = [Example("the film is good", label=1), Example("the plot is thin", label=0)]
    method(batch_for(method, tiny_bert, same_length))
    assert method.packer.status == "unchecked" and method.packer.packed_batches == 0
    assert method.packer.report().startswith("auto: no batch")


def test_off_and_unsupported_methods_never_pack(tiny_bert):
    method = build_method("prompt", tiny_bert, get_task("sst2"), {"n_prompts": 4})
    method.set_packing("off")
    method(batch_for(method, tiny_bert, RAGGED))
    assert method.packer.packed_batches == 0 and method.packer.report() == "off: --packing off"
    prefix = build_method("prefix", tiny_bert, get_task("sst2"), {"n_prompts": 4})
    prefix(batch_for(prefix, tiny_bert, RAGGED))
    assert prefix.packer.packed_batches == 0 and "not supported by method 'prefix'" in prefix.packer.report()
    with pytest.raises(ConfigError, match="--packing must be one of"):
        method.set_packing("always")


def test_apet_packs_unless_it_concatenates_prefixes(tiny_bert):
    plug = build_method("apet", tiny_bert, get_task("sst2"), {"budget": 300, "apet_ops": "add,plug"})
    plug.train()
    plug(batch_for(plug, tiny_bert, RAGGED))
    assert plug.packer.status == "on"
    concat = build_method("apet", tiny_bert, get_task("sst2"), {"budget": 300, "apet_ops": "add,concat"})
    concat(batch_for(concat, tiny_bert, RAGGED))
    assert concat.packer.packed_batches == 0


class RefusesFourDimensionalMasks(torch.nn.Module):
    """An encoder from before 4D masks: packing must fall back to padding and say why."""

    def __init__(self, inner):
        super().__init__()
        self.inner, self.config = inner, inner.config

    def forward(self, attention_mask=None, **kwargs):
        if attention_mask is not None and attention_mask.dim() != 2:
            raise ValueError("Wrong shape for input_ids or attention_mask")
        return self.inner(attention_mask=attention_mask, **kwargs)


class IgnoresPositionIds(torch.nn.Module):
    """An encoder that silently drops position_ids: the self-check must catch the wrong result."""

    def __init__(self, inner):
        super().__init__()
        self.inner, self.config = inner, inner.config

    def forward(self, position_ids=None, **kwargs):
        return self.inner(**kwargs)


@pytest.mark.parametrize("wrapper, reason", [(RefusesFourDimensionalMasks, "rejected a packed batch (ValueError"),
                                             (IgnoresPositionIds, "hidden states differ")])
def test_self_check_falls_back_with_the_reason(tiny_bert, wrapper, reason):
    method = build_method("prompt", tiny_bert, get_task("sst2"), {"n_prompts": 4})
    batch = batch_for(method, tiny_bert, RAGGED)
    expected = method(batch).logits
    packer = Packer("auto")
    embeds = method.word_embeddings(batch["input_ids"])
    wrapped = wrapper(method.backbone).eval()  # dropout off, like the frozen backbone it wraps
    hidden = packer.hidden_states(wrapped, embeds, batch["attention_mask"], batch["token_type_ids"])
    assert packer.status.startswith("off:") and reason in packer.status
    assert torch.allclose(hidden, method.backbone(inputs_embeds=embeds, attention_mask=batch["attention_mask"],
                                                  token_type_ids=batch["token_type_ids"]).last_hidden_state)
    assert expected.shape == (len(RAGGED), 2)


def test_self_check_restores_training_mode_and_rng(tiny_bert):
    """The check runs without dropout and draws no random numbers, so runs stay reproducible."""
    method = build_method("prompt", tiny_bert, get_task("sst2"), {"n_prompts": 4})
    batch = batch_for(method, tiny_bert, RAGGED)
    method.backbone.train()  # as with --backbone-dropout on
    torch.manual_seed(3)
    method.packer._self_check(method.backbone, method.word_embeddings(batch["input_ids"]), batch["attention_mask"],
                              batch["token_type_ids"], batch["attention_mask"].sum(1).tolist())
    after = torch.rand(1)
    torch.manual_seed(3)
    assert method.packer.status == "on"
    assert method.backbone.training and torch.equal(after, torch.rand(1))


@pytest.mark.parametrize("attn", ["eager", "sdpa"])
def test_packing_is_exact_under_either_attention_implementation(bert_tokenizer, attn):
    """Eager attention adds the mask to the scores (additive mask), SDPA takes a boolean one."""
    from infoprompt.testing import make_tiny_backbone

    backbone = make_tiny_backbone("bert", bert_tokenizer)
    backbone.model.set_attn_implementation(attn)
    method = build_method("prompt", backbone, get_task("sst2"), {"n_prompts": 4})
    batch = batch_for(method, backbone, RAGGED)
    packed = method(batch).logits
    assert method.packer.status == "on"
    method.set_packing("off")
    assert torch.allclose(packed, method(batch).logits, atol=1e-5)
