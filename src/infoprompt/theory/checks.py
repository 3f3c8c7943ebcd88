"""Analytic-vs-autograd derivative check (what ``infoprompt theory check`` runs).

The seed translations drop minus signs, so every closed form in :mod:`.functions` is
compared with ``torch.autograd.functional`` on random instances before being trusted.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch.autograd.functional import hessian, jacobian

from . import functions as F


def rel_err(approx: torch.Tensor, exact: torch.Tensor) -> float:
    """``||approx - exact|| / max(||exact||, tiny)`` (Frobenius)."""
    denom = max(float(torch.linalg.norm(exact)), 1e-300)
    return float(torch.linalg.norm(approx - exact)) / denom


def _cases(pr: F.SoftmaxRegression) -> dict[str, tuple[Callable, Callable, Callable]]:
    """name -> (loss, analytic grad, analytic hessian), all functions of x."""
    A, b, w = pr.A, pr.b, pr.w
    return {
        "exp": (lambda x: F.loss_exp(A, b, x), lambda x: F.grad_exp(A, b, x), lambda x: F.hess_exp(A, b, x)),
        "cent": (lambda x: F.loss_cent(A, b, x), lambda x: F.grad_cent(A, b, x), lambda x: F.hess_cent(A, b, x)),
        "reg": (lambda x: F.loss_reg(A, w, x), lambda x: F.grad_reg(A, w, x), lambda x: F.hess_reg(A, w, x)),
        "total": (pr.loss, pr.grad, pr.hessian),
    }


def check_derivatives(n: int = 20, d: int = 5, trials: int = 5, seed: int = 0, x_scale: float = 1.0) -> dict[str, Any]:
    """Max relative error of each gradient/Hessian over ``trials`` random (A, b, w, x).

    Instances use a peaked teacher target, a general (non-probability) ``b`` on odd
    trials so ``<b,1> != 1`` is exercised, and random positive ``w``.
    """
    if n < 2 or d < 1 or trials < 1:
        raise ValueError(f"need n >= 2, d >= 1, trials >= 1; got {n}, {d}, {trials}")
    gen = torch.Generator().manual_seed(seed)
    worst: dict[str, dict[str, float]] = {}
    for t in range(trials):
        A = torch.randn(n, d, generator=gen, dtype=torch.float64)
        b = torch.softmax(A @ torch.randn(d, generator=gen, dtype=torch.float64), dim=0)
        if t % 2 == 1:
            b = torch.randn(n, generator=gen, dtype=torch.float64)
        w = torch.rand(n, generator=gen, dtype=torch.float64) + 0.1
        pr = F.SoftmaxRegression(A, b, w)
        x = x_scale * torch.randn(d, generator=gen, dtype=torch.float64)
        for name, (loss, grad, hess) in _cases(pr).items():
            errs = worst.setdefault(name, {"grad": 0.0, "hessian": 0.0})
            errs["grad"] = max(errs["grad"], rel_err(grad(x), jacobian(loss, x)))
            errs["hessian"] = max(errs["hessian"], rel_err(hess(x), hessian(loss, x)))
    overall = max(v for errs in worst.values() for v in errs.values())
    return {"n": n, "d": d, "trials": trials, "seed": seed, "max_rel_err": worst, "overall_max_rel_err": overall}
