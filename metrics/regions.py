"""Where the mass is: the fraction of particles inside a region, against the exact or reference solution's.

* A ball around the mean (`core_mass_error`): a smooth invertible flow map cannot move mass into a region f0
  leaves empty (truncated2d's hole |v| < eta), so a particle method built on one shows a mass deficit there that
  W1 dilutes: this metric names it.
* The reference's highest-density region (`hdr_mass_error`): {v : f_t(v) >= level}, the level set holding a
  share HDR_SHARE of the reference's mass (the mixture's modes while it has them, the bulk afterwards): a method
  that misplaces the modes, or spreads mass into the tails, has the wrong mass there.
Both errors are read against `core_mass_floor`, the Monte Carlo error of exact samples of the same n.
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


#: the share of the reference's mass in the highest-density region of `hdr_mass_error`
HDR_SHARE = 0.5


def _level(values: torch.Tensor, share: float) -> float:
    """The (1 - share) quantile of density values (M,): the level whose super-level set holds `share` of them."""
    if not 0 < share < 1:
        raise ValueError(f"share must be in (0, 1), got {share}")
    return float(torch.quantile(values, 1 - share))


def hdr_level(reference: torch.Tensor, density, share: float = HDR_SHARE) -> float:
    """The density level whose super-level set {f >= level} holds `share` of the mass: the (1 - share) quantile of
    f over the reference sample (M, d); density: (M', d) -> (M',)."""
    return _level(density(reference).to(torch.float64), share)


def hdr_mass_error(x: torch.Tensor, reference: torch.Tensor, density, share: float = HDR_SHARE) -> tuple[float, float]:
    """(|P_x(f >= level) - P_ref(f >= level)|, P_ref(f >= level)) with level = hdr_level(reference, density,
    share): the particles' mass (x (N, d)) in the reference's highest-density region against the reference's own
    (about `share`), and that reference mass (for its floor, core_mass_floor(p, N)). f is evaluated once per
    sample."""
    f_ref = density(reference).to(torch.float64)
    level = _level(f_ref, share)
    p_ref = float((f_ref >= level).double().mean())
    p_x = float((density(x).to(torch.float64) >= level).double().mean())
    return abs(p_x - p_ref), p_ref
