"""``infoprompt theory {check,solve,shift}``: the theory lab from the command line.

The main CLI calls :func:`add_parser` with its subparsers object and then
``sys.exit(args.func(args))``. Every ``func`` returns an exit code: 0 success,
1 a check failed / output could not be written, 2 bad arguments (one line on stderr).
Standalone: ``python -m infoprompt.theory.cli theory solve --out DIR``.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

PROG = "infoprompt theory"


class UsageError(ValueError):
    """Bad argument value: reported as one line on stderr with exit code 2."""


def _fail(cmd: str, msg: str, code: int) -> int:
    where = f"{PROG} {cmd}" if cmd else PROG
    print(f"{where}: error: {msg}", file=sys.stderr)
    return code


def _guard(cmd: str, body: Callable[[argparse.Namespace], int]) -> Callable[..., int]:
    """Map UsageError/ValueError to exit 2 and OSError to exit 1 (one line each)."""

    def run(args: argparse.Namespace) -> int:
        import torch

        # d x d / n x d problems: thread start-up costs 10-100x the arithmetic here.
        torch.set_num_threads(1)
        try:
            return body(args)
        except (UsageError, ValueError) as exc:
            return _fail(cmd, str(exc), 2)
        except OSError as exc:
            return _fail(cmd, f"cannot write output: {exc}", 1)

    return run


def _require(cond: bool, msg: str) -> None:
    if not cond:
        raise UsageError(msg)


def _finite(value: Any) -> Any:
    """Replace inf/nan (a diverged run) by None so the JSON stays standard."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


def _write_json(path: Path, payload: dict[str, Any]) -> None:
    path.write_text(json.dumps(_finite(payload), indent=2, allow_nan=False) + "\n")


def _out_dir(value: str) -> Path:
    out = Path(value)
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {value} exists and is not a directory")
    out.mkdir(parents=True, exist_ok=True)
    return out


# --- check -----------------------------------------------------------------------------


def cmd_check(args: argparse.Namespace) -> int:
    """Print analytic-vs-autograd errors; exit 1 if any exceeds ``--tol``."""
    from .checks import check_derivatives

    _require(args.n >= 2 and args.d >= 1 and args.trials >= 1, "need --n >= 2, --d >= 1, --trials >= 1")
    _require(args.tol > 0, "--tol must be positive")
    report = check_derivatives(n=args.n, d=args.d, trials=args.trials, seed=args.seed)
    report["tol"] = args.tol
    report["passed"] = report["overall_max_rel_err"] <= args.tol
    print(f"{'loss':<6} {'grad rel err':>14} {'hessian rel err':>16}")
    for name, errs in report["max_rel_err"].items():
        print(f"{name:<6} {errs['grad']:>14.2e} {errs['hessian']:>16.2e}")
    verdict = "PASS" if report["passed"] else "FAIL"
    print(
        f"{verdict}: max relative error {report['overall_max_rel_err']:.2e} "
        f"(tol {args.tol:.0e}, {args.trials} instances, n={args.n}, d={args.d})"
    )
    if args.out:
        _write_json(_out_dir(args.out) / "check.json", report)
    return 0 if report["passed"] else 1


# --- solve -----------------------------------------------------------------------------


