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


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory, bert_tokenizer) -> Path:
    """A tiny random BERT saved to disk, so a run can name a backbone the CLI loads by path."""
    folder = tmp_path_factory.mktemp("tiny-bert")
    backbone = make_tiny_backbone("bert", bert_tokenizer, mlm=False)
    backbone.model.save_pretrained(folder)
    bert_tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture
def one_torch_thread():
    """One torch thread for the test (analyses and pruning compare numbers that threads could reorder)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
