"""Weight-shift experiment for "The Closeness of In-Context Learning and Weight Shifting".

Theorem 1.4 of Li et al. (arXiv 2304.13276, seed 002): for softmax regression
``min_x ||f_A(x) - b||^2`` with ``||A|| <= R``, ``||x|| <= R``, ``R >= 4`` and
``M = n^1.5 exp(10 R^2)``:

* Part 1: a step ``x_t -> x_{t+1}`` with ``||A (x_{t+1} - x_t)||_inf < 0.01`` equals
  solving the same regression for the shifted target ``b~ = b - delta_b``,
  ``delta_b = f(x_{t+1}) - f(x_t)``, and ``||delta_b||_2 <= M ||x_{t+1} - x_t||_2``.
* Part 2: an update ``A_t -> A_{t+1}`` with ``||(A_{t+1} - A_t) x||_inf < 0.01`` gives
  ``||delta_b||_2 <= M ||A_{t+1} - A_t||`` (spectral norm).

We measure both ratios. Because ``J_f = (diag f - f f^T) A`` and
``||diag f - f f^T|| <= 1/2``, the mean-value theorem gives the *sharp* constants
``||A||/2`` (Part 1) and ``||x||/2`` (Part 2); they are reported next to ``M`` to show
how loose the theorem's constant is (log10 M ~ 70 for R = 4).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from .functions import Tensorish, as_tensor, f, grad_exp

PRECONDITION_INF = 0.01  # the theorem's ||A dx||_inf < 0.01 / ||dA x||_inf < 0.01


def log10_M(n: int, R: float) -> float:
    """``log10(n^1.5 exp(10 R^2))`` (M itself overflows float64 for R >~ 8.4)."""
    return 1.5 * math.log10(n) + 10.0 * R**2 / math.log(10.0)


def log10_lemma55(n: int, R: float) -> float:
    """``log10(4 beta^-2 n^1.5 R exp(2 R^2))`` with ``beta = exp(-R^2)`` (Lemma 5.5)."""
    return math.log10(4.0 * R) + 1.5 * math.log10(n) + 4.0 * R**2 / math.log(10.0)


@dataclass
class ShiftRecord:
    """One measured move: ``delta`` is ``||x_{t+1}-x_t||_2`` or ``||A_{t+1}-A_t||_2``."""

    delta: float
    delta_b: float
    precond_inf: float  # ||A dx||_inf or ||dA x||_inf
    in_ball: bool  # ||x_t||, ||x_{t+1}|| <= R  (resp. ||A_{t+1}|| <= R)
    setting: float  # learning rate (Part 1) or attention scale (Part 2)

    @property
    def valid(self) -> bool:
        """Whether the theorem's hypotheses hold for this move."""
        return self.precond_inf < PRECONDITION_INF and self.in_ball and self.delta > 0

    @property
    def ratio(self) -> float:
        return self.delta_b / self.delta if self.delta > 0 else 0.0


@dataclass
class ShiftPart:
    """All moves of one part plus the constants they are compared with."""

    name: str
    records: list[ShiftRecord]
    sharp_constant: float
    log10_M: float
    identity_max_err: float  # | L(x_{t+1}; b) - L(x_t; b - delta_b) | (Remark 5.2)

    @property
    def valid(self) -> list[ShiftRecord]:
        return [r for r in self.records if r.valid]

    @property
    def empirical_constant(self) -> float | None:
        """``max ||delta_b|| / ||Delta||`` over moves satisfying the hypotheses."""
        return max((r.ratio for r in self.valid), default=None)

    @property
    def bound_holds(self) -> bool:
        """``||delta_b|| <= M ||Delta||`` on every valid move (compared in log10)."""
        return all(r.delta_b == 0 or math.log10(r.delta_b) <= self.log10_M + math.log10(r.delta) for r in self.valid)

    def summary(self) -> dict[str, Any]:
        emp = self.empirical_constant
        return {
            "name": self.name,
            "moves": len(self.records),
            "valid_moves": len(self.valid),
            "empirical_constant": emp,
            "log10_empirical_constant": None if not emp else math.log10(emp),
            "sharp_constant": self.sharp_constant,
            "empirical_over_sharp": None if emp is None else emp / self.sharp_constant,
            "log10_M": self.log10_M,
            "log10_M_over_empirical": None if not emp else self.log10_M - math.log10(emp),
            "bound_holds": self.bound_holds,
            "sharp_bound_holds": all(r.ratio <= self.sharp_constant * (1 + 1e-9) for r in self.records),
            "max_ratio_all_moves": max((r.ratio for r in self.records), default=None),
            "identity_max_err": self.identity_max_err,
            "max_delta_b": max((r.delta_b for r in self.valid), default=None),
        }


