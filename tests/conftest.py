"""Shared fixtures: tiny random BERT and RoBERTa backbones (built offline, in seconds), real data paths."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from infoprompt.testing import make_tiny_backbone, minilm_tokenizer, tiny_roberta_tokenizer

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture(scope="session")
def bert_tokenizer():
    return minilm_tokenizer()


@pytest.fixture(scope="session")
def roberta_tokenizer():
    return tiny_roberta_tokenizer()


@pytest.fixture(params=["bert", "roberta"])
def tiny_backbone(request, bert_tokenizer, roberta_tokenizer):
    tok = bert_tokenizer if request.param == "bert" else roberta_tokenizer
    return make_tiny_backbone(request.param, tok)


@pytest.fixture
def tiny_bert(bert_tokenizer):
    return make_tiny_backbone("bert", bert_tokenizer)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not (SHARED_DATA / "glue").is_dir():
        pytest.skip(f"real data not found at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture(scope="session")
def minilm():
    from infoprompt.backbones import load_backbone

    return load_backbone("minilm")


@pytest.fixture(autouse=True)
def _no_data_env(monkeypatch):
    """Tests never depend on the developer's $INFOPROMPT_DATA."""
    monkeypatch.delenv("INFOPROMPT_DATA", raising=False)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
