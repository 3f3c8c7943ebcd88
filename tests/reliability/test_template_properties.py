"""Property test over arbitrary Unicode (not just a word list): the template never fails on text a
user may feed it, and its invariants hold for any length and prompt count."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from infoprompt.data.example import Example
from infoprompt.prompting.template import Template

# Letters, digits, punctuation, symbols (emoji), combining marks and separators, mixed scripts.
TEXT = st.text(st.characters(categories=["L", "N", "P", "S", "M", "Zs"]), min_size=1, max_size=400).filter(str.strip)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(a=TEXT, b=st.one_of(st.none(), TEXT), n_prompts=st.integers(1, 16), max_length=st.integers(24, 160),
       layout=st.sampled_from(["warp", "prefix"]))
def test_any_unicode_text_keeps_every_invariant(bert_tokenizer, roberta_tokenizer, a, b, n_prompts, max_length, layout):
    for tok in (bert_tokenizer, roberta_tokenizer):
        template = Template(tok, n_prompts, layout=layout, max_length=max_length)
        feature = template.encode([Example(a, b)])[0]
        ids = list(feature.input_ids)
        assert len(ids) <= max_length
        assert ids.count(tok.mask_token_id) == 1 and ids[feature.mask_pos] == tok.mask_token_id
        assert sorted(p for p in feature.prompt_index if p >= 0) == list(range(n_prompts))
        assert len(feature.token_type_ids) == len(ids) == len(feature.prompt_index)
        # The prompt-free sequence is the same sequence with the slots removed.
        kept = [t for t, p in zip(ids, feature.prompt_index) if p < 0]
        assert list(feature.free_ids) == kept
        assert feature.free_ids[feature.free_mask_pos] == tok.mask_token_id
        # Encoding is a pure function of the example: same input, same feature, same cache key.
        again = template.encode([Example(a, b)])[0]
        assert list(again.input_ids) == ids and again.cache_key == feature.cache_key
