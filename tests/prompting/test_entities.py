"""Relation (entity markers) and entity-typing (mask before the span) templates."""

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from infoprompt.data.example import Example
from infoprompt.data.tasks import TaskSpec
from infoprompt.errors import DataError
from infoprompt.methods import build_method, list_methods
from infoprompt.prompting.entities import keep_near, layout_spans
from infoprompt.prompting.template import Template, collate

SENTENCE = "the child was in the cradle ."
CHILD, CRADLE = (4, 9), (21, 27)


def slots(tok, feature):
    return ["<P>" if p >= 0 else t for t, p in zip(tok.convert_ids_to_tokens(list(feature.input_ids)), feature.prompt_index)]


def test_relation_layout_marks_e1_and_e2(bert_tokenizer):
    f = Template(bert_tokenizer, 4).encode([Example(SENTENCE, spans=(CHILD, CRADLE))])[0]
    assert slots(bert_tokenizer, f) == ["[CLS]", "<P>", "the", "@", "child", "@", "was", "in", "the", "#", "cradle",
                                        "#", ".", "<P>", "[MASK]", "<P>", "<P>", "[SEP]"]
    reverse = Template(bert_tokenizer, 4).encode([Example(SENTENCE, spans=(CRADLE, CHILD))])[0]
    assert slots(bert_tokenizer, reverse)[3:12] == ["#", "child", "#", "was", "in", "the", "@", "cradle", "@"]


def test_typing_layout_puts_the_mask_right_before_the_span(bert_tokenizer):
    f = Template(bert_tokenizer, 4).encode([Example(SENTENCE, spans=(CRADLE,))])[0]
    assert slots(bert_tokenizer, f) == ["[CLS]", "<P>", "the", "child", "was", "in", "the", "<P>", "[MASK]", "cradle",
                                        ".", "<P>", "<P>", "[SEP]"]
    assert f.free_ids[f.free_mask_pos + 1] == bert_tokenizer.convert_tokens_to_ids("cradle")
    prefix = Template(bert_tokenizer, 2, layout="prefix").encode([Example(SENTENCE, spans=(CHILD,))])[0]
    assert slots(bert_tokenizer, prefix)[:5] == ["[CLS]", "<P>", "<P>", "the", "[MASK]"]


def test_roberta_mask_precedes_the_space_prefix_of_the_span(roberta_tokenizer):
    f = Template(roberta_tokenizer, 1).encode([Example(SENTENCE, spans=(CRADLE,))])[0]
    after = roberta_tokenizer.decode(list(f.input_ids[f.mask_pos + 1:]), skip_special_tokens=True)
    assert after.startswith(" cradle")


def test_nested_spans_keep_proper_marker_nesting():
    layout = layout_spans(Example("the big child grew", spans=((0, 13), (8, 13))))
    assert layout.text == "@ the big # child # @ grew"
    assert [layout.text[a:b] for a, b in layout.regions] == ["@ the big # child # @", "# child #"]


@pytest.mark.parametrize("spans, message", [
    (((0, 3), (2, 9)), "cross each other"),
    (((0, 3), (0, 3)), "same span"),
    (((5, 99),), r"spans\[0\]'.*inside the"),
    (((3, 4),), "only whitespace"),
    (((0, 3), (4, 9), (10, 13)), "expected 1 span"),
])
def test_bad_spans_name_the_example_and_field(bert_tokenizer, spans, message):
    with pytest.raises(DataError, match=rf"^f\.jsonl:3: field '.*{message}"):
        Template(bert_tokenizer, 1).encode([Example(SENTENCE, spans=spans, source="f.jsonl:3")])


def test_entities_longer_than_the_budget_are_an_error_not_a_silent_cut(bert_tokenizer):
    long_entity = " ".join(["child"] * 30)
    with pytest.raises(DataError, match=r"^x:7: field 'spans': the entities and their markers take 35 tokens"):
        Template(bert_tokenizer, 4, max_length=24).encode(
            [Example(long_entity + " and cradle", spans=((0, len(long_entity)), (len(long_entity) + 5, len(long_entity) + 11)),
                     source="x:7")])


def test_mixed_batches_keep_their_order(bert_tokenizer):
    examples = [Example("good film"), Example(SENTENCE, spans=(CHILD, CRADLE)), Example("bad film")]
    feats = Template(bert_tokenizer, 1).encode(examples)
    assert [bert_tokenizer.convert_ids_to_tokens(f.input_ids[2]) for f in feats] == ["good", "the", "bad"]


@settings(max_examples=50, deadline=None)
@given(protected=st.lists(st.booleans(), min_size=1, max_size=60), slack=st.integers(min_value=0, max_value=60))
def test_keep_near_keeps_protected_and_drops_the_farthest_first(protected, slack):
    budget = sum(protected) + slack
    keep = keep_near(protected, budget)
    assert keep == sorted(set(keep)) and len(keep) == min(len(protected), budget)
    assert all(i in keep for i, p in enumerate(protected) if p)
    anchors = [i for i, p in enumerate(protected) if p]
    if anchors:
        def dist(i):
            return min(abs(i - a) for a in anchors)

        kept = [dist(i) for i in keep if not protected[i]]
        dropped = [dist(i) for i in range(len(protected)) if i not in keep]
        assert not kept or not dropped or max(kept) <= min(dropped)


@pytest.mark.parametrize("name", sorted(set(list_methods())))
def test_every_method_runs_on_span_features(tiny_bert, name):
    """Methods read only the Feature fields, so relation and typing inputs (truncated, in one batch)
    need no method changes."""
    task = TaskSpec("spans", ["a", "b", "c"], ["cause", "effect", "other"], ["accuracy"], "accuracy")
    method = build_method(name, tiny_bert, task, {"n_prompts": 4})
    template = Template(tiny_bert.tokenizer, method.config.n_prompts, layout=method.config.layout, max_length=16)
    text = SENTENCE + " and a very long tail of words here"
    examples = [Example(text, label=0, spans=(CHILD, CRADLE)), Example(text, label=1, spans=(CRADLE, CHILD)),
                Example(text, label=2, spans=(CRADLE,))]
    batch = collate(template.encode(examples), tiny_bert.tokenizer.pad_token_id)
    method.train()
    out = method(batch)
    assert out.logits.shape == (3, 3) and torch.isfinite(out.total())
    out.total().backward()
    assert any(p.grad is not None for p in method.parameters() if p.requires_grad)
