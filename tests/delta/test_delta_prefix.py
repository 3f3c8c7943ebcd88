"""PrefixedEncoder: peft's deep prefix, with masks, token types and exact counts checked."""

from __future__ import annotations

import copy

import pytest
import torch

from infoprompt.delta import PrefixedEncoder, prefix_parameter_count
from infoprompt.errors import ConfigError


@pytest.mark.parametrize("hidden", [0, 16])
def test_count_matches_the_formula(tiny_bert, hidden):
    encoder = PrefixedEncoder(copy.deepcopy(tiny_bert.model), length=5, hidden=hidden)
    trainable = sum(p.numel() for p in encoder.parameters() if p.requires_grad)
    assert trainable == prefix_parameter_count(5, layers=2, dim=32, hidden=hidden)
    assert encoder.config.hidden_size == 32 and encoder.get_input_embeddings() is encoder.peft_model.get_base_model().embeddings.word_embeddings


def test_prefix_changes_outputs_and_padding_does_not(tiny_backbone):
    tokenizer = tiny_backbone.tokenizer
    encoder = PrefixedEncoder(copy.deepcopy(tiny_backbone.model), length=4).eval()
    enc = tokenizer(["a great movie with a wonderful cast", "bad"], return_tensors="pt", padding=True)
    with torch.no_grad():
        batched = encoder(**enc).last_hidden_state
        plain = tiny_backbone.model(**enc).last_hidden_state
        n = int(enc["attention_mask"][1].sum())
        alone = encoder(**{k: v[1:2, :n] for k, v in enc.items()}).last_hidden_state
    assert batched.shape == plain.shape  # the prefix adds keys/values, not output positions
    assert not torch.allclose(batched, plain)
    assert torch.allclose(batched[1, :n], alone[0], atol=1e-5)  # padded keys stay masked next to the prefix


def test_token_type_ids_reach_the_encoder(tiny_bert):
    encoder = PrefixedEncoder(copy.deepcopy(tiny_bert.model), length=4).eval()
    enc = tiny_bert.tokenizer(["one two three"], ["three two one"], return_tensors="pt")
    assert enc["token_type_ids"].any()
    with torch.no_grad():
        with_types = encoder(**enc).last_hidden_state
        without = encoder(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"]).last_hidden_state
    assert not torch.allclose(with_types, without)


def test_bad_length_is_a_config_error(tiny_bert):
    with pytest.raises(ConfigError, match="--prefix-length"):
        PrefixedEncoder(copy.deepcopy(tiny_bert.model), length=0)


def test_inputs_that_would_overflow_the_position_table_are_a_config_error(tiny_bert):
    encoder = PrefixedEncoder(copy.deepcopy(tiny_bert.model), length=8)
    ids = torch.ones(1, 250, dtype=torch.long)  # tiny BERT has 256 positions; 8 + 250 > 256
    with pytest.raises(ConfigError, match="exceeds the encoder's 256 positions"):
        encoder(input_ids=ids)
