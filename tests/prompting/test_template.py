import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from infoprompt.data.example import Example
from infoprompt.errors import ConfigError
from infoprompt.prompting.template import Template, collate, slot_counts

WORDS = ["great", "movie", "terrible", "plot", "the", "a", "fun", "long", "cast", "!", ","]


@pytest.fixture(params=["bert", "roberta"])
def tokenizer(request, bert_tokenizer, roberta_tokenizer):
    return bert_tokenizer if request.param == "bert" else roberta_tokenizer


def check_invariants(tok, template: Template, feature, n_prompts: int):
    ids = list(feature.input_ids)
    assert len(ids) <= template.max_length
    assert ids.count(tok.mask_token_id) == 1 and ids[feature.mask_pos] == tok.mask_token_id
    assert sorted(p for p in feature.prompt_index if p >= 0) == list(range(n_prompts))
    assert len(feature.free_ids) == len(ids) - n_prompts
    assert feature.free_ids[feature.free_mask_pos] == tok.mask_token_id
    assert ids[0] == (tok.cls_token_id if tok.cls_token_id is not None else ids[0])


def test_warp_single_layout_matches_paper(bert_tokenizer):
    tok = bert_tokenizer
    f = Template(tok, 4).encode([Example("good film")])[0]
    tokens = tok.convert_ids_to_tokens(list(f.input_ids))
    slots = ["<P>" if p >= 0 else t for t, p in zip(tokens, f.prompt_index)]
    assert slots == ["[CLS]", "<P>", "good", "film", "<P>", "[MASK]", "<P>", "<P>", "[SEP]"]


def test_warp_pair_layout_matches_paper(roberta_tokenizer):
    tok = roberta_tokenizer
    f = Template(tok, 4).encode([Example("one", "two")])[0]
    tokens = tok.convert_ids_to_tokens(list(f.input_ids))
    slots = ["<P>" if p >= 0 else t for t, p in zip(tokens, f.prompt_index)]
    first_sep = slots.index("</s>")
    assert slots[:2] == ["<s>", "<P>"] and slots[first_sep - 3:first_sep] == ["<P>", "<mask>", "<P>"]
    assert slots[first_sep:first_sep + 2] == ["</s>", "</s>"] and slots[-2:] == ["<P>", "</s>"]


def test_prefix_layout_puts_all_prompts_first(bert_tokenizer):
    f = Template(bert_tokenizer, 3, layout="prefix").encode([Example("good film")])[0]
    assert f.prompt_index[:4] == (-1, 0, 1, 2)


def test_slot_counts():
    assert slot_counts(1, 4) == [1, 0, 0, 0]
    assert slot_counts(4, 4) == [1, 1, 1, 1]
    assert slot_counts(6, 4) == [2, 2, 1, 1]


@pytest.mark.parametrize("pair", [False, True])
def test_truncation_keeps_mask_and_all_slots(tokenizer, pair):
    long = " ".join(WORDS * 40)
    template = Template(tokenizer, 8, max_length=32)
    f = template.encode([Example(long, long if pair else None)])[0]
    assert len(f.input_ids) == 32
    check_invariants(tokenizer, template, f, 8)


def test_pair_truncation_is_longest_first(bert_tokenizer):
    template = Template(bert_tokenizer, 2, max_length=24)
    f = template.encode([Example("short one", " ".join(["word"] * 50))])[0]
    tokens = bert_tokenizer.convert_ids_to_tokens(list(f.input_ids))
    assert "short" in tokens and "one" in tokens  # only the long segment was cut


def test_max_length_too_small_is_a_clear_error(bert_tokenizer):
    with pytest.raises(ConfigError, match="leaves no room for text"):
        Template(bert_tokenizer, 10, max_length=12).encode([Example("text")])


