"""GD / exact Newton / Algorithm 1 convergence behaviour and the row-sampling primitive."""

from __future__ import annotations

import math

import pytest
import torch

from infoprompt.theory.functions import SoftmaxRegression, random_instance
from infoprompt.theory.solvers import (
    approximate_newton,
    convergence_rate,
    gradient_descent,
    leverage_scores,
    newton,
    plot_convergence,
    sample_diagonal,
    smoothness_bound,
    solve_reference,
    spectral_error,
)

EPS = 1e-10
ITER_BOUND = 3 * math.log2(1 / EPS)  # ~99.7: the O(log 1/eps) budget asserted below


def _x0(pr: SoftmaxRegression, seed: int = 1, norm: float = 2.0) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(pr.d, generator=gen, dtype=torch.float64)
    return x * (norm / torch.linalg.vector_norm(x))


@pytest.mark.parametrize("seed", range(3))
def test_exact_newton_converges_quadratically(seed: int) -> None:
    """Strongly convex instance (w = 1): e_{t+1} <= C e_t^2 with C = 1 until round-off."""
    pr = random_instance(128, 8, w=1.0, teacher_norm=10.0, seed=seed)
    x_star = solve_reference(pr)
    assert torch.linalg.eigvalsh(pr.hessian(x_star))[0] > 0.1  # strongly convex at x*
    res = newton(pr, _x0(pr), x_star=x_star, tol=1e-14, max_iter=20)
    assert res.converged and res.iterations <= 6
    e = res.errors
    pairs = [(a, b) for a, b in zip(e, e[1:], strict=False) if b > 1e-13]
    assert len(pairs) >= 2  # at least two steps measured above round-off
    for a, b in pairs:
        assert b <= 1.0 * a**2, f"not quadratic: e_t={a:.2e}, e_t+1={b:.2e}"
    # superlinear: the one-step contraction factor itself collapses
    ratios = [b / a for a, b in pairs]
    assert ratios[-1] < 1e-2 * ratios[0]


