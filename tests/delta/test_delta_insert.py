"""wrap_outputs / OutputDelta / mark_trainable / Bottleneck on a tiny random BERT."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from infoprompt.delta import Bottleneck, OutputDelta, bottleneck_parameter_count, mark_trainable, wrap_outputs
from infoprompt.errors import ConfigError

HOULSBY = r".*layer\.\d+\.(attention\.output|output)\.dense"


class AddConstant(nn.Module):
    def __init__(self, value: float):
        super().__init__()
        self.value = value

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        return hidden + self.value


def encode(model: nn.Module, tokenizer) -> torch.Tensor:
    enc = tokenizer(["a great movie", "bad"], return_tensors="pt", padding=True)
    with torch.no_grad():
        return model(**enc).last_hidden_state


def test_bottleneck_count_and_near_identity_start():
    module = Bottleneck(32, 8)
    assert sum(p.numel() for p in module.parameters()) == bottleneck_parameter_count(32, 8) == 2 * 32 * 8 + 8 + 32
    hidden = torch.randn(3, 5, 32)
    out = module(hidden)
    assert out.shape == hidden.shape and 0 < (out - hidden).abs().max() < 1e-3
    with pytest.raises(ConfigError, match="size"):
        Bottleneck(32, 0)


def test_wrap_outputs_places_a_delta_at_each_matching_module(tiny_bert):
    model = tiny_bert.model
    reference = encode(model, tiny_bert.tokenizer)
    deltas = wrap_outputs(model, HOULSBY, lambda name, module: nn.Identity())
    assert sorted(deltas) == [f"encoder.layer.{i}.{part}.dense" for i in range(2) for part in ("attention.output", "output")]
    assert isinstance(model.get_submodule("encoder.layer.1.output.dense"), OutputDelta)
    assert isinstance(model.get_submodule("encoder.layer.1.intermediate.dense"), nn.Linear)  # not matched, not wrapped
    assert torch.equal(encode(model, tiny_bert.tokenizer), reference)  # identity deltas change nothing


def test_wrapped_delta_changes_the_output_and_handles_tuple_outputs(tiny_bert):
    model = tiny_bert.model
    reference = encode(model, tiny_bert.tokenizer)
    seen = []
    wrap_outputs(model, r"encoder\.layer\.0\.attention\.self",
                 lambda name, module: seen.append(name) or AddConstant(0.5))  # BertSelfAttention returns a tuple
    assert seen == ["encoder.layer.0.attention.self"]
    assert not torch.allclose(encode(model, tiny_bert.tokenizer), reference)


def test_patterns_that_match_nothing_are_errors(tiny_bert):
    with pytest.raises(ConfigError, match="no module name matches the pattern 'decoder.*'"):
        wrap_outputs(tiny_bert.model, "decoder.*", lambda name, module: nn.Identity())
    with pytest.raises(ConfigError, match="bad module pattern"):
        wrap_outputs(tiny_bert.model, "(", lambda name, module: nn.Identity())
    with pytest.raises(ConfigError, match="no parameter name matches"):
        mark_trainable(tiny_bert.model, r".*\.gamma")
    with pytest.raises(ConfigError, match="excluded"):
        mark_trainable(tiny_bert.model, r"pooler\..*", exclude=r"pooler\..*")


def test_mark_trainable_selects_exactly_the_matching_parameters(tiny_bert):
    model = tiny_bert.model
    count = mark_trainable(model, r".*LayerNorm\.bias", exclude=r"embeddings\..*")
    chosen = [n for n, p in model.named_parameters() if p.requires_grad]
    assert chosen == [f"encoder.layer.{i}.{part}.LayerNorm.bias" for i in range(2) for part in ("attention.output", "output")]
    assert count == 4 * 32
