"""Tiny random causal (Llama) and seq2seq (T5) backbones over the tiny BPE tokenizer."""

import pytest

from infoprompt.backbones import load_backbone
from infoprompt.data.example import Example
from infoprompt.testing import tiny_llama, tiny_t5

BUILDERS = {"causal": tiny_llama, "seq2seq": tiny_t5}

TOY = [  # sentiment-like toy task: label 1 = "great" words
    Example("a great movie with a wonderful cast", label=1), Example("a terrible film , boring and long", label=0),
    Example("this is positive", label=1), Example("this is negative", label=0),
    Example("the plot is thin but fun", label=1), Example("no , these sentences are not the same", label=0),
    Example("hello world", label=1), Example("the quick brown fox jumps over the lazy dog", label=0),
]


@pytest.fixture
def toy():
    return list(TOY)


@pytest.fixture(params=["causal", "seq2seq"])
def gen_backbone(request, roberta_tokenizer):
    return load_backbone(f"tiny-{request.param}", model=BUILDERS[request.param](roberta_tokenizer),
                         tokenizer=roberta_tokenizer)


@pytest.fixture
def causal_backbone(roberta_tokenizer):
    return load_backbone("tiny-causal", model=tiny_llama(roberta_tokenizer), tokenizer=roberta_tokenizer)


@pytest.fixture
def t5_backbone(roberta_tokenizer):
    return load_backbone("tiny-seq2seq", model=tiny_t5(roberta_tokenizer), tokenizer=roberta_tokenizer)
