"""CONCAT: trainable key/value states prepended in every attention layer (prefix tuning, P-tuning v2).

peft builds the prefix: its PrefixEncoder (a per-layer key/value table, optionally reparameterised
by an MLP as in Li & Liang 2021) and the per-layer cache handed to the encoder as
`past_key_values`. This wrapper only makes the encoder call itself, because peft's prompt-learning
forward drops `token_type_ids` ("not supported for parameter efficient tuning"): a BERT pair's
second sentence would then get the first segment's embedding, unlike under every other method here.

Positions: as with peft and the P-tuning v2 reference code, the encoder sees the prefix as a cache
of length n, so BERT-style embeddings number the input positions from n.
"""

from __future__ import annotations

import warnings

import torch
from torch import nn

from infoprompt.errors import ConfigError
from infoprompt.families.base import cache_keyword


def prefix_parameter_count(length: int, layers: int, dim: int, hidden: int = 0) -> int:
    """Tunable parameters of a prefix of `length` virtual tokens on `layers` layers of width `dim`.

    hidden = 0: a key and a value vector per token and layer. hidden > 0: Li & Liang's
    reparameterisation, an embedding (length, dim) fed through Linear(dim→hidden), tanh,
    Linear(hidden→layers·2·dim).
    """
    if hidden == 0:
        return length * layers * 2 * dim
    return length * dim + (dim * hidden + hidden) + (hidden * layers * 2 * dim + layers * 2 * dim)


class PrefixedEncoder(nn.Module):
    """An encoder run with `length` trainable prefix key/values at every layer; the encoder stays frozen."""

    def __init__(self, model: nn.Module, length: int, hidden: int = 0):
        super().__init__()
        from peft import PrefixTuningConfig, TaskType, get_peft_model

        if length < 1:
            raise ConfigError(f"--prefix-length must be >= 1, got {length}")
        config = PrefixTuningConfig(
            task_type=TaskType.FEATURE_EXTRACTION, num_virtual_tokens=length,
            prefix_projection=hidden > 0, encoder_hidden_size=hidden or int(model.config.hidden_size),
        )
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", FutureWarning)  # transformers' deprecation noise inside peft
                self.peft_model = get_peft_model(model, config)
        except (ValueError, AttributeError, KeyError) as err:
            raise ConfigError(f"prefix tuning is not available for model type "
                              f"'{getattr(model.config, 'model_type', type(model).__name__)}': {err}") from None
        self.length = length

    @property
    def config(self):
        return self.peft_model.get_base_model().config

    def get_input_embeddings(self) -> nn.Module:
        return self.peft_model.get_base_model().get_input_embeddings()

    def forward(self, input_ids: torch.Tensor | None = None, attention_mask: torch.Tensor | None = None,
                inputs_embeds: torch.Tensor | None = None, token_type_ids: torch.Tensor | None = None, **kwargs):
        reference = input_ids if input_ids is not None else inputs_embeds
        batch, length = reference.shape[0], reference.shape[1]
        limit = getattr(self.config, "max_position_embeddings", None)
        if limit is not None and self.length + length > limit:
            raise ConfigError(f"a prefix of {self.length} plus {length} input tokens exceeds the encoder's "
                              f"{limit} positions (the prefix shifts input positions); lower --max-length or --prefix-length")
        if attention_mask is None:
            attention_mask = torch.ones(batch, length, dtype=torch.long, device=reference.device)
        prefix_mask = attention_mask.new_ones(batch, self.length)
        base = self.peft_model.get_base_model()
        return base(
            input_ids=input_ids, inputs_embeds=inputs_embeds, token_type_ids=token_type_ids,
            attention_mask=torch.cat([prefix_mask, attention_mask], dim=1),
            **{cache_keyword(base): self.peft_model.get_prompt(batch)}, **kwargs,
        )
