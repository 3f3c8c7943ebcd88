"""CONCAT (infoprompt.delta.kv_prefix): per-layer prefixes are exact, local to their layer, and keep masks."""

from __future__ import annotations

import pytest
import torch

from infoprompt.backbones import freeze
from infoprompt.delta.kv_prefix import LayerPrefix, PrefixKVModel, attention_geometry
from infoprompt.errors import ConfigError
from infoprompt.testing import tiny_llama, tiny_roberta_tokenizer, tiny_t5


def bert_inputs(tokenizer):
    return tokenizer(["a great movie with a cast", "bad"], return_tensors="pt", padding=True)


def test_prefix_acts_only_from_its_layer_and_respects_padding(tiny_bert):
    model = tiny_bert.model
    enc = bert_inputs(tiny_bert.tokenizer)
    with torch.no_grad():
        reference = model(**enc, output_hidden_states=True).hidden_states
    kv_heads, head_dim = attention_geometry(model.config)
    wrapped = PrefixKVModel(model, [layer.attention.self for layer in model.encoder.layer],
                            {1: LayerPrefix(kv_heads, head_dim, 2 * 2 * 32 + 7)})  # 2 full tokens + 7 entries
    assert wrapped.prefix_length(1) == 3 and wrapped.prefix_length(0) == 0
    assert sum(p.numel() for p in wrapped.parameters() if p.requires_grad) == 2 * 2 * 32 + 7
    with torch.no_grad():
        hidden = wrapped(**enc, output_hidden_states=True).hidden_states
        # padding the short sentence further must not change its states (the prefix mask keeps the padding mask)
        longer = {k: torch.nn.functional.pad(v, (0, 3)) for k, v in enc.items()}
        padded = wrapped(**longer).last_hidden_state
    assert torch.allclose(hidden[1], reference[1], atol=1e-6)  # layer 0 has no prefix: unchanged
    assert not torch.allclose(hidden[2], reference[2], atol=1e-3)  # layer 1 has one
    real = int(enc["attention_mask"][1].sum())
    assert torch.allclose(padded[1, :real], hidden[-1][1, :real], atol=1e-5)
    with torch.no_grad():  # the hooks are inert outside the wrapper: the frozen model still runs as before
        assert torch.allclose(model(**enc).last_hidden_state, reference[-1], atol=1e-6)


def test_llama_prefix_keeps_causality():
    tok = tiny_roberta_tokenizer()
    model = freeze(tiny_llama(tok))
    kv_heads, head_dim = attention_geometry(model.config)
    wrapped = PrefixKVModel(model, [layer.self_attn for layer in model.model.layers],
                            {0: LayerPrefix(kv_heads, head_dim, 40), 1: LayerPrefix(kv_heads, head_dim, 64)})
    ids = torch.tensor([[5, 6, 7, 8, 9]])
    changed = ids.clone()
    changed[0, 4] = 20
    with torch.no_grad():
        a, b = wrapped(input_ids=ids).logits, wrapped(input_ids=changed).logits
        base = model(input_ids=ids).logits
    assert torch.allclose(a[0, :4], b[0, :4], atol=1e-6) and not torch.allclose(a[0, 4], b[0, 4])
    assert not torch.allclose(a, base, atol=1e-4)


def test_t5_is_refused_with_a_reason():
    with pytest.raises(ConfigError, match="not supported on T5"):
        PrefixKVModel(tiny_t5(tiny_roberta_tokenizer()), [], {})
