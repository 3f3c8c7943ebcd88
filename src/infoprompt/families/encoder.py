"""Pooled encoders (BERT/RoBERTa/MiniLM bodies without an LM head): Z pooled from the last hidden states.

Readouts (infoprompt.readout): `mask` (the mask token's state), `mean`, `mean-text` (the input's own
tokens only) and `cls`; `auto` picks `mask` on MLM-pretrained checkpoints and `mean-text` otherwise.
Loaded through `AutoModel`. Module names follow BERT/RoBERTa (`encoder.layer.N...`).
"""

from __future__ import annotations

import torch
from torch import nn

from infoprompt.families.base import Family, ModuleMap, Reading
from infoprompt.families.registry import register_family
from infoprompt.readout import read_out

BERT_LIKE = ModuleMap(
    attention_output=r".*layer\.\d+\.attention\.output\.dense",
    ffn_output=r".*layer\.\d+\.output\.dense",
    query_value=r".*layer\.\d+\.attention\.self\.(query|value)",
    layer_norms=r".*layer\.\d+\..*LayerNorm\.(weight|bias)",
    biases=r".*\.bias",
    bitfit_preset=r"(.*layer\.\d+\..*\.bias|.*embeddings\.LayerNorm\.bias)",
    off_readout=r".*pooler\..*",  # the readout reads the last hidden states: the pooler gets no gradient
)

ENCODER_LAYERS = ("encoder.layer", "transformer.layer")  # BERT/RoBERTa/DeBERTa, DistilBERT (late prompts)


def encoder_hidden(family: Family, model: nn.Module, embeds: torch.Tensor, batch: dict, packer) -> torch.Tensor:
    """(B, L, D) last hidden states of the model's encoder body, packed when the packer says so."""
    body = family.body(model)
    types = batch.get("token_type_ids") if family.uses_token_types(model) else None
    if packer is not None:
        return packer.hidden_states(body, embeds, batch["attention_mask"], types, family.position_offset(model))
    kwargs = {"token_type_ids": types} if types is not None else {}
    return body(inputs_embeds=embeds, attention_mask=batch["attention_mask"], **kwargs).last_hidden_state


@register_family("encoder", rank=100)  # claims everything: asked last
class PooledEncoder(Family):
    kind = "encoder"
    auto_class = "AutoModel"
    readouts = ("mask", "mean", "mean-text", "cls")
    readout_descriptions = {
        "mask": "last hidden state at the mask token", "mean": "mean of all last hidden states",
        "mean-text": "mean of the input's own tokens' last hidden states", "cls": "first token's last hidden state",
    }
    layer_paths = ENCODER_LAYERS

    @classmethod
    def claims(cls, config) -> bool:
        return True  # the fallback: anything not claimed by a more specific family

    @classmethod
    def claims_model(cls, model: nn.Module) -> bool:
        return True

    def default_readout(self, has_mlm_head: bool) -> str:
        return "mask" if has_mlm_head else "mean-text"

    def module_map(self, model: nn.Module) -> ModuleMap:
        return BERT_LIKE

    def read(self, model, embeds, batch, readout, *, packer=None, share_prefix=True) -> Reading:
        hidden = encoder_hidden(self, model, embeds, batch, packer)
        z = read_out(readout, hidden, batch["attention_mask"], batch["mask_pos"], batch.get("prompt_index"))
        return Reading(z, first=hidden[:, 0])
