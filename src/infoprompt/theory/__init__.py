"""Softmax-regression theory lab (InfoPrompt Appendix C-D and Li et al. 2023).

* :mod:`.functions` -- ``u, alpha, f, L_exp, L_cent, L_reg`` with analytic gradients and
  Hessians, and :class:`SoftmaxRegression` for ``L = L_exp + L_cent + L_reg``.
* :mod:`.solvers` -- gradient descent, exact Newton, Algorithm 1 (approximate Newton with
  leverage-score row sampling) and a convergence plot.
* :mod:`.icl_shift` -- the in-context-learning weight-shift experiment.
* :mod:`.cli` -- ``infoprompt theory check|solve|shift``.

Exports are resolved lazily so that ``from infoprompt.theory.cli import add_parser`` (done by
the main CLI at start-up) does not import torch or matplotlib.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_EXPORTS: dict[str, str] = {
    "check_derivatives": "checks",
    "HessianParts": "functions",
    "SoftmaxRegression": "functions",
    "alpha": "functions",
    "as_tensor": "functions",
    "b_cent_matrix": "functions",
    "b_exp_matrix": "functions",
    "f": "functions",
    "grad_cent": "functions",
    "grad_exp": "functions",
    "grad_reg": "functions",
    "hess_cent": "functions",
    "hess_exp": "functions",
    "hess_reg": "functions",
    "loss_cent": "functions",
    "loss_exp": "functions",
    "loss_reg": "functions",
    "random_instance": "functions",
    "u": "functions",
    "ShiftResult": "icl_shift",
    "log10_M": "icl_shift",
    "plot_shift": "icl_shift",
    "self_attention_update": "icl_shift",
    "weight_shift_experiment": "icl_shift",
    "SolverResult": "solvers",
    "approximate_newton": "solvers",
    "gradient_descent": "solvers",
    "leverage_scores": "solvers",
    "newton": "solvers",
    "plot_convergence": "solvers",
    "sample_diagonal": "solvers",
    "solve_reference": "solvers",
}

__all__ = [
    "HessianParts",
    "ShiftResult",
    "SoftmaxRegression",
    "SolverResult",
    "alpha",
    "approximate_newton",
    "as_tensor",
    "b_cent_matrix",
    "b_exp_matrix",
    "check_derivatives",
    "f",
    "grad_cent",
    "grad_exp",
    "grad_reg",
    "gradient_descent",
    "hess_cent",
    "hess_exp",
    "hess_reg",
    "leverage_scores",
    "log10_M",
    "loss_cent",
    "loss_exp",
    "loss_reg",
    "newton",
    "plot_convergence",
    "plot_shift",
    "random_instance",
    "sample_diagonal",
    "self_attention_update",
    "solve_reference",
    "u",
    "weight_shift_experiment",
]

if TYPE_CHECKING:  # static analysers see the real names
    from .checks import (
        check_derivatives,
    )
    from .functions import (
        HessianParts,
        SoftmaxRegression,
        alpha,
        as_tensor,
        b_cent_matrix,
        b_exp_matrix,
        f,
        grad_cent,
        grad_exp,
        grad_reg,
        hess_cent,
        hess_exp,
        hess_reg,
        loss_cent,
        loss_exp,
        loss_reg,
        random_instance,
        u,
    )
    from .icl_shift import (
        ShiftResult,
        log10_M,
        plot_shift,
        self_attention_update,
        weight_shift_experiment,
    )
    from .solvers import (
        SolverResult,
        approximate_newton,
        gradient_descent,
        leverage_scores,
        newton,
        plot_convergence,
        sample_diagonal,
        solve_reference,
    )


def __getattr__(name: str) -> Any:
    """Import the defining submodule on first access (PEP 562)."""
    if name in _EXPORTS:
        value = getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
