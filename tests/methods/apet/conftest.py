"""Fixtures for the APET tests."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def bpe_tokenizer(roberta_tokenizer):
    """The tiny byte-level BPE tokenizer the tiny T5 and Llama are built over."""
    return roberta_tokenizer
