"""Gaussian-mixture initial data: anisotropic2d (paper App. B.3) and gaussian_mixture3d.

Both are mixtures of Gaussians, so their samplers (component index, then a Gaussian) and their
densities, scores, means and covariances at t0 are exact in closed form.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from problems.cases.base import Problem


def _component_posteriors(logits: torch.Tensor) -> torch.Tensor:
    """Softmax over the last axis: posterior probabilities of the mixture components."""
    return torch.softmax(logits, dim=-1)


@dataclass(frozen=True)
class IsotropicMixture(Problem):
    """f0 = sum_k w_k N(u_k, I): equal-covariance Gaussians at `centers` with `weights`.

    Score: grad log f0 = sum_k p_k(v) (u_k - v) with posteriors p_k(v) proportional to
    w_k exp(-|v - u_k|^2 / 2). Mean sum w_k u_k; covariance I + sum w_k (u_k - m)(u_k - m)^T.
    """

    centers: tuple[tuple[float, ...], ...] = ()
    weights: tuple[float, ...] = ()

    def _u(self):
        return torch.tensor(self.centers, dtype=torch.float64)

    def _w(self):
        return torch.tensor(self.weights, dtype=torch.float64)

    def _logits(self, v):
        u = self._u().to(v)
        diff = v[..., None, :] - u  # (..., K, d)
        return torch.log(self._w().to(v)) - 0.5 * (diff * diff).sum(-1)

    def initial_density(self, v):
        """f0(v) = (2 pi)^(-d/2) sum_k w_k exp(-|v - u_k|^2/2)."""
        return torch.exp(torch.logsumexp(self._logits(v), -1)) * (2 * math.pi) ** (-self.dim / 2)

    def initial_score(self, v):
        """sum_k p_k(v)(u_k - v)."""
        p = _component_posteriors(self._logits(v))
        return p @ self._u().to(v) - v

    def initial_mean(self):
        return self._w() @ self._u()

    def initial_covariance(self):
        u = self._u() - self.initial_mean()
        return torch.eye(self.dim, dtype=torch.float64) + (self._w()[:, None] * u).T @ u

    def _sample0(self, n, gen):
        k = torch.multinomial(self._w(), n, replacement=True, generator=gen)
        return self._u()[k] + torch.randn(n, self.dim, generator=gen, dtype=torch.float64)


@dataclass(frozen=True)
class ProductMixture(Problem):
    """f0(v) = prod_a f_a(v_a), each f_a a 1D mixture sum_k w_ak N(mu_ak, sd_ak^2).

    `components[a]` is a tuple of (weight, mean, sd) triples for axis a. With K_a components
    per axis this is a mixture of prod_a K_a Gaussians (8 for the paper's 3D example).
    """

    components: tuple[tuple[tuple[float, float, float], ...], ...] = ()

    def _axis(self, a, ref):
        c = torch.tensor(self.components[a], dtype=torch.float64).to(ref)
        return c[:, 0], c[:, 1], c[:, 2]

    def _axis_logits(self, x, a):
        w, mu, sd = self._axis(a, x)
        z = (x[..., None] - mu) / sd
        return torch.log(w) - 0.5 * z * z - torch.log(sd) - 0.5 * math.log(2 * math.pi)

    def initial_density(self, v):
        """prod_a sum_k w_ak N(v_a; mu_ak, sd_ak^2)."""
        logf = sum(torch.logsumexp(self._axis_logits(v[..., a], a), -1) for a in range(self.dim))
        return torch.exp(logf)

    def initial_score(self, v):
        """Per axis: sum_k p_ak(v_a) (mu_ak - v_a) / sd_ak^2."""
        cols = []
        for a in range(self.dim):
            x = v[..., a]
            w, mu, sd = self._axis(a, x)
            p = _component_posteriors(self._axis_logits(x, a))
            cols.append((p * (mu - x[..., None]) / sd**2).sum(-1))
        return torch.stack(cols, -1)

    def initial_mean(self):
        return torch.stack([(w * mu).sum() for w, mu, _ in
                            (self._axis(a, torch.zeros(1, dtype=torch.float64)) for a in range(self.dim))])

    def initial_covariance(self):
        var = []
        for a in range(self.dim):
            w, mu, sd = self._axis(a, torch.zeros(1, dtype=torch.float64))
            m = (w * mu).sum()
            var.append((w * (sd**2 + mu**2)).sum() - m**2)
        return torch.diag(torch.stack(var))

    def initial_central_moment4(self) -> float:
        """E|V - m|^4 = sum_a c4_a + sum_{a != b} var_a var_b, per axis
        c4_a = sum_k w_k (delta^4 + 6 delta^2 sd^2 + 3 sd^4), delta = mu_k - m_a."""
        c4, var = [], []
        for a in range(self.dim):
            w, mu, sd = self._axis(a, torch.zeros(1, dtype=torch.float64))
            delta = mu - (w * mu).sum()
            c4.append(float((w * (delta**4 + 6 * delta**2 * sd**2 + 3 * sd**4)).sum()))
            var.append(float((w * (delta**2 + sd**2)).sum()))
        return sum(c4) + sum(var) ** 2 - sum(x * x for x in var)

    def _sample0(self, n, gen):
        cols = []
        for a in range(self.dim):
            w, mu, sd = self._axis(a, torch.zeros(1, dtype=torch.float64))
            k = torch.multinomial(w, n, replacement=True, generator=gen)
            cols.append(mu[k] + sd[k] * torch.randn(n, generator=gen, dtype=torch.float64))
        return torch.stack(cols, 1)


def anisotropic2d() -> IsotropicMixture:
    """Bimodal 2D data f0 = (1/4pi)(exp(-|v-u1|^2/2) + exp(-|v-u2|^2/2)), u1 = (-2,1), u2 = (0,-1).

    Coulomb (gamma = -3) with C = 1/16 (the SBP reference code's constant; the paper's Table 1
    says C = 1), snapshots t = 10, 20, 40. Mean (-1, 0), covariance [[2, -1], [-1, 2]].
    KDE bandwidth 0.3; evaluation grid 100^2 on [-5, 3] x [-4, 4] (figures only: no exact f_t).
    """
    return IsotropicMixture(
        name="anisotropic2d", dim=2, gamma=-3.0, C=1 / 16, t0=0.0, snapshot_times=(10.0, 20.0, 40.0),
        kde_bandwidth=0.3, paper_n=14_400, grid_box=((-5.0, 3.0), (-4.0, 4.0)), grid_points=100,
        centers=((-2.0, 1.0), (0.0, -1.0)), weights=(0.5, 0.5))


def gaussian_mixture3d() -> ProductMixture:
    """Separable 3D mixture of paper App. B.3 (8 components), Maxwell (gamma = 0), C = 1/24.

    f_1 = 0.4 N(-2, 0.3^2) + 0.6 N(1, 0.8^2); f_2 = 0.7 N(-1, 0.5^2) + 0.3 N(2, 0.4^2);
    f_3 = 0.5 N(0, 0.2^2) + 0.5 N(3, 1.2^2). Snapshots t = 2.5, 15, 40. The covariance at any t
    is exact by the Maxwell closure (problems.equation.maxwell). KDE bandwidth 0.15; grid 30^3 on a box
    holding each marginal's mass to within 1e-3.
    """
    return ProductMixture(
        name="gaussian_mixture3d", dim=3, gamma=0.0, C=1 / 24, t0=0.0, snapshot_times=(2.5, 15.0, 40.0),
        kde_bandwidth=0.15, paper_n=64_000, grid_box=((-3.5, 4.0), (-3.0, 3.5), (-2.0, 7.5)), grid_points=30,
        # the narrowest component (sd 0.2) needs dt * C |v|^2 / sd^2 < ~1 for explicit Euler, i.e. dt <~ 0.024
        stiff_dt=0.02, pinn_group="B",
        components=(((0.4, -2.0, 0.3), (0.6, 1.0, 0.8)),
                    ((0.7, -1.0, 0.5), (0.3, 2.0, 0.4)),
                    ((0.5, 0.0, 0.2), (0.5, 3.0, 1.2))))
