"""Weight-shift experiment: measured ||delta b|| never exceeds M ||Delta|| (nor the sharp
Lipschitz bound), and the empirical constant is reported against M."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from infoprompt.theory.functions import f
from infoprompt.theory.icl_shift import (
    PRECONDITION_INF,
    log10_M,
    plot_shift,
    self_attention_update,
    weight_shift_experiment,
)


@pytest.mark.parametrize("seed", range(3))
def test_bound_holds_on_random_instances(seed: int) -> None:
    res = weight_shift_experiment(n=48, d=8, R=4.0, seed=seed)
    for part in (res.part1, res.part2):
        assert part.valid, "some moves must satisfy the theorem's hypotheses"
        M = 10.0**part.log10_M
        for r in part.valid:
            assert r.precond_inf < PRECONDITION_INF
            assert r.delta_b <= M * r.delta  # Theorem 1.4 (Parts 1 and 2)
            assert r.delta_b <= part.sharp_constant * r.delta * (1 + 1e-9)  # J_f = S A
        emp = part.empirical_constant
        assert emp is not None and 0 < emp <= part.sharp_constant
        assert part.log10_M - math.log10(emp) > 60  # M is astronomically loose
        assert part.identity_max_err < 1e-12  # Remark 5.2: b~ = b - delta_b
    # moves beyond the precondition exist and are excluded from the empirical constant
    assert len(res.part1.valid) < len(res.part1.records)
    assert len(res.part2.valid) < len(res.part2.records)
    s = res.summary()
    assert s["part1_gradient_steps"]["bound_holds"] and s["part2_self_attention"]["bound_holds"]
    assert abs(s["log10_M"] - (1.5 * math.log10(48) + 160 / math.log(10))) < 1e-9


def test_measured_delta_b_is_what_it_claims() -> None:
    """Re-derive one Part-2 record by hand from the returned attention-update definition."""
    gen = torch.Generator().manual_seed(0)
    A = torch.randn(10, 4, generator=gen, dtype=torch.float64)
    Wq, Wk, Wv = (torch.randn(4, 4, generator=gen, dtype=torch.float64) for _ in range(3))
    U = self_attention_update(A, Wq, Wk, Wv)
    P = torch.softmax(A @ Wq @ Wk.T @ A.T, dim=1)
    assert torch.allclose(U, P @ A @ Wv)
    assert torch.allclose(P.sum(1), torch.ones(10, dtype=torch.float64))
    x = torch.randn(4, generator=gen, dtype=torch.float64)
    db = f(A + 1e-3 * U, x) - f(A, x)
    assert float(torch.linalg.vector_norm(db)) <= 0.5 * float(torch.linalg.vector_norm(1e-3 * U @ x)) * (1 + 1e-6)


def test_external_matrix_is_normalised_and_reported() -> None:
    rng = np.random.default_rng(0)
    A = 30.0 * rng.standard_normal((12, 96))  # like token embeddings of a 12-token sentence
    res = weight_shift_experiment(A, R=4.0, seed=1)
    s = res.summary()
    assert (s["n"], s["d"]) == (12, 96)
    assert abs(s["A_input_spectral_norm"] - np.linalg.norm(A, 2)) < 1e-8
    assert abs(s["A_scale_factor"] * s["A_input_spectral_norm"] - 0.95 * 4.0) < 1e-9
    assert any("externally" in note for note in s["notes"])
    assert any("rescaled" in note for note in s["notes"])
    assert res.part1.bound_holds and res.part2.bound_holds
    assert res.part1.empirical_constant is not None


def test_given_b_and_x_are_used_and_large_x_rescaled() -> None:
    A = np.eye(6)[:, :3] + 0.1
    b = np.full(6, 1 / 6)
    res = weight_shift_experiment(A, b=b, x=np.array([10.0, 0.0, 0.0]), R=4.0)
    assert abs(res.x_scale - 0.95 * 4.0 / 10.0) < 1e-12
    with pytest.raises(ValueError):
        weight_shift_experiment(A, b=np.ones(5))
    with pytest.raises(ValueError):
        weight_shift_experiment(np.ones(5))  # 1-D
    with pytest.raises(ValueError):
        weight_shift_experiment(R=-1.0)


def test_small_R_is_flagged_and_deterministic(tmp_path) -> None:
    a = weight_shift_experiment(n=20, d=4, R=2.0, seed=3)
    b = weight_shift_experiment(n=20, d=4, R=2.0, seed=3)
    assert a.summary() == b.summary()
    assert any("R < 4" in note for note in a.notes)
    assert a.summary()["theorem_requires_R_ge_4"] is False
    assert log10_M(20, 2.0) < log10_M(20, 4.0)
    png = plot_shift(a, tmp_path / "s.png")
    assert png.stat().st_size > 10_000
