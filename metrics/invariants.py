"""Conserved quantities and the entropy-dissipation proxy of paper section 5.1."""
from __future__ import annotations

import torch

from problems import drift


def momentum(v: torch.Tensor) -> torch.Tensor:
    """Mean momentum (1/N) sum_i v_i, a (d,) vector (conserved)."""
    return v.to(torch.float64).mean(0)


def kinetic_energy(v: torch.Tensor) -> float:
    """Paper's kinetic energy E = (1/2N) sum_i |v_i|^2 (conserved)."""
    return float(0.5 * (v.to(torch.float64) ** 2).sum(1).mean())


def energy_drift(v: torch.Tensor, v0: torch.Tensor) -> float:
    """Relative energy drift (E(v) - E(v0)) / E(v0) from the initial particles v0."""
    e0 = kinetic_energy(v0)
    return (kinetic_energy(v) - e0) / e0


def momentum_drift(v: torch.Tensor, v0: torch.Tensor) -> float:
    """|P(v) - P(v0)| / sqrt(2 E(v0)): momentum change relative to the velocity scale."""
    return float((momentum(v) - momentum(v0)).norm() / (2 * kinetic_energy(v0)) ** 0.5)


def entropy_dissipation(v: torch.Tensor, s: torch.Tensor, gamma: float, C: float) -> float:
    """D(t) = -(1/N^2) sum_ij s_i^T A(v_i - v_j)(s_i - s_j) = (1/N) sum_i s_i . U_i (paper 5.1).

    With the exact score this is d/dt int f log f <= 0. Uses `problems.drift` (O(N) for gamma = 0).
    """
    v64, s64 = v.to(torch.float64), s.to(torch.float64)
    return float((s64 * drift(v64, s64, gamma, C)).sum(1).mean())
