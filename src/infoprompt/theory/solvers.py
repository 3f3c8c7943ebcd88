"""Gradient descent, exact Newton and Algorithm 1 (approximate Newton) for ``L``.

Algorithm 1 of InfoPrompt (Theorem D.1, following DLS23 Section 8) replaces the Hessian
``A^T B~(x) A`` by ``A^T D~ A`` where ``D~`` is a *sparse diagonal* matrix obtained by
leverage-score row sampling, so that ``(1 - eps0) H <= H~ <= (1 + eps0) H`` and the
iteration converges linearly with rate ~eps0, i.e. in ``O(log(1/eps))`` steps.

``B~ = B_exp + B_cent + W^2`` is not diagonal: it is ``diag(q) + rank 2``
(:class:`~infoprompt.theory.functions.HessianParts`). Our implementation samples the
whole diagonal ``q`` (regulariser ``W^2`` included) and, by default, keeps the rank-2
remainder exact, because it costs only O(nnz(A)) to form; ``lowrank="drop"`` gives the
literal ``H~ = A^T D~ A`` that the paper justifies when ``W^2`` dominates ``B~``
(Lemma C.15, Part 2).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import torch

from .functions import SoftmaxRegression, Tensorish


@dataclass
class SolverResult:
    """Iterate history of one run (entry ``t`` describes ``x_t``; ``x_0`` included)."""

    method: str
    xs: list[torch.Tensor]
    losses: list[float]
    grad_norms: list[float]
    errors: list[float] | None  # ||x_t - x*||_2, when x* was supplied
    converged: bool
    tol: float
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def iterations(self) -> int:
        """Number of updates performed (``len(xs) - 1``)."""
        return len(self.xs) - 1

    @property
    def x(self) -> torch.Tensor:
        return self.xs[-1]

    def iterations_to(self, tol: float) -> int | None:
        """First ``t`` with ``||grad L(x_t)|| < tol`` (None if never reached)."""
        return next((t for t, g in enumerate(self.grad_norms) if g < tol), None)

    def summary(self) -> dict[str, Any]:
        """JSON-ready digest (no iterate vectors)."""
        out: dict[str, Any] = {
            "method": self.method,
            "iterations": self.iterations,
            "converged": self.converged,
            "tol": self.tol,
            "final_loss": self.losses[-1],
            "final_grad_norm": self.grad_norms[-1],
            "final_error": None if self.errors is None else self.errors[-1],
            "grad_norms": self.grad_norms,
        }
        if self.errors is not None:
            out["errors"] = self.errors
        out.update({k: v for k, v in self.extra.items() if _jsonable(v)})
        return out


def _jsonable(v: Any) -> bool:
    return isinstance(v, (int, float, str, bool, list, dict, type(None)))


class _History:
    """Collects per-iterate diagnostics so each solver body stays short."""

    def __init__(self, problem: SoftmaxRegression, x_star: torch.Tensor | None) -> None:
        self.problem = problem
        self.x_star = x_star
        self.xs: list[torch.Tensor] = []
        self.losses: list[float] = []
        self.grad_norms: list[float] = []
        self.errors: list[float] = []

    def record(self, x: torch.Tensor) -> torch.Tensor:
        g = self.problem.grad(x)
        self.xs.append(x.clone())
        self.losses.append(float(self.problem.loss(x)))
        self.grad_norms.append(float(torch.linalg.vector_norm(g)))
        if self.x_star is not None:
            self.errors.append(float(torch.linalg.vector_norm(x - self.x_star)))
        return g

    def diverged(self) -> bool:
        """Non-finite or exploded (1e8 x initial) gradient: stop instead of overflowing."""
        g = self.grad_norms[-1]
        return not math.isfinite(g) or g > 1e8 * max(self.grad_norms[0], 1e-300)

    def result(self, method: str, tol: float, **extra: Any) -> SolverResult:
        extra.setdefault("diverged", self.diverged())
        return SolverResult(
            method=method,
            xs=self.xs,
            losses=self.losses,
            grad_norms=self.grad_norms,
            errors=self.errors if self.x_star is not None else None,
            converged=self.grad_norms[-1] < tol,
            tol=tol,
            extra=extra,
        )


def _start(problem: SoftmaxRegression, x0: Tensorish | None) -> torch.Tensor:
    return torch.zeros(problem.d, dtype=problem.dtype) if x0 is None else problem.x(x0)


def smoothness_bound(problem: SoftmaxRegression) -> float:
    """Certified global bound ``L >= ||hess L(x)||`` for every x.

    ``||S|| <= 1/2`` and ``||B_exp|| <= 1/4 + 6 ||f - b||_inf <= 1/4 + 6 (1 + ||b||_inf)``
    give ``||A||^2 (max w^2 + |<b,1>|/2 + 1/4 + 6 (1 + ||b||_inf))``. Gradient descent
    with step ``1/L`` therefore needs no line search (whose Armijo test is meaningless
    once loss differences fall below float64 round-off).
    """
    A_norm = float(torch.linalg.matrix_norm(problem.A, ord=2))
    b_inf = float(problem.b.abs().max())
    soft = abs(float(problem.b.sum())) / 2 + 0.25 + 6.0 * (1.0 + b_inf)
    return A_norm**2 * (float((problem.w**2).max()) + soft)


def gradient_descent(
    problem: SoftmaxRegression,
    x0: Tensorish | None = None,
    *,
    step: float | None = None,
    max_iter: int = 5000,
    tol: float = 1e-10,
    x_star: torch.Tensor | None = None,
) -> SolverResult:
    """GD ``x <- x - step * grad``: the linearly convergent baseline.

    Default step ``1/lambda_max(H(x0))`` (local curvature). The certified
    ``1/smoothness_bound(problem)`` is safe everywhere but, on instances with
    ``||A|| <= R``, 10-1000x smaller than needed. As a safeguard the step is halved
    (permanently) whenever the loss rises above round-off, so GD cannot diverge.
    """
    x = _start(problem, x0)
    if step is None:
        step = 1.0 / float(torch.linalg.eigvalsh(problem.hessian(x))[-1])
    if not step > 0:
        raise ValueError(f"step must be positive, got {step}")
    hist = _History(problem, x_star)
    g = hist.record(x)
    halvings = 0
    for _ in range(max_iter):
        if hist.grad_norms[-1] < tol or hist.diverged():
            break
        cand = x - step * g
        loss = hist.losses[-1]
        while float(problem.loss(cand)) > loss + 1e-12 * (1.0 + abs(loss)) and halvings < 60:
            step, halvings = 0.5 * step, halvings + 1
            cand = x - step * g
        x = cand
        g = hist.record(x)
    return hist.result("gd", tol, step=step, step_halvings=halvings)


def newton(
    problem: SoftmaxRegression,
    x0: Tensorish | None = None,
    *,
    max_iter: int = 50,
    tol: float = 1e-10,
    x_star: torch.Tensor | None = None,
    damped: bool = False,
) -> SolverResult:
    """Exact Newton ``x <- x - H(x)^{-1} g``; quadratic convergence near ``x*``.

    ``damped=True`` halves the step until the loss does not increase (global safeguard
    for weakly regularised instances); the pure method is the default so that the
    quadratic rate is not hidden by a line search.
    """
    hist = _History(problem, x_star)
    x = _start(problem, x0)
    g = hist.record(x)
    for _ in range(max_iter):
        if hist.grad_norms[-1] < tol or hist.diverged():
            break
        try:
            direction = torch.linalg.solve(problem.hessian(x), g)
        except torch.linalg.LinAlgError:  # singular Hessian: Newton is undefined here
            return hist.result("newton", tol, singular=True)
        x = _damp(problem, x, direction, hist.losses[-1]) if damped else x - direction
        g = hist.record(x)
    return hist.result("newton", tol)


def _damp(problem: SoftmaxRegression, x: torch.Tensor, direction: torch.Tensor, loss: float) -> torch.Tensor:
    """Backtracking on the step length: first of 1, 1/2, ... that does not raise L."""
    t = 1.0
    for _ in range(40):
        cand = x - t * direction
        if float(problem.loss(cand)) <= loss + 1e-12 * (1.0 + abs(loss)):
            return cand
        t *= 0.5
    return x - t * direction


def leverage_scores(M: torch.Tensor) -> torch.Tensor:
    """Row leverage scores ``tau_i = m_i^T (M^T M)^+ m_i`` (sum = rank M).

    Computed exactly from a thin SVD (robust to rank deficiency). DLS23 uses sketched
    approximations for input-sparsity time; exact scores only change the constant.
    """
    U, s, _ = torch.linalg.svd(M, full_matrices=False)
    rank = int((s > s.max() * max(M.shape) * torch.finfo(M.dtype).eps).sum())
    return (U[:, :rank] ** 2).sum(dim=1)


def sample_diagonal(
    A: torch.Tensor, q: torch.Tensor, sample_size: int, gen: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """Sparse diagonal ``D~`` with ``E[A^T D~ A] = A^T diag(q) A``.

    Rows of ``sqrt(|q|) A`` are drawn i.i.d. with probability ``p_i = tau_i / sum tau``
    (leverage scores), ``sample_size`` times; a row drawn ``c_i`` times gets weight
    ``q_i c_i / (k p_i)``. Signs of ``q`` are kept, so the estimate stays unbiased even
    off the strongly convex regime. Returns ``(indices, weights)`` of the nonzeros.
    """
    tau = leverage_scores(q.abs().sqrt().unsqueeze(-1) * A)
    p = tau / tau.sum()
    draws = torch.multinomial(p, sample_size, replacement=True, generator=gen)
    idx, counts = torch.unique(draws, return_counts=True)
    weights = q[idx] * counts.to(q.dtype) / (sample_size * p[idx])
    return idx, weights


def approx_hessian(
    problem: SoftmaxRegression,
    x: torch.Tensor,
    sample_size: int,
    gen: torch.Generator,
    lowrank: Literal["exact", "drop"] = "exact",
) -> tuple[torch.Tensor, int]:
    """``H~ = A_S^T D~_S A_S (+ exact rank-2 remainder)``; also returns nnz(D~)."""
    parts = problem.hessian_parts(x)
    if sample_size >= problem.n:  # sampling cannot beat the exact diagonal
        idx = torch.arange(problem.n)
        weights = parts.q
    else:
        idx, weights = sample_diagonal(problem.A, parts.q, sample_size, gen)
    A_s = problem.A[idx]
    H = A_s.mT @ (weights.unsqueeze(-1) * A_s)
    if lowrank == "exact":
        H = H + parts.lowrank()
    return H, int(idx.numel())


def spectral_error(H: torch.Tensor, H_approx: torch.Tensor) -> float | None:
    """Smallest ``eps0`` with ``(1-eps0) H <= H~ <= (1+eps0) H`` (None if H is not PD)."""
    L, info = torch.linalg.cholesky_ex(H)
    if int(info) != 0:
        return None
    X = torch.linalg.solve_triangular(L, H_approx, upper=False)
    X = torch.linalg.solve_triangular(L, X.mT, upper=False)
    ev = torch.linalg.eigvalsh(0.5 * (X + X.mT))
    return float((ev - 1.0).abs().max())


def approximate_newton(
    problem: SoftmaxRegression,
    x0: Tensorish | None = None,
    *,
    sample_size: int,
    max_iter: int = 200,
    tol: float = 1e-10,
    x_star: torch.Tensor | None = None,
    seed: int = 0,
    lowrank: Literal["exact", "drop"] = "exact",
    diagnose: bool = True,
) -> SolverResult:
    """Algorithm 1: ``x <- x - H~^{-1} g`` with a fresh leverage-score sample each step.

    (The seed translation prints ``x_t + H~^{-1} g``; the minus sign is the correct one.)
    With ``diagnose`` the achieved ``eps0`` of each ``H~`` is recorded (costs an exact
    Hessian, so it is for reporting only).
    """
    if sample_size < 1:
        raise ValueError(f"sample_size must be >= 1, got {sample_size}")
    if lowrank not in ("exact", "drop"):
        raise ValueError(f"lowrank must be 'exact' or 'drop', got {lowrank!r}")
    gen = torch.Generator().manual_seed(seed)
    hist = _History(problem, x_star)
    x = _start(problem, x0)
    g = hist.record(x)
    eps0: list[float | None] = []
    nnz: list[int] = []
    singular = False
    for _ in range(max_iter):
        if hist.grad_norms[-1] < tol or hist.diverged():
            break
        H_tilde, k = approx_hessian(problem, x, sample_size, gen, lowrank)
        nnz.append(k)
        if diagnose:
            eps0.append(spectral_error(problem.hessian(x), H_tilde))
        try:
            x = x - torch.linalg.solve(H_tilde, g)
        except torch.linalg.LinAlgError:  # fewer than d distinct rows drawn: H~ singular
            singular = True
            break
        g = hist.record(x)
    return hist.result(
        "approx_newton", tol, sample_size=sample_size, lowrank=lowrank, eps0=eps0, nnz=nnz, singular=singular
    )


def solve_reference(problem: SoftmaxRegression, x0: Tensorish | None = None, *, max_iter: int = 100) -> torch.Tensor:
    """High-accuracy ``x*``: damped Newton run to round-off, best iterate kept."""
    res = newton(problem, x0, max_iter=max_iter, tol=0.0, damped=True)
    best = min(range(len(res.xs)), key=lambda t: res.grad_norms[t])
    return res.xs[best]


def convergence_rate(values: list[float], floor: float = 1e-13) -> float | None:
    """Geometric-mean contraction factor of a sequence above ``floor`` (None if < 2)."""
    v = [a for a in values if a > floor]
    if len(v) < 2 or v[0] <= 0:
        return None
    return math.exp(math.log(v[-1] / v[0]) / (len(v) - 1))


def plot_convergence(
    results: list[SolverResult],
    path: str | Path,
    *,
    loss_star: float,
    title: str = "Softmax regression: L = L_exp + L_cent + L_reg",
) -> Path:
    """PNG with log-y panels: loss gap and ``||x_t - x*||`` (zoomed), and the full GD run.

    Linear x-axes make linear convergence a straight line and quadratic convergence a
    bending-down curve. Loss gaps below round-off of ``L(x*)`` are not drawn (noise).
    Uses the Agg canvas directly, so the global matplotlib backend is never touched.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(15, 4.3))
    FigureCanvasAgg(fig)
    ax_loss, ax_err, ax_full = fig.subplots(1, 3)
    floor = 8 * torch.finfo(torch.float64).eps * max(abs(loss_star), 1.0)
    fast = [r.iterations for r in results if r.method != "gd"]
    zoom = max(fast, default=max(r.iterations for r in results)) + 3
    for res in results:
        its = list(range(len(res.losses)))
        gap = [v - loss_star if v - loss_star > floor else math.nan for v in res.losses]
        ax_loss.plot(its, gap, marker=".", ms=4, label=_label(res))
        if res.errors is not None:
            err = [e if e > 0 else math.nan for e in res.errors]
            ax_err.plot(its, err, marker=".", ms=4, label=_label(res))
            ax_full.plot(its, err, lw=1.2, label=_label(res))
    panels = (
        (ax_loss, "L(x_t) - L(x*)", f"loss gap (first {zoom} iterations)"),
        (ax_err, "||x_t - x*||_2", f"distance to x* (first {zoom} iterations)"),
        (ax_full, "||x_t - x*||_2", "distance to x*, full runs"),
    )
    for ax, ylabel, sub in panels:
        ax.set_yscale("log")
        ax.set_xlabel("iteration t")
        ax.set_ylabel(ylabel)
        ax.set_title(sub, fontsize=9)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7)
    ax_loss.set_xlim(-0.5, zoom)
    ax_err.set_xlim(-0.5, zoom)
    fig.suptitle(title)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    return path


def _label(res: SolverResult) -> str:
    if res.method == "approx_newton":
        return f"approx Newton (k={res.extra.get('sample_size')}, {res.iterations} it)"
    return f"{'GD' if res.method == 'gd' else 'Newton'} ({res.iterations} it)"