def test_collate_pads_and_keeps_labels(bert_tokenizer):
    feats = Template(bert_tokenizer, 2).encode([Example("a", label=0), Example("a much longer sentence here", label=1)])
    batch = collate(feats, bert_tokenizer.pad_token_id)
    assert batch["input_ids"].shape == batch["prompt_index"].shape
    assert batch["attention_mask"][0].sum() == len(feats[0].input_ids)
    assert (batch["prompt_index"][0, len(feats[0].input_ids):] == -1).all()
    assert batch["labels"].tolist() == [0, 1]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    a=st.lists(st.sampled_from(WORDS), min_size=1, max_size=120),
    b=st.one_of(st.none(), st.lists(st.sampled_from(WORDS), min_size=1, max_size=120)),
    n_prompts=st.integers(min_value=1, max_value=12),
    max_length=st.integers(min_value=20, max_value=96),
    layout=st.sampled_from(["warp", "prefix"]),
)
def test_property_mask_and_slots_always_survive(bert_tokenizer, roberta_tokenizer, a, b, n_prompts, max_length, layout):
    for tok in (bert_tokenizer, roberta_tokenizer):
        template = Template(tok, n_prompts, layout=layout, max_length=max_length)
        f = template.encode([Example(" ".join(a), " ".join(b) if b else None)])[0]
        check_invariants(tok, template, f, n_prompts)


ENTITY_WORDS = ["fox", "dog", "cast", "plot", "movie"]


def text_tokens(template: Template, feature) -> list[int]:
    """The text tokens of a single-text feature: no special token, prompt slot or mask."""
    before, after = template.specials.single
    ids = feature.input_ids
    return [ids[p] for p in range(len(before), len(ids) - len(after))
            if feature.prompt_index[p] < 0 and p != feature.mask_pos]


def blocks(ids: list[int], protected: list[bool]) -> list[list[int]]:
    """Maximal runs of protected tokens (an entity with its markers)."""
    out, run = [], []
    for token, p in zip(ids, protected):
        if p:
            run.append(token)
        elif run:
            out.append(run)
            run = []
    return out + ([run] if run else [])


def contains_run(haystack: list[int], run: list[int]) -> bool:
    return any(haystack[i:i + len(run)] == run for i in range(len(haystack) - len(run) + 1))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    left=st.lists(st.sampled_from(WORDS), max_size=80),
    middle=st.lists(st.sampled_from(WORDS), max_size=120),
    right=st.lists(st.sampled_from(WORDS), max_size=80),
    e1=st.lists(st.sampled_from(ENTITY_WORDS), min_size=1, max_size=3),
    e2=st.lists(st.sampled_from(ENTITY_WORDS), min_size=1, max_size=3),
    e2_first=st.booleans(),
    typing=st.booleans(),
    n_prompts=st.integers(min_value=1, max_value=12),
    max_length=st.integers(min_value=20, max_value=96),
    layout=st.sampled_from(["warp", "prefix"]),
)
def test_property_entities_markers_mask_and_slots_always_survive(
    bert_tokenizer, roberta_tokenizer, left, middle, right, e1, e2, e2_first, typing, n_prompts, max_length, layout
):
    """Long sentences with far-apart entities: truncation keeps both entities with their markers,
    the mask and every slot, and trims the text farthest from the entities (`keep_near`)."""
    from infoprompt.errors import DataError
    from infoprompt.prompting.entities import keep_near

    first, second = (e2, e1) if e2_first else (e1, e2)
    pieces = [" ".join(left), " ".join(first), " ".join(middle), " ".join(second), " ".join(right)]
    spans, text = [], ""
    for k, piece in enumerate(pieces):
        if not piece:
            continue
        text += (" " if text else "") + piece
        if k in (1, 3):
            spans.append((len(text) - len(piece), len(text)))
    if e2_first:
        spans.reverse()
    spans = spans[:1] if typing else spans
    example = Example(text, label=1, spans=tuple(spans), source="p.jsonl:1")
    for tok in (bert_tokenizer, roberta_tokenizer):
        template = Template(tok, n_prompts, layout=layout, max_length=max_length)
        ids, protected, mask_at = template.span_tokens([example])[0]
        budget = max_length - template.specials.count(pair=False) - n_prompts - 1
        if sum(protected) > budget:  # cannot fit without cutting an entity: a clear error instead
            with pytest.raises(DataError, match="^p.jsonl:1: field 'spans'"):
                template.encode([example])
            continue
        f = template.encode([example])[0]
        check_invariants(tok, template, f, n_prompts)
        kept = text_tokens(template, f)
        assert kept == [ids[i] for i in keep_near(protected, budget)]
        assert len(kept) == min(len(ids), budget)
        for run in blocks(ids, protected):
            assert contains_run(kept, run)
        if typing:  # the mask sits right before the span's first token
            assert f.input_ids[f.mask_pos + 1] == ids[mask_at]
        else:
            markers = [tok(" " + m, add_special_tokens=False)["input_ids"][-1] for m in ("@", "#")]
            assert all(kept.count(m) == 2 for m in markers)