@pytest.mark.parametrize("seed", range(3))
def test_approximate_newton_log_iterations(seed: int) -> None:
    """Algorithm 1 at sample size k = 8d = 128 of n = 256 rows: ||g|| < 1e-10 within
    3*log2(1/eps) iterations, linear rate < 0.6, every H~ a (1 +- eps0) approximation."""
    pr = random_instance(256, 16, w=1.0, teacher_norm=10.0, seed=seed)
    x_star = solve_reference(pr)
    res = approximate_newton(pr, _x0(pr), sample_size=128, tol=EPS, x_star=x_star, seed=seed)
    assert res.converged and res.grad_norms[-1] < EPS
    assert res.iterations <= ITER_BOUND
    assert res.iterations > 3  # genuinely approximate: slower than exact Newton
    assert convergence_rate(res.errors) < 0.6
    assert res.errors[-1] < 1e-9
    eps0 = [v for v in res.extra["eps0"] if v is not None]
    assert len(eps0) == res.iterations and sorted(eps0)[len(eps0) // 2] < 1.0
    assert max(res.extra["nnz"]) <= 128 < pr.n  # D~ is genuinely sparse


def test_gd_linear_and_much_slower_than_newton_types() -> None:
    pr = random_instance(256, 16, w=1.0, teacher_norm=10.0, seed=0)
    x_star = solve_reference(pr)
    gd = gradient_descent(pr, _x0(pr), x_star=x_star, tol=EPS, max_iter=5000)
    an = approximate_newton(pr, _x0(pr), sample_size=128, tol=EPS, x_star=x_star, diagnose=False)
    assert gd.converged
    assert gd.iterations > 10 * an.iterations
    # linear rate close to 1 - mu/L for the step 1/lambda_max(H(x0))
    ev = torch.linalg.eigvalsh(pr.hessian(x_star))
    rate = convergence_rate(gd.errors)
    assert 1 - 3 * float(ev[0] / ev[-1]) < rate < 1.0
    assert all(b <= a + 1e-12 for a, b in zip(gd.losses, gd.losses[1:], strict=False))


def test_full_sample_equals_exact_newton() -> None:
    """With k >= n, D~ is the exact diagonal, so Algorithm 1 reproduces Newton's iterates."""
    pr = random_instance(40, 5, w=1.0, teacher_norm=5.0, seed=4)
    a = approximate_newton(pr, _x0(pr), sample_size=pr.n, tol=1e-12, diagnose=True)
    b = newton(pr, _x0(pr), tol=1e-12)
    assert a.iterations == b.iterations
    for xa, xb in zip(a.xs, b.xs, strict=True):
        assert torch.allclose(xa, xb, rtol=1e-10, atol=1e-12)
    assert max(a.extra["eps0"]) < 1e-10


def test_lowrank_drop_variant_converges_when_regulariser_dominates() -> None:
    pr = random_instance(256, 8, w=5.0, teacher_norm=10.0, seed=1)
    res = approximate_newton(pr, _x0(pr), sample_size=64, tol=EPS, lowrank="drop", seed=2)
    assert res.converged and res.iterations <= ITER_BOUND


def test_leverage_sampling_is_unbiased_and_scores_sum_to_rank() -> None:
    gen = torch.Generator().manual_seed(0)
    A = torch.randn(200, 6, generator=gen, dtype=torch.float64)
    q = torch.rand(200, generator=gen, dtype=torch.float64) + 0.05
    q[:3] = -0.2  # signed entries stay unbiased
    tau = leverage_scores(q.abs().sqrt().unsqueeze(-1) * A)
    assert abs(float(tau.sum()) - 6.0) < 1e-10 and (tau <= 1 + 1e-12).all()
    target = A.T @ torch.diag(q) @ A
    acc = torch.zeros_like(target)
    trials = 1500
    for _ in range(trials):
        idx, wts = sample_diagonal(A, q, 30, gen)
        assert idx.numel() <= 30
        acc += A[idx].T @ (wts.unsqueeze(-1) * A[idx])
    assert torch.linalg.norm(acc / trials - target) / torch.linalg.norm(target) < 0.05


def test_spectral_error_and_smoothness_bound() -> None:
    H = torch.diag(torch.tensor([1.0, 2.0], dtype=torch.float64))
    assert abs(spectral_error(H, 1.1 * H) - 0.1) < 1e-12
    assert spectral_error(-H, H) is None
    pr = random_instance(60, 4, w=0.5, teacher_norm=8.0, seed=3)
    L = smoothness_bound(pr)
    X = 5 * torch.randn(20, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    assert float(torch.linalg.matrix_norm(pr.hessian(X), ord=2).max()) <= L


def test_determinism_and_plot(tmp_path) -> None:
    pr = random_instance(64, 4, w=1.0, teacher_norm=5.0, seed=0)
    x_star = solve_reference(pr)
    runs = [approximate_newton(pr, sample_size=16, seed=7, x_star=x_star) for _ in range(2)]
    assert runs[0].grad_norms == runs[1].grad_norms
    other = approximate_newton(pr, sample_size=16, seed=8, x_star=x_star)
    assert other.grad_norms != runs[0].grad_norms  # the seed really drives the sampling
    path = plot_convergence([runs[0], newton(pr, x_star=x_star)], tmp_path / "c.png", loss_star=float(pr.loss(x_star)))
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    summary = runs[0].summary()
    assert summary["iterations"] == runs[0].iterations and "eps0" in summary


def test_invalid_arguments() -> None:
    pr = random_instance(16, 2, seed=0)
    with pytest.raises(ValueError):
        approximate_newton(pr, sample_size=0)
    with pytest.raises(ValueError):
        approximate_newton(pr, sample_size=4, lowrank="bogus")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        gradient_descent(pr, step=-1.0)
    with pytest.raises(ValueError):
        random_instance(3, 5)


def test_too_small_sample_is_reported_not_crashed() -> None:
    """k < d makes H~ (near-)singular: the run stops and says so instead of overflowing."""
    pr = random_instance(256, 16, w=1.0, teacher_norm=10.0, seed=0)
    res = approximate_newton(pr, _x0(pr), sample_size=8, tol=EPS, seed=0)
    assert not res.converged
    assert res.extra["diverged"] or res.extra["singular"]
    assert res.iterations < 200
    ok = approximate_newton(pr, _x0(pr), sample_size=128, tol=EPS, seed=0)
    assert not ok.extra["diverged"] and not ok.extra["singular"]
