import math

import pytest
import torch

from infoprompt.methods.losses import clamp_loss, gaussian_kl, info_nce, mi_lower_bound


def test_info_nce_estimate_is_bounded_by_log_k():
    torch.manual_seed(0)
    for k in (2, 8, 32):
        pos = torch.randn(64) * 5
        neg = torch.randn(64, k - 1) * 5
        estimate = mi_lower_bound(info_nce(pos, neg), k)
        assert (estimate <= math.log(k) + 1e-6).all()
    # a positive far above every negative saturates the bound
    assert mi_lower_bound(info_nce(torch.tensor([100.0]), torch.zeros(1, 31)), 32).item() == pytest.approx(math.log(32), abs=1e-6)
    # equal scores give exactly log K of loss, i.e. zero information
    assert info_nce(torch.zeros(3), torch.zeros(3, 31)).tolist() == pytest.approx([math.log(32)] * 3)


def test_info_nce_ignores_masked_negatives():
    pos, neg = torch.zeros(1), torch.tensor([[0.0, 50.0]])
    assert info_nce(pos, neg, torch.tensor([[True, False]])).item() == pytest.approx(math.log(2))


def test_clamp_modes():
    loss = torch.tensor([1.0, 4.0], requires_grad=True)
    hard = clamp_loss(loss, 2.0, "hard")
    hard.sum().backward()
    assert hard.tolist() == [1.0, 2.0] and loss.grad.tolist() == [1.0, 0.0]
    loss.grad = None
    scaled = clamp_loss(loss, 2.0, "scale")
    scaled.sum().backward()
    assert scaled.tolist() == pytest.approx([1.0, 2.0]) and loss.grad.tolist() == pytest.approx([1.0, 0.5])


def test_gaussian_kl_zero_at_standard_normal():
    assert gaussian_kl(torch.zeros(2, 4), torch.zeros(2, 4)).tolist() == [0.0, 0.0]
    assert gaussian_kl(torch.ones(1, 1), torch.zeros(1, 1)).item() == pytest.approx(0.5)
