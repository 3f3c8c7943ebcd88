"""The causal family passes and reads the key/value cache under whichever name the installed transformers
uses (`cache` in recent releases, `past_key_values` before): the GPU machines' 5.17 broke on `out.cache`."""

from types import SimpleNamespace

import torch
from torch import nn

from infoprompt.families.base import cache_keyword, returned_cache


class OldDecoder(nn.Module):
    def forward(self, inputs_embeds=None, attention_mask=None, past_key_values=None, use_cache=None):
        return inputs_embeds


class NewDecoder(nn.Module):
    def forward(self, inputs_embeds=None, attention_mask=None, cache=None, use_cache=None):
        return inputs_embeds


def test_the_keyword_follows_the_forward_signature():
    assert cache_keyword(OldDecoder()) == "past_key_values"
    assert cache_keyword(NewDecoder()) == "cache"


def test_the_returned_cache_is_read_under_either_name():
    kv = object()
    assert returned_cache(SimpleNamespace(past_key_values=kv)) is kv
    assert returned_cache(SimpleNamespace(cache=kv, past_key_values=None)) is kv


def test_the_installed_decoder_takes_the_keyword_we_pass():
    from transformers import LlamaConfig, LlamaModel

    config = LlamaConfig(vocab_size=32, hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                         num_attention_heads=2, num_key_value_heads=2)
    body = LlamaModel(config).eval()
    embeds = torch.randn(1, 3, 16)
    head = body(inputs_embeds=embeds[:, :2], use_cache=True)
    out = body(inputs_embeds=embeds[:, 2:], position_ids=torch.tensor([[2]]), use_cache=True,
               **{cache_keyword(body): returned_cache(head)})
    full = body(inputs_embeds=embeds).last_hidden_state[:, 2]
    assert torch.allclose(out.last_hidden_state[:, 0], full, atol=1e-5)  # the cache was used, not ignored
