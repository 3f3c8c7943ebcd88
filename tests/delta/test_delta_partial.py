"""Partial deltas (infoprompt.delta.partial): exact sizes, the full case equals the classic module, partial ones learn."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from infoprompt.delta import Bottleneck
from infoprompt.delta.partial import (
    FlatBottleneck,
    FlatSlice,
    LowRankAdd,
    ParamDelta,
    VectorAdd,
    bottleneck_layout_size,
)
from infoprompt.errors import ConfigError


def trainable(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


def test_flat_slice_trains_exactly_the_first_entries():
    init = torch.arange(12.0).view(3, 4)
    piece = FlatSlice((3, 4), 5, init)
    assert trainable(piece) == 5 and torch.equal(piece.full(), init)
    piece.full().sum().backward()
    assert piece.theta.grad.shape == (5,)
    with pytest.raises(ConfigError, match="1..12"):
        FlatSlice((3, 4), 13)
    with pytest.raises(ConfigError, match="1..12"):
        FlatSlice((3, 4), 0)


def test_full_flat_bottleneck_is_the_houlsby_bottleneck():
    torch.manual_seed(0)
    classic = Bottleneck(16, 4)
    with torch.no_grad():
        for p in classic.parameters():
            p.normal_()  # far from the near-identity init, so a wrong layout cannot pass
    flat = FlatBottleneck.from_bottleneck(classic)
    hidden = torch.randn(2, 3, 16)
    assert trainable(flat) == trainable(classic) == bottleneck_layout_size(16, 4)
    assert torch.allclose(flat(hidden), classic(hidden), atol=1e-5)


def test_partial_bottleneck_has_the_exact_size_and_only_its_entries_learn():
    flat = FlatBottleneck(16, 2, 16 + 33 + 5)  # up bias, one full unit (2·16+1), 5 entries of the second
    assert trainable(flat) == 54
    flat(torch.randn(2, 3, 16)).pow(2).sum().backward()
    assert flat.params.theta.grad.abs().sum() > 0


def test_vector_add_changes_only_its_dims():
    add = VectorAdd(8, 3)
    with torch.no_grad():
        add.vector.theta.fill_(1.0)
    out = add(torch.zeros(2, 8))
    assert trainable(add) == 3 and out[:, :3].eq(1).all() and out[:, 3:].eq(0).all()


def test_param_delta_gradient_is_the_parameter_gradient():
    torch.manual_seed(0)
    linear, copy = nn.Linear(4, 3), nn.Linear(4, 3)
    copy.load_state_dict(linear.state_dict())
    copy.bias.requires_grad_(False)
    copy.weight.requires_grad_(False)
    torch.nn.utils.parametrize.register_parametrization(copy, "bias", ParamDelta((3,), 3), unsafe=True)
    x = torch.randn(5, 4)
    linear(x).pow(2).sum().backward()
    copy(x).pow(2).sum().backward()
    delta = copy.parametrizations.bias[0].delta.theta
    assert trainable(copy) == 3 and torch.allclose(delta.grad, linear.bias.grad)


def test_low_rank_add_full_and_partial():
    torch.manual_seed(0)
    base = nn.Linear(6, 5).requires_grad_(False)
    full = LowRankAdd(base, 2, 2 * (6 + 5))
    x = torch.randn(3, 6)
    assert torch.equal(full(x), base(x))  # B starts at 0: the frozen function at init
    a, b = torch.randn(2, 6), torch.randn(5, 2)
    full.load_lora(a, b)
    assert torch.allclose(full(x), base(x) + x @ a.t() @ b.t(), atol=1e-5)
    partial = LowRankAdd(base, 2, 3)  # 3 entries of B's first column: live against A's fixed random row
    partial(x).pow(2).sum().backward()
    assert trainable(partial) == 3 and partial.params.theta.grad.abs().sum() > 0


def test_wrapped_linears_still_expose_their_weight_to_model_code():
    """T5's feed-forward reads `wo.weight.dtype`: OutputDelta and LowRankAdd must pass such reads through."""
    from infoprompt.backbones import freeze
    from infoprompt.delta import OutputDelta, replace_module
    from infoprompt.testing import tiny_roberta_tokenizer, tiny_t5

    model = freeze(tiny_t5(tiny_roberta_tokenizer()))
    ids = torch.tensor([[5, 6, 7, 8]])
    with torch.no_grad():
        before = model(input_ids=ids, decoder_input_ids=ids[:, :2]).logits
    wo = "encoder.block.0.layer.1.DenseReluDense.wo"
    replace_module(model, wo, OutputDelta(model.get_submodule(wo), VectorAdd(32, 32)))
    lowrank = "decoder.block.1.layer.2.DenseReluDense.wo"
    replace_module(model, lowrank, LowRankAdd(model.get_submodule(lowrank), 2, 10))
    assert model.get_submodule(wo).weight is model.get_submodule(wo).base.weight
    with torch.no_grad():
        after = model(input_ids=ids, decoder_input_ids=ids[:, :2]).logits
    assert torch.allclose(before, after, atol=1e-6)  # zero-initialised deltas: the same function
