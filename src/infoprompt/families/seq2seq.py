"""Encoder-decoder LMs (T5 family), loaded with their LM head.

Prompts enter the encoder's input embeddings. Z is the decoder's first state (decoder start token
over the encoded input), scaled as T5 scales it before its tied output projection: the features
from which the LM predicts the label word's first token. Label likelihood runs the decoder once per
label on the shared encoder output (the input is encoded once).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from infoprompt.errors import ConfigError
from infoprompt.families.base import ModuleMap, Reading
from infoprompt.families.registry import register_family
from infoprompt.families.text_to_text import TextToTextFamily

T5_LIKE = ModuleMap(
    attention_output=r".*block\.\d+\.layer\.0\.SelfAttention\.o",
    ffn_output=r".*block\.\d+\.layer\.\d+\.DenseReluDense\.wo",
    query_value=r".*block\.\d+\.layer\.0\.SelfAttention\.(q|v)",
    layer_norms=r".*block\.\d+\.layer\.\d+\.layer_norm\.weight",
    biases=r".*block\.\d+\..*\.bias",
    bitfit_preset=r".*block\.\d+\..*\.bias",
)


@dataclass
class Seq2SeqState:
    encoded: torch.Tensor  # (B, L, D) encoder output
    mask: torch.Tensor


@register_family("seq2seq", rank=10)
class Seq2SeqLM(TextToTextFamily):
    kind = "seq2seq"
    auto_class = "AutoModelForSeq2SeqLM"
    has_lm_head = True
    packs = False
    first_token_state = False
    generates = True
    readouts = ("decoder",)
    answer_readout = "decoder"
    readout_descriptions = {"decoder": "decoder's first state over the encoded input (where the LM predicts the label word)"}
    layer_split_refusal = ("T5's first encoder block computes the relative position bias every later block reuses, "
                           "so the encoder cannot start at block K (prompts in the input embeddings work there)")

    @classmethod
    def claims(cls, config) -> bool:
        return bool(getattr(config, "is_encoder_decoder", False))

    @classmethod
    def claims_model(cls, model: nn.Module) -> bool:
        return bool(getattr(model.config, "is_encoder_decoder", False))

    def body(self, model: nn.Module) -> nn.Module:
        return model.get_encoder()

    def replace_body(self, model: nn.Module, body: nn.Module) -> nn.Module:
        raise ConfigError("prefix key/values are not supported on seq2seq backbones (T5 shares one relative "
                          "position bias across layers); use prompt, adapter, lora or apet add/plug there")

    def input_embeddings(self, model: nn.Module) -> nn.Module:
        return model.get_input_embeddings()

    def tuning_scope(self, model: nn.Module) -> nn.Module:
        return model  # encoder and decoder stacks both (the tied LM head sits outside the numbered blocks)

    def module_map(self, model: nn.Module) -> ModuleMap:
        return T5_LIKE

    def _features(self, model: nn.Module, hidden: torch.Tensor) -> torch.Tensor:
        if getattr(model.config, "scale_decoder_outputs", getattr(model.config, "tie_word_embeddings", False)):
            return hidden * (model.config.d_model ** -0.5)
        return hidden

    def _decode(self, model, decoder_ids: torch.Tensor, state: Seq2SeqState) -> torch.Tensor:
        out = model.get_decoder()(input_ids=decoder_ids, encoder_hidden_states=state.encoded,
                                  encoder_attention_mask=state.mask)
        return self._features(model, out.last_hidden_state)

    def read(self, model, embeds, batch, readout, *, packer=None, share_prefix=True) -> Reading:
        mask = batch["attention_mask"]
        encoded = model.get_encoder()(inputs_embeds=embeds, attention_mask=mask).last_hidden_state
        state = Seq2SeqState(encoded, mask)
        start = torch.full((mask.shape[0], 1), int(model.config.decoder_start_token_id), device=mask.device)
        return Reading(self._decode(model, start, state)[:, 0], state=state)

    def score_labels(self, model, reading: Reading, candidates: list[list[int]]) -> torch.Tensor:
        head = self.lm_head(model)
        batch_size = reading.state.mask.shape[0]
        columns = []
        for tokens in candidates:  # the encoder ran once; the decoder runs once per label (C is small)
            labels = torch.tensor(tokens, device=reading.z.device).unsqueeze(0).expand(batch_size, -1)
            decoder_ids = model.prepare_decoder_input_ids_from_labels(labels=labels)
            logits = head(self._decode(model, decoder_ids, reading.state))
            columns.append(F.log_softmax(logits.float(), -1).gather(-1, labels.unsqueeze(-1)).squeeze(-1).sum(-1))
        return torch.stack(columns, 1)