@dataclass
class ShiftResult:
    """Outcome of :func:`weight_shift_experiment` (both parts and the normalisation)."""

    n: int
    d: int
    R: float
    seed: int
    A_input_norm: float
    A_scale: float
    x_scale: float
    notes: list[str]
    part1: ShiftPart
    part2: ShiftPart
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def log10_M(self) -> float:
        return log10_M(self.n, self.R)

    def summary(self) -> dict[str, Any]:
        M = 10.0**self.log10_M if self.log10_M < 300 else None
        return {
            "n": self.n,
            "d": self.d,
            "R": self.R,
            "seed": self.seed,
            "M": M,
            "log10_M": self.log10_M,
            "log10_lemma55_constant": log10_lemma55(self.n, self.R),
            "theorem_requires_R_ge_4": self.R >= 4,
            "A_input_spectral_norm": self.A_input_norm,
            "A_scale_factor": self.A_scale,
            "x_scale_factor": self.x_scale,
            "notes": self.notes,
            "part1_gradient_steps": self.part1.summary(),
            "part2_self_attention": self.part2.summary(),
            **self.extra,
        }


def _spec(M: torch.Tensor) -> float:
    return float(torch.linalg.matrix_norm(M, ord=2))


def _project_ball(x: torch.Tensor, R: float) -> torch.Tensor:
    nrm = float(torch.linalg.vector_norm(x))
    return x if nrm <= R else x * (R / nrm)


def self_attention_update(A: torch.Tensor, Wq: torch.Tensor, Wk: torch.Tensor, Wv: torch.Tensor) -> torch.Tensor:
    """Direction of one softmax self-attention layer: ``softmax_rows(A Wq Wk^T A^T) A Wv``.

    This is ``D^{-1} exp(Q K^T) V`` with ``Q = A Wq``, ``K = A Wk``, ``V = A Wv``; the
    layer acts as the residual update ``A_{t+1} = A_t + eta * (this)``.
    """
    logits = (A @ Wq) @ (A @ Wk).mT
    return torch.softmax(logits, dim=-1) @ (A @ Wv)


def _part1(
    A: torch.Tensor,
    b: torch.Tensor,
    x0: torch.Tensor,
    R: float,
    lr_scales: Sequence[float],
    steps: int,
) -> tuple[list[ShiftRecord], float]:
    """Projected GD on ``L_exp``, ``steps`` steps per learning rate; one record per step.

    ``lr = c * 0.01 / ||A grad L_exp(x0)||_inf`` for each ``c`` in ``lr_scales``: the
    first step of ``c = 1`` sits exactly on the precondition, whatever the scale of A.
    """
    records: list[ShiftRecord] = []
    ident = 0.0
    g0 = float((A @ grad_exp(A, b, x0)).abs().max())
    base = PRECONDITION_INF / g0 if g0 > 0 else 1.0
    for c in lr_scales:
        lr = c * base
        x = x0.clone()
        for _ in range(steps):
            x_new = _project_ball(x - lr * grad_exp(A, b, x), R)
            dx = x_new - x
            db = f(A, x_new) - f(A, x)
            # Remark 5.2: ||f(x_{t+1}) - b|| == ||f(x_t) - (b - delta_b)||
            lhs = torch.linalg.vector_norm(f(A, x_new) - b)
            rhs = torch.linalg.vector_norm(f(A, x) - (b - db))
            ident = max(ident, float((lhs - rhs).abs()))
            records.append(
                ShiftRecord(
                    delta=float(torch.linalg.vector_norm(dx)),
                    delta_b=float(torch.linalg.vector_norm(db)),
                    precond_inf=float((A @ dx).abs().max()),
                    in_ball=float(torch.linalg.vector_norm(x_new)) <= R * (1 + 1e-12),
                    setting=float(lr),
                )
            )
            x = x_new
    return records, ident