def cmd_solve(args: argparse.Namespace) -> int:
    """Run GD, Newton and approximate Newton; write convergence.png + summary.json."""
    import torch

    from .functions import random_instance
    from .solvers import plot_convergence, solve_reference

    _require(args.n >= 2 and args.d >= 1 and args.n >= args.d, "need --n >= max(2, --d)")
    _require(args.R > 0 and args.cond >= 1 and args.w >= 0, "need --R > 0, --cond >= 1, --w >= 0")
    _require(args.tol > 0 and args.gd_max_iter >= 1, "need --tol > 0 and --gd-max-iter >= 1")
    k = 8 * args.d if args.sample_size is None else args.sample_size
    _require(k >= 1, "--sample-size must be >= 1")
    out = _out_dir(args.out)
    pr = random_instance(
        args.n, args.d, R=args.R, w=args.w, cond=args.cond, teacher_norm=args.teacher_norm, seed=args.seed
    )
    gen = torch.Generator().manual_seed(args.seed + 1)
    x0 = torch.randn(args.d, generator=gen, dtype=pr.dtype)
    x0 = x0 * (0.5 * args.R / float(torch.linalg.vector_norm(x0)))
    x_star = solve_reference(pr)
    runs, seconds = _run_solvers(args, pr, x0, x_star, k)
    loss_star = float(pr.loss(x_star))
    plot_convergence(
        runs,
        out / "convergence.png",
        loss_star=loss_star,
        title=f"n={args.n}, d={args.d}, w={args.w}, R={args.R}, cond={args.cond}",
    )
    summary = _solve_summary(args, pr, x_star, k, loss_star, runs, seconds)
    _write_json(out / "summary.json", summary)
    for res in runs:
        print(
            f"{res.method:<14} iterations={res.iterations:<6} converged={res.converged} "
            f"grad={res.grad_norms[-1]:.1e} err={(res.errors or [math.nan])[-1]:.1e} "
            f"({seconds[res.method]:.2f}s)"
        )
    print(f"wrote {out / 'convergence.png'} and {out / 'summary.json'}")
    return 0 if all(r.converged for r in runs[1:]) else 1


def _run_solvers(args: argparse.Namespace, pr, x0, x_star, k: int) -> tuple[list, dict[str, float]]:
    """GD, damped Newton and approximate Newton from the same start, each timed."""
    from .solvers import approximate_newton, gradient_descent, newton

    runs, seconds = [], {}
    for name, fn in (
        ("gd", lambda: gradient_descent(pr, x0, x_star=x_star, tol=args.tol, max_iter=args.gd_max_iter)),
        ("newton", lambda: newton(pr, x0, x_star=x_star, tol=args.tol, damped=True)),
        (
            "approx_newton",
            lambda: approximate_newton(pr, x0, x_star=x_star, tol=args.tol, sample_size=k, seed=args.seed),
        ),
    ):
        t0 = time.perf_counter()
        runs.append(fn())
        seconds[name] = time.perf_counter() - t0
    return runs, seconds


