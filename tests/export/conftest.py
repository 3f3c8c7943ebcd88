"""Export fixtures: a tiny masked-LM backbone (the MLM family) beside conftest's pooled tiny BERT."""

from __future__ import annotations

import pytest
import torch

from infoprompt.backbones import load_backbone


@pytest.fixture
def tiny_mlm(bert_tokenizer):
    """A tiny BERT with its MLM head: the masked-LM family (loaded with AutoModelForMaskedLM, labels by default
    scored by the LM's likelihood instead of a class head)."""
    from transformers import BertConfig, BertForMaskedLM

    torch.manual_seed(0)
    config = BertConfig(vocab_size=len(bert_tokenizer), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=256)
    config.architectures = ["BertForMaskedLM"]
    return load_backbone("tiny-mlm", model=BertForMaskedLM(config), tokenizer=bert_tokenizer)