def _part2(
    A: torch.Tensor,
    b: torch.Tensor,
    x: torch.Tensor,
    R: float,
    rel_scales: Sequence[float],
    gen: torch.Generator,
) -> tuple[list[ShiftRecord], float, dict[str, Any]]:
    """One random softmax self-attention layer applied with a sweep of residual scales.

    ``eta = c * 0.01 / ||U x||_inf`` for each ``c`` in ``rel_scales``, so ``c < 1``
    satisfies the precondition exactly and ``c >= 1`` shows what happens beyond it.
    """
    d = A.shape[1]
    Wq, Wk, Wv = (torch.randn(d, d, generator=gen, dtype=A.dtype) / math.sqrt(d) for _ in range(3))
    U = self_attention_update(A, Wq, Wk, Wv)
    base = PRECONDITION_INF / float((U @ x).abs().max())
    records: list[ShiftRecord] = []
    ident = 0.0
    for c in rel_scales:
        dA = (c * base) * U
        A_new = A + dA
        db = f(A_new, x) - f(A, x)
        lhs = torch.linalg.vector_norm(f(A_new, x) - b)
        rhs = torch.linalg.vector_norm(f(A, x) - (b - db))
        ident = max(ident, float((lhs - rhs).abs()))
        records.append(
            ShiftRecord(
                delta=_spec(dA),
                delta_b=float(torch.linalg.vector_norm(db)),
                precond_inf=float((dA @ x).abs().max()),
                in_ball=_spec(A_new) <= R * (1 + 1e-12),
                setting=float(c * base),
            )
        )
    return records, ident, {"attention_update_spectral_norm": _spec(U)}


def _shift_inputs(A: Tensorish | None, b: Tensorish | None, x: Tensorish | None, n: int, d: int, R: float,
                  norm_fraction: float, gen: torch.Generator):
    """``A`` (rescaled to spectral norm ``norm_fraction * R``), ``b``, ``x`` for the experiment, drawn from
    ``gen`` in this order where not given; returns them with ``||A||`` as given, both scales and the notes."""
    notes: list[str] = []
    if A is None:
        A_t = torch.randn(n, d, generator=gen, dtype=torch.float64)
    else:
        A_t = as_tensor(A)
        if A_t.dim() != 2 or A_t.shape[0] < 2:
            raise ValueError(f"A must be n x d with n >= 2, got shape {tuple(A_t.shape)}")
        notes.append("A supplied externally")
    n, d = int(A_t.shape[0]), int(A_t.shape[1])
    A_norm = _spec(A_t)
    if A_norm == 0:
        raise ValueError("A must be nonzero")
    A_scale = norm_fraction * R / A_norm
    A_t = A_t * A_scale
    notes.append(
        f"A rescaled by {A_scale:.6g} to spectral norm {norm_fraction}*R = "
        f"{norm_fraction * R:.6g} (input norm {A_norm:.6g})"
    )
    x_scale = 1.0
    if x is None:
        x_t = torch.randn(d, generator=gen, dtype=torch.float64)
        x_t = x_t * (0.5 * R / float(torch.linalg.vector_norm(x_t)))
    else:
        x_t = as_tensor(x)
        if x_t.shape != (d,):
            raise ValueError(f"x must have shape ({d},), got {tuple(x_t.shape)}")
        nrm = float(torch.linalg.vector_norm(x_t))
        if nrm > R:
            x_scale = norm_fraction * R / nrm
            x_t = x_t * x_scale
            notes.append(f"x rescaled by {x_scale:.6g} to norm {norm_fraction}*R")
    if b is None:
        b_t = -torch.log(torch.rand(n, generator=gen, dtype=torch.float64))
        b_t = b_t / b_t.sum()
    else:
        b_t = as_tensor(b)
        if b_t.shape != (n,):
            raise ValueError(f"b must have shape ({n},), got {tuple(b_t.shape)}")
    return A_t, b_t, x_t, A_norm, A_scale, x_scale, notes


