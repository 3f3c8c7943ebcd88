"""``infoprompt theory check|solve|shift``: files written, exit codes, argument errors."""

from __future__ import annotations

import argparse
import json

import numpy as np
import pytest

from infoprompt.theory.cli import add_parser, main

PNG = b"\x89PNG\r\n\x1a\n"


def test_add_parser_registers_theory_on_a_foreign_parser() -> None:
    parser = argparse.ArgumentParser(prog="infoprompt")
    sub = parser.add_subparsers(dest="command")
    sub.add_parser("train")  # the main CLI owns other commands
    add_parser(sub)
    args = parser.parse_args(["theory", "solve", "--out", "x", "--n", "32"])
    assert callable(args.func) and args.n == 32 and args.d == 16


def test_check_command(tmp_path, capsys) -> None:
    assert main(["theory", "check", "--n", "8", "--d", "3", "--trials", "2", "--out", str(tmp_path)]) == 0
    report = json.loads((tmp_path / "check.json").read_text())
    assert report["passed"] and report["overall_max_rel_err"] < 1e-8
    assert "PASS" in capsys.readouterr().out
    # an impossible tolerance must make the check fail with exit code 1
    assert main(["theory", "check", "--n", "8", "--d", "3", "--trials", "1", "--tol", "1e-30"]) == 1


def test_solve_command_writes_png_and_json(tmp_path) -> None:
    out = tmp_path / "solve"
    assert main(["theory", "solve", "--n", "64", "--d", "6", "--out", str(out)]) == 0
    assert (out / "convergence.png").read_bytes()[:8] == PNG
    s = json.loads((out / "summary.json").read_text())
    assert set(s["solvers"]) == {"gd", "newton", "approx_newton"}
    assert s["sample_size"] == 48
    for name in ("newton", "approx_newton"):
        assert s["solvers"][name]["converged"]
        assert s["solvers"][name]["final_grad_norm"] < 1e-10
    assert s["solvers"]["newton"]["iterations"] < s["solvers"]["approx_newton"]["iterations"]
    assert s["solvers"]["approx_newton"]["iterations"] <= s["iteration_bound_3log2_1_over_eps"]
    assert s["solvers"]["gd"]["iterations"] > s["solvers"]["approx_newton"]["iterations"]


def test_shift_command_writes_png_and_json(tmp_path) -> None:
    assert main(["theory", "shift", "--out", str(tmp_path), "--R", "4", "--seed", "0", "--n", "32", "--d", "8"]) == 0
    assert (tmp_path / "shift.png").read_bytes()[:8] == PNG
    s = json.loads((tmp_path / "summary.json").read_text())
    p1, p2 = s["part1_gradient_steps"], s["part2_self_attention"]
    assert p1["bound_holds"] and p2["bound_holds"]
    assert 0 < p1["empirical_constant"] <= p1["sharp_constant"]
    assert p1["log10_M_over_empirical"] > 60


def test_shift_command_accepts_npy_matrix(tmp_path) -> None:
    path = tmp_path / "emb.npy"
    np.save(path, np.random.default_rng(0).standard_normal((9, 40)))
    out = tmp_path / "o"
    assert main(["theory", "shift", "--out", str(out), "--A", str(path)]) == 0
    s = json.loads((out / "summary.json").read_text())
    assert (s["n"], s["d"]) == (9, 40) and any("externally" in n for n in s["notes"])


@pytest.mark.parametrize(
    "argv",
    [
        ["theory", "solve", "--out", "{tmp}", "--n", "1"],
        ["theory", "solve", "--out", "{tmp}", "--sample-size", "0"],
        ["theory", "solve", "--out", "{tmp}", "--tol", "-1"],
        ["theory", "shift", "--out", "{tmp}", "--R", "-3"],
        ["theory", "shift", "--out", "{tmp}", "--A", "{tmp}/missing.npy"],
        ["theory", "check", "--trials", "0"],
        ["theory"],
    ],
)
def test_bad_arguments_exit_2_with_one_line(argv, tmp_path, capsys) -> None:
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("infoprompt theory") and "error:" in err and "\n" not in err
    assert not (tmp_path / "summary.json").exists()


def test_out_path_that_is_a_file_is_rejected(tmp_path, capsys) -> None:
    target = tmp_path / "file.txt"
    target.write_text("x")
    assert main(["theory", "shift", "--out", str(target)]) == 2
    assert "not a directory" in capsys.readouterr().err


def test_registering_the_cli_stays_cheap_and_exports_resolve() -> None:
    """The main CLI imports add_parser at start-up: that must not pull in torch."""
    import subprocess
    import sys

    code = "import sys; import infoprompt.theory.cli; print('torch' in sys.modules, 'matplotlib' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={**__import__("os").environ, "PYTHONPATH": ":".join(sys.path)},
    )
    assert out.stdout.split() == ["False", "False"]
    import infoprompt.theory as theory

    for name in theory.__all__:
        assert getattr(theory, name) is not None
    with pytest.raises(AttributeError):
        _ = theory.does_not_exist


def test_solve_with_divergent_sample_size_exits_1_with_valid_json(tmp_path) -> None:
    assert (
        main(
            [
                "theory",
                "solve",
                "--n",
                "128",
                "--d",
                "16",
                "--sample-size",
                "8",
                "--gd-max-iter",
                "50",
                "--out",
                str(tmp_path),
            ]
        )
        == 1
    )

    def reject(token: str) -> None:
        raise AssertionError(f"non-standard JSON constant {token}")

    s = json.loads((tmp_path / "summary.json").read_text(), parse_constant=reject)
    assert s["solvers"]["approx_newton"]["converged"] is False
    assert (tmp_path / "convergence.png").exists()
