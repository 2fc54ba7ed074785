"""Where the mass is: the fraction of particles inside a ball, against the exact or reference solution's.

A smooth invertible flow map cannot move mass into a region f0 leaves empty (truncated2d's hole |v| < eta), so a
particle method built on one shows a mass deficit there that W1 dilutes: this metric names it.
"""
from __future__ import annotations

import math

import torch

#: reference samples the reference fraction is estimated from (its own sampling error is then below 2.3e-3)
REFERENCE_SAMPLES = 50_000


def mass_within(x: torch.Tensor, center: torch.Tensor, radius: float) -> float:
    """The fraction of the (N, d) particles x with |x - center| < radius (center (d,))."""
    return float(((x - center.to(x)).pow(2).sum(-1) < radius * radius).double().mean())


def core_mass_error(x: torch.Tensor, reference: torch.Tensor, center: torch.Tensor, radius: float) -> float:
    """|P_x(|v - c| < r) - P_ref(|v - c| < r)|: the particles' mass in the ball against the reference sample's
    (reference: (M, d), M >> N)."""
    return abs(mass_within(x, center, radius) - mass_within(reference, center, radius))


def core_mass_floor(p: float, n: int) -> float:
    """The expected |error| of the fraction of n exact samples inside a ball of mass p: the mean absolute deviation
    of a binomial proportion, sqrt(2 / pi) sqrt(p (1 - p) / n) (its normal approximation)."""
    return math.sqrt(2 / math.pi) * math.sqrt(max(p * (1 - p), 0.0) / n)
