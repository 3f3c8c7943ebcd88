"""Mutual information of a channel with known Gaussian observation noise, bracketed by two bounds.

The channel is u = μ(c) + η·ε, ε ~ N(0, I), with c drawn from a prior we can sample. We can
evaluate μ(c) for any c (a forward pass), so log p(u | c) = −‖u − μ(c)‖² / (2η²) + const is known
exactly. With M prior draws c_1..c_M, their means μ_k, and observations u_j = μ_j + η·ε_j:

- lower (InfoNCE, van den Oord et al. 2018; Poole et al. 2019, eq. 12):
  E_j[ log p(u_j|c_j) − log (1/M) Σ_k p(u_j|c_k) ] ≤ I(c; u), and ≤ log M;
- upper (leave-one-out, Poole et al. 2019, eq. 13):
  E_j[ log p(u_j|c_j) − log 1/(M−1) Σ_{k≠j} p(u_j|c_k) ] ≥ I(c; u).

Both use the *exact* log-likelihood as critic, the critic that makes InfoNCE tightest, so nothing is
learnt: a critic trained on held-out pairs could only lower the lower bound (critic error) and
costs a training loop. Both bounds converge to I as M grows; their gap is the estimate's
uncertainty and is reported with it. The point estimate is their midpoint. Bias at a given M is
measured on correlated Gaussians by :func:`gaussian_check` (see docs/analysis.md).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from infoprompt.errors import ConfigError


@dataclass(frozen=True)
class MIBounds:
    """Per-group bounds in nats: lower (InfoNCE) ≤ I ≤ upper (leave-one-out)."""

    lower: torch.Tensor
    upper: torch.Tensor

    @property
    def estimate(self) -> torch.Tensor:
        return (self.lower + self.upper) / 2


def likelihood_bounds(observations: torch.Tensor, means: torch.Tensor, noise_std: float) -> MIBounds:
    """Bounds on I(c; u) for each group from exact Gaussian likelihoods.

    observations: (G, R, M, D) — R noise replicas of u_j = means[:, j] + noise_std·ε for each of the M
    prior draws of each of G groups (a group is one conditioning input X, giving I(c; u | X = x)).
    means: (G, M, D). Returns per-group bounds of shape (G,).
    """
    if observations.dim() != 4 or means.dim() != 3 or observations.shape[0] != means.shape[0] \
            or observations.shape[2:] != means.shape[1:]:
        raise ConfigError(f"likelihood_bounds: shapes {tuple(observations.shape)} and {tuple(means.shape)} do not match (G,R,M,D)/(G,M,D)")
    m = means.shape[1]
    if m < 2:
        raise ConfigError(f"need at least 2 prior samples per group, got {m}")
    if noise_std <= 0:
        raise ConfigError(f"noise std must be > 0, got {noise_std}")
    obs = observations.double()
    mu = means.double()
    # (G, R, M_j, M_k) log-likelihood of observation j under mean k, up to a constant.
    loglik = -torch.cdist(obs.flatten(1, 2), mu).pow(2).view(*obs.shape[:3], m) / (2 * noise_std**2)
    positive = torch.diagonal(loglik, dim1=-2, dim2=-1)
    lower = positive - torch.logsumexp(loglik, -1) + math.log(m)
    eye = torch.eye(m, dtype=torch.bool, device=loglik.device)
    upper = positive - torch.logsumexp(loglik.masked_fill(eye, -math.inf), -1) + math.log(m - 1)
    return MIBounds(lower.mean((1, 2)), upper.mean((1, 2)))


def gaussian_mi(rho: float, dim: int) -> float:
    """Closed form I(X; Y) in nats for dim independent pairs with correlation rho: −dim/2·log(1−ρ²)."""
    if not -1 < rho < 1:
        raise ConfigError(f"correlation must be in (-1, 1), got {rho}")
    return -0.5 * dim * math.log(1 - rho**2)


def gaussian_check(rho: float = 0.8, dim: int = 2, samples: int = 32, groups: int = 64, replicas: int = 4,
                   seed: int = 0) -> dict:
    """Run the estimator on X ~ N(0, I), Y = ρX + √(1−ρ²)·ε, where I(X; Y) is known exactly.

    Uses the same M (`samples`), groups and replicas as a CMI run, so the returned relative error is
    the estimator's error at that sample size.
    """
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(groups, samples, dim, generator=gen, dtype=torch.float64)
    noise = math.sqrt(1 - rho**2)
    means = rho * x
    obs = means.unsqueeze(1) + noise * torch.randn(groups, replicas, samples, dim, generator=gen, dtype=torch.float64)
    bounds = likelihood_bounds(obs, means, noise)
    true = gaussian_mi(rho, dim)
    estimate = float(bounds.estimate.mean())
    return {
        "rho": rho, "dim": dim, "samples": samples, "groups": groups, "replicas": replicas, "seed": seed,
        "true_nats": true, "lower_nats": float(bounds.lower.mean()), "upper_nats": float(bounds.upper.mean()),
        "estimate_nats": estimate, "relative_error": abs(estimate - true) / true,
    }


# (ρ, d) pairs of the validation table in docs/analysis.md: I = 0.29 .. 2.04 nats.
CHECK_CASES = ((0.5, 2), (0.8, 2), (0.9, 2), (0.8, 4))


def gaussian_sweep(cases=CHECK_CASES, samples: int = 24, groups: int = 96, replicas: int = 8,
                   seeds: int = 40) -> list[dict]:
    """Bias and error of the estimator over `seeds` repetitions for each (ρ, d): the docs' validation table."""
    if seeds < 1:
        raise ConfigError(f"--seeds must be >= 1, got {seeds}")
    rows = []
    for rho, dim in cases:
        checks = [gaussian_check(rho, dim, samples, groups, replicas, seed) for seed in range(seeds)]
        errors = sorted(c["relative_error"] for c in checks)
        rows.append({
            "rho": rho, "dim": dim, "true_nats": checks[0]["true_nats"],
            "mean_relative_bias": sum(c["estimate_nats"] / c["true_nats"] - 1 for c in checks) / seeds,
            "median_relative_error": errors[len(errors) // 2],
            "p95_relative_error": errors[min(len(errors) - 1, math.ceil(0.95 * len(errors)) - 1)],
            "max_relative_error": errors[-1], "samples": samples, "groups": groups, "replicas": replicas,
            "seeds": seeds,
        })
    return rows
