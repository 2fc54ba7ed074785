"""The BKW solutions of the Maxwell Landau equation in 2D and 3D (paper section 5.2, App. B.3).

    f(v, t) = (2 pi K)^(-d/2) exp(-|v|^2 / 2K) (P + Q |v|^2),
    P = ((d + 2) K - d) / (2K),   Q = (1 - K) / (2K^2),   K(t) = 1 - c exp(-k t),

with unit mass, zero mean and covariance I. It solves the PDE exactly when the relaxation rate
is k = 2 C (d - 1) (checked by the PDE-residual test). The paper's Table 1 lists C = 1 but its
formulas K = 1 - exp(-t/8)/2 (2D) and K = 1 - exp(-t/6) (3D) need C = 1/16 and C = 1/24: these
are the defaults here. `K_rate` stays an explicit, overridable field (None: derived from C), so
the paper's inconsistent pairing (C = 1 with k = 1/8) can be built and shown to fail the PDE.

Exact sampler: P, Q >= 0 once K >= d/(d + 2), and P + Q d K = 1, so f is the mixture
    P * N(0, K I)  +  (Q d K) * [|v|^2 / K ~ chi^2_{d+2}, direction uniform],
the second component being the |v|^2-size-biased Gaussian. No rejection.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch

from problems.cases.base import Problem, uniform_directions, make_generator
from problems.equation.maxwell import maxwell_mean_field_drift


@dataclass(frozen=True)
class BKW(Problem):
    """BKW problem; `K_c` is the constant c of K(t) = 1 - c exp(-k t), `K_rate` is k (None: 2C(d-1))."""

    K_c: float = 0.5
    K_rate: float | None = None
    has_exact_solution: bool = field(default=True, init=False)

    def __post_init__(self):
        super().__post_init__()
        if self.gamma != 0:
            raise ValueError(f"{self.name}: BKW is a Maxwell (gamma = 0) solution, got gamma = {self.gamma}")
        k0 = self.K(self.t0)
        if k0 < self.dim / (self.dim + 2) - 1e-12:
            raise ValueError(
                f"{self.name}: at t0 = {self.t0} K = {k0:.6f} < d/(d+2) = {self.dim / (self.dim + 2):.6f}: "
                "f is not a density there; start later")

    @property
    def rate(self) -> float:
        """Relaxation rate k of K(t) = 1 - c exp(-k t)."""
        return 2.0 * self.C * (self.dim - 1) if self.K_rate is None else float(self.K_rate)

    def K(self, t: float) -> float:
        """K(t) = 1 - c exp(-k t)."""
        return 1.0 - self.K_c * math.exp(-self.rate * t)

    def _pq(self, t: float) -> tuple[float, float, float]:
        K = self.K(t)
        d = self.dim
        return K, ((d + 2) * K - d) / (2 * K), (1 - K) / (2 * K * K)

    def density(self, v: torch.Tensor, t: float) -> torch.Tensor:
        """f(v, t) = (2 pi K)^(-d/2) exp(-|v|^2/2K)(P + Q|v|^2)."""
        K, P, Q = self._pq(t)
        r2 = (v * v).sum(-1)
        return (2 * math.pi * K) ** (-self.dim / 2) * torch.exp(-r2 / (2 * K)) * (P + Q * r2)

    def score(self, v: torch.Tensor, t: float) -> torch.Tensor:
        """grad log f = -v/K + 2 Q v / (P + Q |v|^2)."""
        K, P, Q = self._pq(t)
        r2 = (v * v).sum(-1, keepdim=True)
        return -v / K + 2 * Q * v / (P + Q * r2)

    def initial_density(self, v):
        return self.density(v, self.t0)

    def initial_score(self, v):
        return self.score(v, self.t0)

    def initial_mean(self):
        return torch.zeros(self.dim, dtype=torch.float64)

    def initial_covariance(self):
        return torch.eye(self.dim, dtype=torch.float64)

    def central_moment4(self, t: float) -> float:
        """E|v|^4 = P d(d+2) K^2 + Q d K * K^2 (d+2)(d+4) (chi^2 moments of the two components)."""
        K, P, Q = self._pq(t)
        d = self.dim
        return P * d * (d + 2) * K**2 + Q * d * K * K**2 * (d + 2) * (d + 4)

    def initial_central_moment4(self) -> float:
        """E|v|^4 at t0."""
        return self.central_moment4(self.t0)

    def _sample_t(self, t: float, n: int, gen: torch.Generator) -> torch.Tensor:
        K, P, Q = self._pq(t)
        d = self.dim
        u = torch.rand(n, generator=gen, dtype=torch.float64)
        biased = u >= P  # component weights P and Q d K = 1 - P
        # |v|^2/K ~ chi^2_d for the Gaussian component, chi^2_{d+2} for the size-biased one:
        # chi^2_k = 2 Gamma(k/2); sample Gamma by summing exponentials / a Gaussian square.
        g = torch.randn(n, d + 2, generator=gen, dtype=torch.float64)
        chi_d = (g[:, :d] ** 2).sum(1)
        chi_d2 = chi_d + (g[:, d:] ** 2).sum(1)
        r2 = K * torch.where(biased, chi_d2, chi_d)
        return uniform_directions(n, d, gen) * r2.sqrt()[:, None]

    def _sample0(self, n, gen):
        return self._sample_t(self.t0, n, gen)

    def sample_at(self, t: float, n: int, seed: int) -> torch.Tensor:
        """Exact i.i.d. samples of f(., t) from the Gaussian / size-biased-Gaussian mixture."""
        if not isinstance(n, int) or n <= 0:
            raise ValueError(f"n must be a positive int, got {n!r}")
        return self._sample_t(t, n, make_generator(seed))

    def mean_field_drift(self, v: torch.Tensor, t: float) -> torch.Tensor:
        """Exact U[f_t](v) by the Maxwell closure with mean 0, covariance I (problems.equation.maxwell)."""
        return maxwell_mean_field_drift(
            v, self.score(v, t), self.initial_mean(), self.initial_covariance(), self.C)


def bkw2d() -> BKW:
    """2D BKW, C = 1/16 so that K = 1 - exp(-t/8)/2 solves the PDE; snapshots t = 1, 2.5, 5.

    f(v, 0) = |v|^2 exp(-|v|^2)/pi (K = 1/2, P = 0); its score 2v/|v|^2 - 2v is singular at 0.
    """
    return BKW(name="bkw2d", dim=2, gamma=0.0, C=1 / 16, t0=0.0, snapshot_times=(1.0, 2.5, 5.0),
               kde_bandwidth=0.15, paper_n=22_500, grid_box=((-2.5, 2.5),) * 2, grid_points=100,
               K_c=0.5)


def bkw3d() -> BKW:
    """3D BKW, C = 1/24 so that K = 1 - exp(-t/6) solves the PDE; starts at t0 = 5.5.

    f is a density only for K >= 3/5, i.e. t >= 6 ln 2.5 = 5.498. The evaluation grid is 30^3 on
    [-3, 3]^3 (the paper gives no box; this one holds 99.2% of the mass of N(0, I)).
    """
    return BKW(name="bkw3d", dim=3, gamma=0.0, C=1 / 24, t0=5.5, snapshot_times=(5.5, 5.75, 6.0),
               kde_bandwidth=0.15, paper_n=64_000, grid_box=((-3.0, 3.0),) * 3, grid_points=30,
               K_c=1.0)