def _solve_summary(args: argparse.Namespace, pr, x_star, k: int, loss_star: float, runs: list,
                   seconds: dict[str, float]) -> dict[str, Any]:
    """summary.json: the instance, the theory's iteration bound, and each solver's convergence figures."""
    import torch

    from .solvers import convergence_rate

    eps = args.tol
    summary: dict[str, Any] = {
        "command": "solve",
        "n": args.n,
        "d": args.d,
        "R": args.R,
        "w": args.w,
        "cond": args.cond,
        "teacher_norm": args.teacher_norm,
        "seed": args.seed,
        "tol": eps,
        "sample_size": k,
        "iteration_bound_3log2_1_over_eps": 3 * math.log2(1 / eps),
        "loss_star": loss_star,
        "x_star_norm": float(torch.linalg.vector_norm(x_star)),
        "hessian_eigs_at_x_star": [float(v) for v in torch.linalg.eigvalsh(pr.hessian(x_star))[[0, -1]]],
        "solvers": {},
    }
    for res in runs:
        s = res.summary()
        s["seconds"] = seconds[res.method]
        s["error_contraction"] = convergence_rate(res.errors or [])
        if res.method == "newton":
            s["quadratic_constants"] = _quadratic_constants(res.errors or [])
        if res.method == "approx_newton":
            e0 = sorted(v for v in res.extra["eps0"] if v is not None)
            s["eps0_median"] = e0[len(e0) // 2] if e0 else None
        summary["solvers"][res.method] = s
    return summary


def _quadratic_constants(errors: list[float], floor: float = 1e-12) -> list[float]:
    """``e_{t+1} / e_t^2`` while ``e_{t+1}`` is above round-off: bounded => quadratic."""
    return [b / a**2 for a, b in zip(errors, errors[1:], strict=False) if a > 0 and b > floor]


# --- shift -----------------------------------------------------------------------------


def cmd_shift(args: argparse.Namespace) -> int:
    """Run the weight-shift experiment; write shift.png + summary.json."""
    from .icl_shift import plot_shift, weight_shift_experiment

    _require(args.R > 0, "--R must be positive")
    _require(args.n >= 2 and args.d >= 1, "need --n >= 2 and --d >= 1")
    A = None
    if args.A is not None:
        import numpy as np

        path = Path(args.A)
        _require(path.is_file(), f"--A {args.A}: no such file")
        A = np.load(path)
        _require(A.ndim == 2 and A.shape[0] >= 2, f"--A must hold an n x d array, n >= 2; got shape {A.shape}")
    out = _out_dir(args.out)
    res = weight_shift_experiment(A, n=args.n, d=args.d, R=args.R, seed=args.seed)
    summary = {"command": "shift", **res.summary()}
    plot_shift(res, out / "shift.png")
    _write_json(out / "summary.json", summary)
    for key in ("part1_gradient_steps", "part2_self_attention"):
        p = summary[key]
        emp = p["empirical_constant"]
        print(
            f"{p['name']:<28} valid={p['valid_moves']:>3}/{p['moves']:<3} "
            f"empirical={'n/a' if emp is None else f'{emp:.3g}':<9} "
            f"sharp={p['sharp_constant']:.3g} log10 M={p['log10_M']:.1f} "
            f"bound_holds={p['bound_holds']}"
        )
    print(f"wrote {out / 'shift.png'} and {out / 'summary.json'}")
    ok = summary["part1_gradient_steps"]["bound_holds"] and summary["part2_self_attention"]["bound_holds"]
    return 0 if ok else 1


# --- registration ----------------------------------------------------------------------


def _no_subcommand(args: argparse.Namespace) -> int:
    return _fail("", "choose a subcommand: check, solve or shift", 2)


def add_parser(subparsers: Any) -> None:
    """Register ``theory`` with sub-commands ``check``, ``solve`` and ``shift``."""
    theory = subparsers.add_parser(
        "theory",
        help="softmax-regression theory lab (derivatives, solvers, ICL shift)",
        description="Softmax-regression theory lab behind InfoPrompt's convergence claim.",
    )
    theory.set_defaults(func=_no_subcommand)
    sub = theory.add_subparsers(dest="theory_command", metavar="{check,solve,shift}")

    p = sub.add_parser("check", help="analytic gradients/Hessians vs autograd")
    p.add_argument("--n", type=int, default=20)
    p.add_argument("--d", type=int, default=5)
    p.add_argument("--trials", type=int, default=5)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--tol", type=float, default=1e-8)
    p.add_argument("--out", default=None, help="optional directory for check.json")
    p.set_defaults(func=_guard("check", cmd_check))

    p = sub.add_parser("solve", help="GD vs Newton vs approximate Newton (Algorithm 1)")
    p.add_argument("--out", required=True, help="directory for convergence.png, summary.json")
    p.add_argument("--n", type=int, default=256)
    p.add_argument("--d", type=int, default=16)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--R", type=float, default=4.0, help="spectral norm of A")
    p.add_argument("--w", type=float, default=1.0, help="regulariser weight (W = w I)")
    p.add_argument("--cond", type=float, default=10.0, help="condition number of A")
    p.add_argument(
        "--teacher-norm", type=float, default=10.0, help="b = softmax(A x_teacher) with this ||x_teacher||; 0: random b"
    )
    p.add_argument("--sample-size", type=int, default=None, help="rows sampled per approximate Hessian (default 8*d)")
    p.add_argument("--tol", type=float, default=1e-10, help="gradient-norm target")
    p.add_argument("--gd-max-iter", type=int, default=5000)
    p.set_defaults(func=_guard("solve", cmd_solve))

    p = sub.add_parser("shift", help="ICL weight-shift bound ||delta b|| vs M ||Delta||")
    p.add_argument("--out", required=True, help="directory for shift.png, summary.json")
    p.add_argument("--R", type=float, default=4.0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--n", type=int, default=64, help="rows of random A (ignored with --A)")
    p.add_argument("--d", type=int, default=16, help="columns of random A (ignored with --A)")
    p.add_argument(
        "--A",
        default=None,
        help=".npy file with an n x d matrix (e.g. token embeddings of a sentence); rescaled to ||A|| = 0.95 R",
    )
    p.set_defaults(func=_guard("shift", cmd_shift))


def main(argv: list[str] | None = None) -> int:
    """Standalone entry point mirroring the main CLI (``infoprompt theory ...``)."""
    parser = argparse.ArgumentParser(prog="infoprompt")
    add_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
