"""Softmax-regression objective of InfoPrompt Appendix C with analytic derivatives.

Notation follows the spec (``shared/spec/softmax_regression.md``): ``A`` is ``n x d``,
``b`` and ``w`` are ``n``-vectors, ``x`` is a ``d``-vector (or a batch ``(..., d)``).

* ``u(x) = exp(Ax)``, ``alpha(x) = <u(x), 1>``, ``f(x) = u / alpha = softmax(Ax)``
* ``L_exp = 0.5 ||f - b||^2``, ``L_cent = -<b, log f>``, ``L_reg = 0.5 ||diag(w) A x||^2``

Every Hessian has the form ``A^T B(x) A`` with an ``n x n`` matrix ``B``; for the two
softmax losses ``B`` is *diagonal plus rank <= 2* in the vectors ``f`` and ``f o (2f - b)``.
:func:`hessian_parts` exposes that split because Algorithm 1 samples only the diagonal part.
All values are torch tensors; float64 unless a dtype is requested, so autograd checks can
reach ~1e-12 relative agreement.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch

Tensorish = Any  # torch.Tensor | numpy.ndarray | sequence of floats

DEFAULT_DTYPE = torch.float64


def as_tensor(value: Tensorish, dtype: torch.dtype | None = None) -> torch.Tensor:
    """Convert to a floating CPU tensor (float64 unless ``dtype`` says otherwise).

    Integer or float32 inputs are promoted so that mixing numpy/torch/list inputs never
    silently loses precision in the derivative checks.
    """
    dtype = DEFAULT_DTYPE if dtype is None else dtype
    if not dtype.is_floating_point:
        raise TypeError(f"dtype must be floating point, got {dtype}")
    if isinstance(value, torch.Tensor):
        return value.to(dtype=dtype)
    return torch.as_tensor(value, dtype=dtype)


def _logits(A: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """``Ax`` for a single ``x`` (d,) or a batch (..., d); result (..., n)."""
    return x @ A.mT


# --- basic functions -------------------------------------------------------------------


def u(A: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """``u(x) = exp(Ax)`` (may overflow for huge ``Ax``; ``f`` below never does)."""
    return torch.exp(_logits(A, x))


def alpha(A: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Normaliser ``alpha(x) = <u(x), 1_n>``."""
    return u(A, x).sum(dim=-1)


