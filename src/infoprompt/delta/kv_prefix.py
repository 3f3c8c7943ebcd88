"""CONCAT at chosen attention layers: tunable key/value states prepended through the model's KV cache.

The mechanism is peft's prefix tuning (the prefix is handed to the model as `past_key_values`, so the
model's own attention code concatenates it), generalised to what APET needs and peft cannot give:
a different number of prefix tokens per layer (zero on layers the placement did not choose) and a
partial last token (`FlatSlice`: canonical order token by token, key then value).

Per-layer lengths: the model builds one attention mask for the longest past (layer 0's length);
a forward pre-hook on each self-attention module rebuilds that layer's mask as n_l visible prefix
columns followed by the real tokens' columns. Prefix columns are visible to every query in both
bidirectional and causal masks, so this is exact. Input positions are passed explicitly (0..L-1),
so unlike peft the prefix does not shift the frozen model's position ids.

Supported: self-attention modules that take `past_key_values` and receive `attention_mask` as a
keyword (BERT/RoBERTa encoders, Llama decoders). T5 shares one relative position bias across layers
(computed for layer 0's key length), so per-layer prefix lengths do not fit it: ConfigError.
"""

from __future__ import annotations

import inspect
import math

import torch
from torch import nn

from infoprompt.delta.partial import FlatSlice
from infoprompt.errors import ConfigError
from infoprompt.families.base import cache_keyword


class LayerPrefix(nn.Module):
    """`tokens` prefix key/value pairs for one layer; (B, kv_heads, tokens, head_dim) each."""

    def __init__(self, kv_heads: int, head_dim: int, size: int, init_std: float = 1.0):
        super().__init__()
        self.kv_heads, self.head_dim = kv_heads, head_dim
        per_token = 2 * kv_heads * head_dim
        self.tokens = math.ceil(size / per_token)
        init = torch.randn(self.tokens, 2, kv_heads * head_dim) * init_std  # peft's PrefixEncoder: N(0, 1)
        self.states = FlatSlice(tuple(init.shape), size, init)

    def key_values(self, batch: int) -> tuple[torch.Tensor, torch.Tensor]:
        full = self.states.full().view(self.tokens, 2, self.kv_heads, self.head_dim).permute(1, 2, 0, 3)
        return full[0].unsqueeze(0).expand(batch, -1, -1, -1), full[1].unsqueeze(0).expand(batch, -1, -1, -1)


def attention_geometry(config) -> tuple[int, int]:
    """(key/value heads, head dim) from a Hugging Face config."""
    heads = int(config.num_attention_heads)
    kv_heads = int(getattr(config, "num_key_value_heads", None) or heads)
    head_dim = int(getattr(config, "head_dim", None) or config.hidden_size // heads)
    return kv_heads, head_dim


def check_concat_supported(model: nn.Module) -> None:
    if getattr(model.config, "model_type", "") in ("t5", "mt5", "umt5"):
        raise ConfigError("CONCAT (prefix key/values) is not supported on T5: its relative position bias is "
                          "shared across layers; use ADD or PLUG there")


class PrefixKVModel(nn.Module):
    """Runs `model` with per-layer prefixes: {layer index: LayerPrefix}; the model stays frozen."""

    def __init__(self, model: nn.Module, attention: list[nn.Module], prefixes: dict[int, LayerPrefix]):
        super().__init__()
        check_concat_supported(model)
        self.model = model
        self.prefixes = nn.ModuleDict({str(i): p for i, p in prefixes.items()})
        self.num_layers = len(attention)
        self._handles = [module.register_forward_pre_hook(self._mask_hook(i), with_kwargs=True)
                         for i, module in enumerate(attention)]
        self._active = False  # the hooks act only inside this wrapper's forward, never on a direct call
        self._accepts_positions = "position_ids" in inspect.signature(model.forward).parameters

    @property
    def config(self):
        return self.model.config

    def get_input_embeddings(self) -> nn.Module:
        return self.model.get_input_embeddings()

    def prefix_length(self, layer: int) -> int:
        prefix = self.prefixes[str(layer)] if str(layer) in self.prefixes else None
        return prefix.tokens if prefix is not None else 0

    def _mask_hook(self, layer: int):
        def hook(module, args, kwargs):
            mask = kwargs.get("attention_mask")
            if not self._active or mask is None or mask.dim() != 4:
                return None
            hidden = kwargs.get("hidden_states", args[0] if args else None)
            real = hidden.shape[1]
            n = self.prefix_length(layer)
            visible = torch.ones if mask.dtype == torch.bool else torch.zeros
            head = visible(*mask.shape[:3], n, dtype=mask.dtype, device=mask.device)
            kwargs["attention_mask"] = torch.cat([head, mask[..., -real:]], dim=-1)
            return args, kwargs

        return hook

    def forward(self, input_ids=None, attention_mask=None, inputs_embeds=None, **kwargs):
        from transformers import DynamicCache

        reference = input_ids if input_ids is not None else inputs_embeds
        batch, length = reference.shape[0], reference.shape[1]
        if attention_mask is None:
            attention_mask = torch.ones(batch, length, dtype=torch.long, device=reference.device)
        cache = DynamicCache()
        for layer in range(self.num_layers):
            if str(layer) in self.prefixes:
                key, value = self.prefixes[str(layer)].key_values(batch)
            else:
                kv_heads, head_dim = attention_geometry(self.model.config)
                key = value = reference.new_zeros(batch, kv_heads, 0, head_dim, dtype=self._dtype())
            cache.update(key.to(self._dtype()), value.to(self._dtype()), layer)
        # The model sizes its mask from layer 0's past; each layer's hook rebuilds it for its own prefix.
        mask = torch.cat([attention_mask.new_ones(batch, cache.get_seq_length(0)), attention_mask], dim=1)
        if self._accepts_positions and "position_ids" not in kwargs:
            kwargs["position_ids"] = torch.arange(length, device=reference.device).unsqueeze(0).expand(batch, -1)
        self._active = True
        try:
            return self.model(input_ids=input_ids, inputs_embeds=inputs_embeds, attention_mask=mask,
                              **{cache_keyword(self.model): cache}, use_cache=False, **kwargs)
        finally:
            self._active = False

    def _dtype(self) -> torch.dtype:
        return next(self.model.parameters()).dtype
