"""Radially symmetric initial data: rosenbluth3d (a ring) and truncated2d (a holed Gaussian).

Both sample |v| exactly (rejection with a proven bound, or inversion) and a uniform direction.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from scipy import integrate

from problems.cases.base import MollifiedStart, Problem, uniform_directions


def _radial_moment(fn, k: int) -> float:
    """int_0^inf r^k fn(r) dr by adaptive quadrature (float64)."""
    val, _ = integrate.quad(lambda r: r**k * fn(r), 0.0, math.inf, limit=200, epsabs=0, epsrel=1e-13)
    return val


#: the radial grid of the mollified start's CDF (truncated2d): step 2e-4 on [0, 40] (the Exp(1) sampler's radii stay
#: below sqrt(eta^2 + 2 * 746) < 40 in float64)
_RADIAL_GRID = (0.0, 40.0, 200_001)


def _radial_rearrangement(eta: float, eps: float):
    """The monotone radial map T(v) = v G^{-1}(F(|v|)) / |v| sending the truncated Gaussian f0 (radial CDF
    F(r) = 1 - exp(-(r^2 - eta^2) / 2), r > eta) to its mollification f0_eps (radial density proportional to
    r exp(-r^2 / 2) sigmoid((r - eta) / eps), CDF G tabulated by the trapezoid rule on _RADIAL_GRID and inverted by
    linear interpolation); v (N, d) float64 -> (N, d)."""
    import numpy as np
    r = np.linspace(*_RADIAL_GRID)
    dens = r * np.exp(-r * r / 2) / (1 + np.exp(-(r - eta) / eps))
    cdf = np.concatenate([[0.0], np.cumsum(0.5 * np.diff(r) * (dens[1:] + dens[:-1]))])
    cdf /= cdf[-1]

    def from_f0(v):
        rad = v.norm(dim=-1)
        u = -torch.expm1(-(rad * rad - eta * eta).clamp_min(0) / 2)
        target = torch.from_numpy(np.interp(u.detach().cpu().numpy(), cdf, r)).to(v)
        return v * (target / rad.clamp_min(1e-300)).unsqueeze(-1)

    return from_f0


@dataclass(frozen=True)
class Ring(Problem):
    """Rosenbluth ring f0(v) = exp(-S (|v| - sigma)^2 / sigma^2) / Z in 3D (paper eq. 5.1).

    The paper's prefactor 1/S^2 does not normalise f0; Z = 4 pi int r^2 exp(-S(r - sigma)^2/sigma^2) dr
    is computed by quadrature. Score: -2 S (|v| - sigma) / sigma^2 * v / |v|.

    Exact sampler for r = |v| (density proportional to r^2 exp(-a (r - sigma)^2), a = S/sigma^2):
    propose r ~ N(m, 1/(2a)) with m = sigma (1 + 1/S); the ratio target/proposal is proportional to
    h(r) = r^2 exp(-b r), b = 2a(m - sigma) = 2/sigma, whose maximum over r > 0 is
    h(sigma) = sigma^2 e^-2; accept with probability h(r)/h(sigma) (r <= 0 rejected).
    """

    sigma: float = 2.0
    S: float = 12.0

    def _profile(self, r):
        return math.exp(-self.S * (r - self.sigma) ** 2 / self.sigma**2)

    def _norm(self) -> float:
        return 4 * math.pi * _radial_moment(self._profile, 2)

    def initial_density(self, v):
        r = v.norm(dim=-1)
        return torch.exp(-self.S * (r - self.sigma) ** 2 / self.sigma**2) / self._norm()

    def initial_score(self, v):
        r = v.norm(dim=-1, keepdim=True).clamp_min(1e-300)
        return -2 * self.S * (r - self.sigma) / self.sigma**2 * v / r

    def initial_mean(self):
        return torch.zeros(self.dim, dtype=torch.float64)

    def initial_covariance(self):
        er2 = _radial_moment(self._profile, 4) / _radial_moment(self._profile, 2)
        return er2 / self.dim * torch.eye(self.dim, dtype=torch.float64)

    def _sample_radius(self, n, gen):
        a = self.S / self.sigma**2
        m = self.sigma * (1 + 1 / self.S)
        b = 2 / self.sigma
        hmax = self.sigma**2 * math.exp(-2.0)
        out = []
        have = 0
        while have < n:
            k = int(1.3 * (n - have)) + 16
            r = m + torch.randn(k, generator=gen, dtype=torch.float64) / math.sqrt(2 * a)
            u = torch.rand(k, generator=gen, dtype=torch.float64)
            acc = (r > 0) & (u * hmax <= r**2 * torch.exp(-b * r))
            out.append(r[acc])
            have += int(acc.sum())
        return torch.cat(out)[:n]

    def _sample0(self, n, gen):
        if self.dim != 3:
            raise ValueError(f"{self.name}: the ring sampler's bound is derived for d = 3, got {self.dim}")
        r = self._sample_radius(n, gen)
        return uniform_directions(n, self.dim, gen) * r[:, None]


@dataclass(frozen=True)
class Truncated(Problem):
    """Radially truncated Gaussian f0 = phi_2(v) exp(eta^2/2) 1{|v| > eta} (paper App. B.3).

    Exact sampler: |v|^2/2 ~ Exp(1) given |v| > eta is eta^2/2 + Exp(1) (memorylessness).
    Score -v on the support (|v| > eta), also returned inside the hole where f0 = 0.
    Mean 0, covariance (eta^2 + 2)/2 I (E|v|^2 = eta^2 + 2).
    """

    eta: float = 1.0

    def initial_density(self, v):
        r2 = (v * v).sum(-1)
        g = torch.exp(-r2 / 2 + self.eta**2 / 2) / (2 * math.pi)
        return torch.where(r2 > self.eta**2, g, torch.zeros_like(g))

    def initial_score(self, v):
        return -v

    def mollified_start(self, eps: float) -> MollifiedStart:
        """f0_eps(v) = exp(-|v|^2 / 2) sigmoid((|v| - eta) / eps) / Z_eps: the jump at |v| = eta smeared over a
        width eps (f0_eps -> f0 as eps -> 0; it puts mass exp(-eta/eps)-small inside the hole). Score in closed
        form, grad log f0_eps = -v + (1 - sigmoid((r - eta)/eps)) / eps * v / r; Z_eps = 2 pi int r exp(-r^2/2)
        sigmoid((r - eta)/eps) dr by quadrature. ValueError for eps <= 0."""
        if not eps > 0:
            raise ValueError(f"{self.name}: the mollification width eps must be > 0, got {eps!r}")
        if self.dim != 2:
            raise ValueError(f"{self.name}: the mollified start is written for d = 2, got {self.dim}")
        eta = self.eta
        z = 2 * math.pi * _radial_moment(lambda r: math.exp(-r * r / 2) / (1 + math.exp(-(r - eta) / eps)), 1)
        log_z = math.log(z)

        def log_density(v):
            r = v.norm(dim=-1)
            return -(v * v).sum(-1) / 2 + torch.nn.functional.logsigmoid((r - eta) / eps) - log_z

        def score(v):
            r = v.norm(dim=-1, keepdim=True).clamp_min(1e-300)
            return -v + torch.sigmoid(-(r - eta) / eps) / eps * v / r

        return MollifiedStart(eps, log_density, score, _radial_rearrangement(eta, eps))

    def initial_mean(self):
        return torch.zeros(self.dim, dtype=torch.float64)

    def initial_covariance(self):
        return (self.eta**2 + 2) / 2 * torch.eye(self.dim, dtype=torch.float64)

    def initial_central_moment4(self) -> float:
        """E|v|^4 = E(eta^2 + 2E)^2 = eta^4 + 4 eta^2 + 8 with E ~ Exp(1)."""
        return self.eta**4 + 4 * self.eta**2 + 8

    def _sample0(self, n, gen):
        if self.dim != 2:
            raise ValueError(f"{self.name}: the truncated sampler is for d = 2, got {self.dim}")
        e = -torch.log1p(-torch.rand(n, generator=gen, dtype=torch.float64))  # Exp(1)
        r = torch.sqrt(self.eta**2 + 2 * e)
        return uniform_directions(n, self.dim, gen) * r[:, None]


def rosenbluth3d() -> Ring:
    """Rosenbluth ring, sigma = 2, S = 12, Coulomb (gamma = -3), C = 1/24, snapshots 5, 10, 20.

    C = 1/24 is the BKW-3D constant (the paper's Table 1 says 1), so 3D time scales match.
    KDE bandwidth 0.3; grid 30^3 on [-4, 4]^3 (figures only: no exact f_t).
    """
    return Ring(name="rosenbluth3d", dim=3, gamma=-3.0, C=1 / 24, t0=0.0, snapshot_times=(5.0, 10.0, 20.0),
                kde_bandwidth=0.3, paper_n=27_000, grid_box=((-4.0, 4.0),) * 3, grid_points=30, pinn_group="C",
                sigma=2.0, S=12.0)


def truncated2d() -> Truncated:
    """Truncated Gaussian with eta = 1, Maxwell (gamma = 0), C = 1/16, snapshots 1, 2.5, 5.

    Its covariance is isotropic, so the Maxwell closure's informative reference is the fourth
    moment. KDE bandwidth 0.3; grid 100^2 on [-4, 4]^2.
    """
    return Truncated(name="truncated2d", dim=2, gamma=0.0, C=1 / 16, t0=0.0, snapshot_times=(1.0, 2.5, 5.0),
                     kde_bandwidth=0.3, paper_n=14_400, grid_box=((-4.0, 4.0),) * 2, grid_points=100, eta=1.0,
                     pinn_group="D", core_radius=0.9)  # inside the hole |v| < eta = 1 of f0
