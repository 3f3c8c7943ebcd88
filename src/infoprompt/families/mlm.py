"""Masked-LM encoders with their MLM head (BertForMaskedLM, RobertaForMaskedLM, ...).

Z is read where the LM predicts the label word: the mask token's state passed through the LM head's
transform (dense, activation, LayerNorm), i.e. exactly the features the vocabulary projection reads.
So a class head initialised from the projection's rows of the verbalizer tokens starts as the
pretrained LM's own verbalizer scores, and label likelihood is the LM's log-probability of each
label's first sub-word at the mask (PET's single-mask verbalizer; later sub-words are not scored).
Pooled readouts (`mean`, `mean-text`, `cls`) stay available for the class-embedding head.
"""

from __future__ import annotations

import torch
from torch import nn

from infoprompt.errors import ConfigError
from infoprompt.families.base import HeadedFamily, ModuleMap, Reading, first_token_logprobs, head_features
from infoprompt.families.encoder import BERT_LIKE, ENCODER_LAYERS, encoder_hidden
from infoprompt.families.registry import register_family
from infoprompt.readout import read_out

# Model types whose public checkpoints are (almost always) pretrained with a masked-LM objective.
MLM_MODEL_TYPES = {"roberta", "xlm-roberta", "camembert", "deberta", "deberta-v2", "electra", "distilbert", "albert"}


@register_family("mlm", rank=30)
class MaskedLM(HeadedFamily):
    kind = "encoder"
    auto_class = "AutoModelForMaskedLM"
    has_lm_head = True
    readouts = ("mask", "mean", "mean-text", "cls")
    answer_readout = "mask"
    readout_descriptions = {
        "mask": "mask token's state through the MLM head's transform (where the LM predicts the label word)",
        "mean": "mean of all last hidden states", "mean-text": "mean of the input's own tokens' last hidden states",
        "cls": "first token's last hidden state",
    }
    layer_paths = ENCODER_LAYERS

    @classmethod
    def claims(cls, config) -> bool:
        architectures = getattr(config, "architectures", None) or []
        if any("MaskedLM" in a or "ForPreTraining" in a for a in architectures):
            return True
        return not architectures and getattr(config, "model_type", "") in MLM_MODEL_TYPES

    @classmethod
    def claims_model(cls, model: nn.Module) -> bool:
        name = type(model).__name__
        return ("MaskedLM" in name or "ForPreTraining" in name) and model.get_output_embeddings() is not None

    def module_map(self, model: nn.Module) -> ModuleMap:
        return BERT_LIKE

    def head_module(self, model: nn.Module) -> nn.Module:
        """The child module holding the LM head (BERT `cls`, RoBERTa `lm_head`)."""
        projection = self.lm_head(model)
        for name, child in model.named_children():
            if name != model.base_model_prefix and any(m is projection for m in child.modules()):
                return child
        return projection

    def read(self, model, embeds, batch, readout, *, packer=None, share_prefix=True) -> Reading:
        hidden = encoder_hidden(self, model, embeds, batch, packer)
        if readout != "mask":
            z = read_out(readout, hidden, batch["attention_mask"], batch["mask_pos"], batch.get("prompt_index"))
            return Reading(z, first=hidden[:, 0])
        at_mask = hidden[torch.arange(hidden.shape[0], device=hidden.device), batch["mask_pos"]]
        z = head_features(self.head_module(model), self.lm_head(model), at_mask)
        return Reading(z, first=hidden[:, 0], state="mask")

    def label_candidates(self, template, tokenizer, words: list[str]) -> list[list[int]]:
        from infoprompt.prompting.verbalizer import word_ids

        return [word_ids(tokenizer, w)[:1] for w in words]

    def score_labels(self, model, reading: Reading, candidates: list[list[int]]) -> torch.Tensor:
        if reading.state != "mask":
            raise ConfigError("label likelihood on a masked LM is read at the mask: use --readout mask (or auto)")
        return first_token_logprobs(self.lm_head(model)(reading.z), candidates)