def f(A: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """``f(x) = alpha(x)^{-1} u(x) = softmax(Ax)``, computed stably."""
    return torch.softmax(_logits(A, x), dim=-1)


def softmax_jacobian_core(fx: torch.Tensor) -> torch.Tensor:
    """``S = diag(f) - f f^T`` so that ``J_f = S A`` (Lemma C.9, Part 1)."""
    return torch.diag_embed(fx) - fx.unsqueeze(-1) * fx.unsqueeze(-2)


def _dot(p: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    return (p * q).sum(dim=-1, keepdim=True)


def _sandwich(A: torch.Tensor, B: torch.Tensor) -> torch.Tensor:
    """``A^T B A`` for B of shape (..., n, n)."""
    return A.mT @ B @ A


# --- L_exp ------------------------------------------------------------------------------


def loss_exp(A: torch.Tensor, b: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """``L_exp(x) = 0.5 ||f(x) - b||_2^2`` (the softmax-regression l2 loss)."""
    return 0.5 * ((f(A, x) - b) ** 2).sum(dim=-1)


def grad_exp(A: torch.Tensor, b: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """``grad L_exp = A^T (diag(f) - f f^T) c`` with ``c = f - b``."""
    fx = f(A, x)
    c = fx - b
    return (fx * c - fx * _dot(fx, c)) @ A


def b_exp_matrix(A: torch.Tensor, b: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """``B_exp(x)`` with ``hess L_exp = A^T B_exp A`` (derived here, checked by autograd).

    ``B_exp = <3f - 2b, f> f f^T + (<b,f> - <f,f>) diag(f) + diag((2f - b) o f)
    - g f^T - f g^T`` with ``g = (2f - b) o f``; equivalently ``S^2 + sum_k c_k hess f_k``.
    """
    fx = f(A, x)
    diag_q, kappa, g = _b_exp_parts(fx, b)
    outer = fx.unsqueeze(-1) * fx.unsqueeze(-2)
    cross = g.unsqueeze(-1) * fx.unsqueeze(-2)
    return torch.diag_embed(diag_q) + kappa.unsqueeze(-1) * outer - cross - cross.mT


def _b_exp_parts(fx: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Diagonal ``q``, scalar ``kappa`` and vector ``g`` of the B_exp decomposition."""
    g = (2.0 * fx - b) * fx
    diag_q = g + (_dot(b, fx) - _dot(fx, fx)) * fx
    kappa = _dot(3.0 * fx - 2.0 * b, fx)
    return diag_q, kappa, g


def hess_exp(A: torch.Tensor, b: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """``hess L_exp = A^T B_exp(x) A``."""
    return _sandwich(A, b_exp_matrix(A, b, x))


# --- L_cent -----------------------------------------------------------------------------


def loss_cent(A: torch.Tensor, b: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """``L_cent(x) = -<b, log f(x)>`` via log-softmax (no log of an underflowed f)."""
    return -(b * torch.log_softmax(_logits(A, x), dim=-1)).sum(dim=-1)


def grad_cent(A: torch.Tensor, b: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """``grad L_cent = A^T (<b, 1> f - b)`` (Lemma C.10, Part 3)."""
    fx = f(A, x)
    return (b.sum(dim=-1, keepdim=True) * fx - b) @ A


def b_cent_matrix(A: torch.Tensor, b: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """``B(x) = <1, b> (diag(f) - f f^T)`` (Definition C.13)."""
    s = b.sum(dim=-1)[..., None, None]
    return s * softmax_jacobian_core(f(A, x))


def hess_cent(A: torch.Tensor, b: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """``hess L_cent = A^T B(x) A`` (Lemma C.14, Part 3)."""
    return _sandwich(A, b_cent_matrix(A, b, x))


# --- L_reg ------------------------------------------------------------------------------


def loss_reg(A: torch.Tensor, w: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """``L_reg(x) = 0.5 ||W A x||^2`` with ``W = diag(w)``."""
    return 0.5 * ((w * _logits(A, x)) ** 2).sum(dim=-1)


def grad_reg(A: torch.Tensor, w: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """``grad L_reg = A^T W^2 A x``."""
    return (w**2 * _logits(A, x)) @ A


def hess_reg(A: torch.Tensor, w: torch.Tensor, x: torch.Tensor | None = None) -> torch.Tensor:
    """``hess L_reg = A^T W^2 A`` (constant in x; ``x`` only sets the batch shape)."""
    H = _sandwich(A, torch.diag(w**2))
    if x is not None and x.dim() > 1:
        H = H.expand(*x.shape[:-1], *H.shape)
    return H


# --- total objective ---------------------------------------------------------------------


@dataclass(frozen=True)
class HessianParts:
    """``hess L = A^T diag(q) A + A^T (kappa f f^T - g f^T - f g^T) A``.

    ``q`` (n) is the diagonal that Algorithm 1 sparsifies by row sampling; the rank-2
    remainder is described by ``kappa`` and the d-vectors ``Af = A^T f``, ``Ag = A^T g``,
    which cost O(nnz(A)) to form.
    """

    q: torch.Tensor
    kappa: torch.Tensor
    Af: torch.Tensor
    Ag: torch.Tensor

    def lowrank(self) -> torch.Tensor:
        """Dense d x d rank-2 remainder."""
        Af, Ag = self.Af.unsqueeze(-1), self.Ag.unsqueeze(-1)
        k = self.kappa[..., None, None]
        return k * (Af @ Af.mT) - Ag @ Af.mT - Af @ Ag.mT


@dataclass(frozen=True)
class SoftmaxRegression:
    """``L = L_exp + L_cent + L_reg`` for fixed data ``(A, b, w)`` (Theorem D.1's objective).

    Inputs may be numpy arrays, lists or tensors; they are stored as tensors of one common
    floating dtype (float64 by default) so that ``x`` of any dtype is cast consistently.
    """

    A: torch.Tensor
    b: torch.Tensor
    w: torch.Tensor
    dtype: torch.dtype = DEFAULT_DTYPE

    def __post_init__(self) -> None:
        A = as_tensor(self.A, self.dtype)
        b = as_tensor(self.b, self.dtype)
        w = as_tensor(self.w, self.dtype)
        if A.dim() != 2:
            raise ValueError(f"A must be 2-D (n x d), got shape {tuple(A.shape)}")
        n = A.shape[0]
        if b.shape != (n,) or w.shape != (n,):
            raise ValueError(f"b and w must have shape ({n},), got {tuple(b.shape)} and {tuple(w.shape)}")
        object.__setattr__(self, "A", A)
        object.__setattr__(self, "b", b)
        object.__setattr__(self, "w", w)

    @property
    def n(self) -> int:
        return int(self.A.shape[0])

    @property
    def d(self) -> int:
        return int(self.A.shape[1])

    def x(self, x: Tensorish) -> torch.Tensor:
        """Cast ``x`` to the problem dtype and check its trailing dimension."""
        t = as_tensor(x, self.dtype)
        if t.shape[-1:] != (self.d,):
            raise ValueError(f"x must have trailing dimension {self.d}, got {tuple(t.shape)}")
        return t

    def f(self, x: Tensorish) -> torch.Tensor:
        return f(self.A, self.x(x))

    def loss_parts(self, x: Tensorish) -> dict[str, torch.Tensor]:
        """The three terms separately (useful for reporting which term dominates)."""
        t = self.x(x)
        return {
            "exp": loss_exp(self.A, self.b, t),
            "cent": loss_cent(self.A, self.b, t),
            "reg": loss_reg(self.A, self.w, t),
        }

    def loss(self, x: Tensorish) -> torch.Tensor:
        p = self.loss_parts(x)
        return p["exp"] + p["cent"] + p["reg"]

    def grad(self, x: Tensorish) -> torch.Tensor:
        """``A^T [S (f - b) + <b,1> f - b + W^2 A x]``, one pass over A."""
        t = self.x(x)
        fx = f(self.A, t)
        c = fx - self.b
        r = fx * c - fx * _dot(fx, c) + self.b.sum() * fx - self.b
        r = r + self.w**2 * _logits(self.A, t)
        return r @ self.A

    def hessian_parts(self, x: Tensorish) -> HessianParts:
        """Diagonal-plus-rank-2 split of the full Hessian (exact, not sampled)."""
        t = self.x(x)
        fx = f(self.A, t)
        q_exp, kappa, g = _b_exp_parts(fx, self.b)
        s = self.b.sum()
        q = q_exp + s * fx + self.w**2
        return HessianParts(q=q, kappa=(kappa - s).squeeze(-1), Af=fx @ self.A, Ag=g @ self.A)

    def hessian(self, x: Tensorish) -> torch.Tensor:
        """Exact ``hess L = A^T (B_exp + B_cent + W^2) A`` in O(n d^2)."""
        parts = self.hessian_parts(x)
        return self.A.mT @ (parts.q.unsqueeze(-1) * self.A) + parts.lowrank()


def random_instance(
    n: int,
    d: int,
    *,
    R: float = 4.0,
    w: float = 2.0,
    cond: float = 10.0,
    teacher_norm: float = 0.0,
    seed: int = 0,
    dtype: torch.dtype = DEFAULT_DTYPE,
) -> SoftmaxRegression:
    """Random problem with ``||A|| = R`` and singular values spread over ``[R/cond, R]``.

    The spread makes the Hessian ill-conditioned so that gradient descent is visibly
    slower than Newton; ``b`` is a random probability vector (so ``<b,1> = 1 >= 0`` and
    ``L_cent`` is convex); ``w`` is a constant weight vector (``W = w I``).
    """
    if n < 2 or d < 1 or n < d:
        raise ValueError(f"need n >= max(2, d) and d >= 1, got n={n}, d={d}")
    if R <= 0 or cond < 1 or w < 0:
        raise ValueError(f"need R > 0, cond >= 1, w >= 0; got R={R}, cond={cond}, w={w}")
    gen = torch.Generator().manual_seed(seed)
    U, _ = torch.linalg.qr(torch.randn(n, d, generator=gen, dtype=dtype))
    V, _ = torch.linalg.qr(torch.randn(d, d, generator=gen, dtype=dtype))
    sv = R * torch.logspace(0.0, -math.log10(cond), d, dtype=dtype)
    A = (U * sv) @ V.mT
    if teacher_norm > 0:  # realisable target: b = f(A x_teacher), far from uniform
        x_t = torch.randn(d, generator=gen, dtype=dtype)
        b = f(A, x_t * (teacher_norm / torch.linalg.vector_norm(x_t)))
    else:  # Exp(1) weights normalised -> Dirichlet(1), close to uniform f(0)
        b = -torch.log(torch.rand(n, generator=gen, dtype=dtype))
        b = b / b.sum()
    return SoftmaxRegression(A=A, b=b, w=torch.full((n,), float(w), dtype=dtype), dtype=dtype)