def weight_shift_experiment(
    A: Tensorish | None = None,
    b: Tensorish | None = None,
    x: Tensorish | None = None,
    *,
    n: int = 64,
    d: int = 16,
    R: float = 4.0,
    norm_fraction: float = 0.95,
    lr_scales: Sequence[float] = (0.1, 0.5, 0.9, 3.0, 30.0),
    steps: int = 20,
    attn_scales: Sequence[float] = (1e-3, 1e-2, 0.1, 0.3, 0.6, 0.9, 2.0, 5.0),
    seed: int = 0,
) -> ShiftResult:
    """Measure ``||delta_b||`` against ``M ||Delta||`` for GD steps and an attention update.

    ``A`` may be any ``n x d`` matrix (e.g. a backbone's token embeddings of one
    sentence); it is rescaled to spectral norm ``norm_fraction * R`` so that the
    theorem's ``||A|| <= R`` holds with room for the Part-2 update (the factor is in
    the result). Defaults: random Gaussian ``A``; ``x`` random with ``||x|| = R/2``
    (rescaled to ``norm_fraction * R`` only if larger than ``R``); ``b`` a random
    probability vector. Part 1 runs projected GD on ``L_exp`` (``||x|| <= R`` kept) for
    each relative learning rate in ``lr_scales``; Part 2 applies one random softmax
    self-attention layer with each relative residual scale in ``attn_scales`` (scale 1
    = exactly at the ``0.01`` precondition, in both parts).
    """
    if R <= 0 or not 0 < norm_fraction <= 1:
        raise ValueError(f"need R > 0 and 0 < norm_fraction <= 1, got {R}, {norm_fraction}")
    if steps < 1 or not lr_scales or not attn_scales:
        raise ValueError("need steps >= 1 and non-empty lr_scales / attn_scales")
    gen = torch.Generator().manual_seed(seed)
    A_t, b_t, x_t, A_norm, A_scale, x_scale, notes = _shift_inputs(A, b, x, n, d, R, norm_fraction, gen)
    n, d = int(A_t.shape[0]), int(A_t.shape[1])
    if R < 4:
        notes.append("R < 4: outside Theorem 1.4's hypotheses (R >= 4); M still reported")
    lm = log10_M(n, R)
    rec1, id1 = _part1(A_t, b_t, x_t, R, lr_scales, steps)
    rec2, id2, extra2 = _part2(A_t, b_t, x_t, R, attn_scales, gen)
    part1 = ShiftPart("gradient steps on x", rec1, 0.5 * _spec(A_t), lm, id1)
    part2 = ShiftPart("self-attention update of A", rec2, 0.5 * float(torch.linalg.vector_norm(x_t)), lm, id2)
    return ShiftResult(n=n, d=d, R=float(R), seed=seed, A_input_norm=A_norm, A_scale=A_scale, x_scale=x_scale,
                       notes=notes, part1=part1, part2=part2, extra=extra2)


def plot_shift(result: ShiftResult, path: str | Path) -> Path:
    """Three panels: measured ``||delta_b||`` vs ``||Delta||`` per part, and log10 constants."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(14, 4.3))
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, 3)
    for ax, part, xlabel in (
        (axes[0], result.part1, "||x_{t+1} - x_t||_2"),
        (axes[1], result.part2, "||A_{t+1} - A_t||_2"),
    ):
        pts = [r for r in part.records if r.delta > 0 and r.delta_b > 0]
        for valid, style in ((True, "o"), (False, "x")):
            sel = [r for r in pts if r.valid == valid]
            if sel:
                ax.loglog(
                    [r.delta for r in sel],
                    [r.delta_b for r in sel],
                    style,
                    ms=4,
                    label="hypotheses hold" if valid else "precondition violated",
                )
        if pts:
            lo, hi = min(r.delta for r in pts), max(r.delta for r in pts)
            ax.loglog(
                [lo, hi],
                [part.sharp_constant * lo, part.sharp_constant * hi],
                "k--",
                label=f"sharp bound {part.sharp_constant:.3g}*Delta",
            )
        emp = part.empirical_constant
        ax.set_title(
            f"{part.name}\nempirical const {emp:.3g} vs M = 1e{part.log10_M:.1f}" if emp else part.name, fontsize=9
        )
        ax.set_xlabel(xlabel)
        ax.set_ylabel("||delta b||_2")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7)
    names, vals = (
        ["Part1 emp", "Part2 emp", "Lemma 5.5", "M"],
        [
            math.log10(result.part1.empirical_constant or 1e-300),
            math.log10(result.part2.empirical_constant or 1e-300),
            log10_lemma55(result.n, result.R),
            result.log10_M,
        ],
    )
    axes[2].bar(names, vals, color=["C0", "C1", "C2", "C3"])
    axes[2].set_ylabel("log10 constant")
    axes[2].set_title(f"n={result.n}, d={result.d}, R={result.R:g}", fontsize=9)
    for i, v in enumerate(vals):
        axes[2].text(i, v, f"{v:.1f}", ha="center", va="bottom", fontsize=8)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    return path
