"""Analytic gradients/Hessians of L_exp, L_cent, L_reg and L agree with autograd."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.autograd.functional import hessian, jacobian

from infoprompt.theory import functions as F
from infoprompt.theory.checks import check_derivatives, rel_err

TOL = 1e-8


def _instance(seed: int, n: int = 17, d: int = 5, general_b: bool = False):
    gen = torch.Generator().manual_seed(seed)
    A = torch.randn(n, d, generator=gen, dtype=torch.float64)
    if general_b:  # <b, 1> != 1 and negative entries exercise B(x) = <1,b>(...)
        b = torch.randn(n, generator=gen, dtype=torch.float64)
    else:
        b = torch.softmax(2 * torch.randn(n, generator=gen, dtype=torch.float64), 0)
    w = torch.rand(n, generator=gen, dtype=torch.float64) + 0.1
    x = torch.randn(d, generator=gen, dtype=torch.float64)
    return F.SoftmaxRegression(A, b, w), x


CASES = {
    "exp": (F.loss_exp, F.grad_exp, F.hess_exp, "b"),
    "cent": (F.loss_cent, F.grad_cent, F.hess_cent, "b"),
    "reg": (F.loss_reg, F.grad_reg, F.hess_reg, "w"),
}


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("name", sorted(CASES))
def test_component_grad_and_hessian_match_autograd(name: str, seed: int) -> None:
    loss, grad, hess, vec = CASES[name]
    pr, x = _instance(seed, general_b=seed % 2 == 1)
    v = getattr(pr, vec)
    ref_g = jacobian(lambda z: loss(pr.A, v, z), x)
    ref_h = hessian(lambda z: loss(pr.A, v, z), x)
    assert rel_err(grad(pr.A, v, x), ref_g) < TOL
    assert rel_err(hess(pr.A, v, x), ref_h) < TOL


@pytest.mark.parametrize("seed", range(4))
def test_total_grad_and_hessian_match_autograd(seed: int) -> None:
    pr, x = _instance(seed, general_b=seed % 2 == 0)
    assert rel_err(pr.grad(x), jacobian(pr.loss, x)) < TOL
    assert rel_err(pr.hessian(x), hessian(pr.loss, x)) < TOL
    # diagonal + rank-2 split (what Algorithm 1 samples) reassembles the same Hessian
    parts = pr.hessian_parts(x)
    dense = pr.A.T @ torch.diag(parts.q) @ pr.A + parts.lowrank()
    assert rel_err(dense, hessian(pr.loss, x)) < TOL


def test_b_exp_matrix_is_symmetric_and_equals_s2_plus_curvature() -> None:
    """B_exp = S^2 + sum_k c_k hess_z f_k(z): independent check via autograd in z-space."""
    pr, x = _instance(7)
    z = pr.A @ x
    fz = torch.softmax(z, 0)
    c = fz - pr.b
    S = F.softmax_jacobian_core(fz)
    curv = hessian(lambda t: (torch.softmax(t, 0) * c).sum(), z)
    B = F.b_exp_matrix(pr.A, pr.b, x)
    assert torch.allclose(B, B.T, atol=1e-15)
    assert rel_err(B, S @ S + curv) < TOL


def test_seed_sign_conventions() -> None:
    """Lemma C.9 / C.10 signs: df/dx_i = -<f,A_i> f + f o A_i, grad L_cent = A^T(<b,1> f - b)."""
    pr, x = _instance(3, general_b=True)
    fx = pr.f(x)
    J = jacobian(lambda z: F.f(pr.A, z), x)
    i = 2
    col = pr.A[:, i]
    assert rel_err(J[:, i], -(fx @ col) * fx + fx * col) < TOL
    assert rel_err(F.grad_cent(pr.A, pr.b, x), pr.A.T @ (pr.b.sum() * fx - pr.b)) < TOL
    # Hessian of L_cent is <1,b> A^T S A: positive semidefinite exactly when <1,b> >= 0
    ev = torch.linalg.eigvalsh(F.hess_cent(pr.A, pr.b, x))
    assert (ev * torch.sign(pr.b.sum()) >= -1e-12).all()


def test_softmax_facts_batch_and_stability() -> None:
    pr, _ = _instance(1)
    X = 300.0 * torch.randn(6, pr.d, dtype=torch.float64)  # logits up to ~1e3: exp overflows
    fx = pr.f(X)
    assert torch.allclose(fx.sum(-1), torch.ones(6, dtype=torch.float64))
    assert (torch.linalg.vector_norm(fx, dim=-1) <= 1 + 1e-12).all()
    for val in (pr.loss(X), pr.grad(X), pr.hessian(X)):
        assert torch.isfinite(val).all()
    # batched evaluation equals the per-row evaluation
    X = torch.randn(4, pr.d, dtype=torch.float64)
    assert torch.allclose(pr.hessian(X)[2], pr.hessian(X[2]), rtol=1e-13, atol=1e-14)
    assert torch.allclose(pr.grad(X)[1], pr.grad(X[1]), rtol=1e-13, atol=1e-15)
    assert torch.allclose(F.u(pr.A, X[0]).sum(), F.alpha(pr.A, X[0]))


def test_dtype_safety() -> None:
    """numpy/float32/int inputs become float64; an explicit dtype is honoured."""
    rng = np.random.default_rng(0)
    A = rng.standard_normal((9, 3)).astype(np.float32)
    pr = F.SoftmaxRegression(A, np.full(9, 1 / 9), [1] * 9)
    assert pr.A.dtype == pr.b.dtype == pr.w.dtype == torch.float64
    x32 = torch.ones(3, dtype=torch.float32)
    assert pr.loss(x32).dtype == torch.float64
    assert pr.hessian(np.ones(3)).dtype == torch.float64
    pr32 = F.SoftmaxRegression(A, np.full(9, 1 / 9), np.ones(9), dtype=torch.float32)
    assert pr32.grad(np.ones(3)).dtype == torch.float32
    with pytest.raises(TypeError):
        F.as_tensor([1, 2], dtype=torch.int64)
    with pytest.raises(ValueError):
        F.SoftmaxRegression(A, np.ones(8), np.ones(9))
    with pytest.raises(ValueError):
        pr.loss(torch.ones(4))


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), scale=st.floats(0.01, 3.0), n=st.integers(2, 12), d=st.integers(1, 6))
def test_total_gradient_property(seed: int, scale: float, n: int, d: int) -> None:
    """For arbitrary shapes and input scales the total gradient matches autograd."""
    gen = torch.Generator().manual_seed(seed)
    A = torch.randn(n, d, generator=gen, dtype=torch.float64)
    b = torch.rand(n, generator=gen, dtype=torch.float64)
    pr = F.SoftmaxRegression(A, b, torch.rand(n, generator=gen, dtype=torch.float64))
    x = scale * torch.randn(d, generator=gen, dtype=torch.float64)
    assert rel_err(pr.grad(x), jacobian(pr.loss, x)) < TOL
    assert rel_err(pr.hessian(x), hessian(pr.loss, x)) < 1e-7


def test_check_derivatives_report() -> None:
    report = check_derivatives(n=10, d=4, trials=3, seed=5)
    assert set(report["max_rel_err"]) == {"exp", "cent", "reg", "total"}
    assert report["overall_max_rel_err"] < TOL


def test_random_instance_has_requested_norm_and_condition() -> None:
    pr = F.random_instance(50, 6, R=3.0, cond=20.0, seed=2, teacher_norm=5.0)
    sv = torch.linalg.svdvals(pr.A)
    assert abs(float(sv[0]) - 3.0) < 1e-10
    assert abs(float(sv[0] / sv[-1]) - 20.0) < 1e-8
    assert abs(float(pr.b.sum()) - 1.0) < 1e-12
    again = F.random_instance(50, 6, R=3.0, cond=20.0, seed=2, teacher_norm=5.0)
    assert torch.equal(pr.A, again.A) and torch.equal(pr.b, again.b)
