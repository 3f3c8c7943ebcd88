"""`load(run).generate(...)` for a decoder checkpoint (issue 26, item 4)."""

from __future__ import annotations

import pytest
import torch

from infoprompt.api import load
from infoprompt.data.tasks import get_task
from infoprompt.errors import ConfigError
from infoprompt.generative.generation import text_to_label
from infoprompt.methods import build_method
from infoprompt.testing import tiny_family_backbone
from infoprompt.training.checkpoint import save_checkpoint


def _saved(tmp_path, backbone, name="prompt"):
    torch.manual_seed(0)
    method = build_method(name, backbone, get_task("sst2"), {"n_prompts": 2})
    run = tmp_path / "run"
    save_checkpoint(run, method, {"template": {"max_length": 32, "layout": method.config.layout}})
    return run


def test_generate_on_a_causal_checkpoint_maps_text_to_labels(tmp_path, bert_tokenizer, roberta_tokenizer):
    backbone = tiny_family_backbone("llama", bert_tokenizer, roberta_tokenizer)
    model = load(_saved(tmp_path, backbone), backbone)
    out = model.generate(["a great movie", "a terrible film"], max_new_tokens=3)
    assert len(out) == 2 and all(isinstance(r["text"], str) for r in out)
    for row in out:
        index = text_to_label(row["text"], model.task.verbalizer)
        assert row["label"] == (None if index is None else model.task.label_names[index])


def test_generate_needs_a_generative_checkpoint(tmp_path, tiny_bert):
    with pytest.raises(ConfigError, match="generate\\(\\) needs"):
        load(_saved(tmp_path, tiny_bert), tiny_bert).generate(["a great movie"])
