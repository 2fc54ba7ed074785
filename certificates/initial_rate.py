"""Exact initial rate of the second-moment matrix from f0 alone, and the same rate read off references and runs.

For the Landau equation with A(z) = C |z|^gamma (|z|^2 I - z z^T), any f and z = v - w (v, w ~ f independent),

    dM/dt = 2C E[|z|^(gamma+2)] I - 2dC E[|z|^gamma z z^T],     M = E[v v^T],

from d/dt E[phi] = E[A(V - W) : Hess phi(V) + 2 div A(V - W) . grad phi(V)] with phi = v_i v_j, div A(z) =
-(d - 1) C |z|^gamma z, and the swap (V, W) -> (W, V) that turns E[|z|^gamma z_i V_j] into E[|z|^gamma z_i z_j] / 2.
Its trace is 0 (energy kept) and the mean is conserved, so dM/dt is also the covariance rate dSigma/dt. Gamma = 0
gives 4C (tr Sigma I - d Sigma) (E|z|^2 = 2 tr Sigma, E[z z^T] = 2 Sigma), the Maxwell closure's rate at t0.

Computation. With g the density of z (the autocorrelation of f0) and z = r omega,
    dM/dt = 2C int_{S^(d-1)} (I - d omega omega^T) int_0^inf r^(gamma+d+1) g(r omega) dr d omega:
the polar Jacobian r^(d-1) absorbs the singularity, so the radial integrand is r^p times a smooth g, p = gamma + d + 1
> -1 (gamma = -3: p = 0 in 2D, p = 1 in 3D, both integrable and smooth; the integrand |z|^-1 of Cartesian
coordinates is integrable in 2D as in 3D). For a mixture of Gaussians sum_k w_k N(mu_k, S_k), g is the mixture
sum_kl w_k w_l N(mu_k - mu_l, S_k + S_l); along a direction its density is exp(-a r^2/2 + b r - q/2) times a
constant, integrated by Gauss-Jacobi (weight r^p) on [0, R(omega)], R past the bump by 12 of its widths; the angle by
the trapezoidal rule (2D, periodic) or Gauss-Legendre in cos(theta) x trapezoidal in phi (3D). Both converge
exponentially for these analytic integrands. Isotropic f0 (BKW, the ring, the truncated Gaussian) gives dM/dt = 0
exactly (the rate commutes with every rotation and has trace 0); its scale 2C E|z|^(gamma+2) is computed by a radial
pair quadrature (3D) or in closed form (gamma = 0).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from scipy import special

from problems.cases.base import Problem
from problems.cases.bkw import BKW
from problems.cases.mixtures import IsotropicMixture, ProductMixture
from problems.cases.radial import Ring, Truncated

#: default quadrature sizes per dimension: Gauss-Jacobi nodes in r, trapezoidal nodes in the angle (2D: theta; 3D:
#: phi, and half as many Gauss-Legendre nodes in cos theta). Against (256, 384): anisotropic2d 2e-14, gaussian_mixture3d
#: 6e-13 relative (its sd-0.2 components need the angular nodes: 128 in phi leaves 2.3e-9)
N_RADIUS = {2: 96, 3: 64}
N_ANGLE = {2: 128, 3: 192}
#: the radial interval ends this many widths 1/sqrt(a) past the bump's peak (exp(-12^2/2) = 5e-32)
TAIL_WIDTHS = 12.0


@dataclass(frozen=True)
class InitialRate:
    """rate: dM/dt(t0), (d, d) float64 (= dSigma/dt); scale: 2C E|z|^(gamma+2), the size of the identity's first
    term (Frobenius norm scale * sqrt(d)), the natural unit where rate = 0; method: how it was computed."""

    rate: torch.Tensor
    scale: float
    method: str


def sphere_rule(d: int, n_angle: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Quadrature on the unit sphere S^(d-1): (directions (m, d), weights (m,) summing to |S^(d-1)|).

    d = 2: theta_k = 2 pi k / n, weights 2 pi / n (m = n). d = 3: Gauss-Legendre in cos theta (n / 2 nodes) times the
    trapezoidal rule in phi (n nodes), m = n^2 / 2."""
    n_angle = n_angle or N_ANGLE[d] if d in N_ANGLE else n_angle
    if d == 2:
        th = 2 * math.pi * np.arange(n_angle) / n_angle
        return np.stack([np.cos(th), np.sin(th)], 1), np.full(n_angle, 2 * math.pi / n_angle)
    if d == 3:
        mu, wmu = np.polynomial.legendre.leggauss(max(n_angle // 2, 2))
        ph = 2 * math.pi * np.arange(n_angle) / n_angle
        s = np.sqrt(1 - mu * mu)
        dirs = np.stack([s[:, None] * np.cos(ph)[None], s[:, None] * np.sin(ph)[None],
                         np.broadcast_to(mu[:, None], (mu.size, n_angle))], -1).reshape(-1, 3)
        return dirs, (wmu[:, None] * np.full(n_angle, 2 * math.pi / n_angle)[None]).reshape(-1)
    raise ValueError(f"dimension {d} is not supported (2 or 3)")


def gaussian_pair_moments(mean: np.ndarray, cov: np.ndarray, gamma: float, n_radius: int | None = None,
                          n_angle: int | None = None) -> tuple[float, np.ndarray]:
    """(E|z|^(gamma+2), E[|z|^gamma z z^T]) for z ~ N(mean, cov): mean (d,), cov (d, d) -> (float, (d, d)).

    Polar quadrature: E[h(z)] = int_S int_0^inf r^(d-1) h(r omega) phi(r omega) dr d omega with h homogeneous of
    degree gamma + 2, so the radial factor is r^p, p = gamma + d + 1 (> -1 needed), integrated by Gauss-Jacobi."""
    mean, cov = np.asarray(mean, dtype=np.float64), np.asarray(cov, dtype=np.float64)
    d = mean.size
    n_radius, n_angle = n_radius or N_RADIUS[d], n_angle or N_ANGLE[d]
    p = gamma + d + 1
    if p <= -1:
        raise ValueError(f"gamma = {gamma}: E|z|^(gamma+2) diverges in {d}D (needs gamma > {-d - 2})")
    prec = np.linalg.inv(cov)
    dirs, wdir = sphere_rule(d, n_angle)
    a = np.einsum("mi,ij,mj->m", dirs, prec, dirs)  # (m,)
    b = dirs @ (prec @ mean)
    q = float(mean @ prec @ mean)
    peak = np.maximum(b / a, 0.0)
    R = peak + TAIL_WIDTHS / np.sqrt(a)  # (m,)
    x, wx = special.roots_jacobi(n_radius, 0.0, p)  # weight (1 + x)^p on [-1, 1]
    r = R[:, None] * (1 + x[None]) / 2  # (m, n)
    # log of the Gaussian along the ray, shifted by its maximum over [0, inf) (no overflow for any mean)
    shift = np.where(b > 0, b * b / (2 * a), 0.0)
    expo = np.exp(-0.5 * a[:, None] * r * r + b[:, None] * r - shift[:, None])
    radial = (R / 2) ** (p + 1) * (expo @ wx) * np.exp(shift - q / 2)  # int_0^inf r^p phi(r omega) dr / norm
    norm = (2 * math.pi) ** (-d / 2) / math.sqrt(np.linalg.det(cov))
    per_dir = norm * wdir * radial  # (m,)
    first = float(per_dir.sum())
    second = np.einsum("m,mi,mj->ij", per_dir, dirs, dirs)
    return first, second


def gaussian_components(problem: Problem) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """f0 as sum_k w_k N(mu_k, S_k): (w (K,), mu (K, d), S (K, d, d)) for the mixture problems, else None."""
    if isinstance(problem, IsotropicMixture):
        u = np.asarray(problem.centers, dtype=np.float64)
        return (np.asarray(problem.weights, dtype=np.float64), u,
                np.broadcast_to(np.eye(problem.dim), (len(u), problem.dim, problem.dim)).copy())
    if isinstance(problem, ProductMixture):
        w, mu, var = np.ones(1), np.zeros((1, 0)), np.zeros((1, 0))
        for axis in problem.components:
            c = np.asarray(axis, dtype=np.float64)  # (K_a, 3): weight, mean, sd
            w = (w[:, None] * c[None, :, 0]).reshape(-1)
            mu = np.concatenate([np.repeat(mu, len(c), 0), np.tile(c[:, 1:2], (len(mu), 1))], 1)
            var = np.concatenate([np.repeat(var, len(c), 0), np.tile(c[:, 2:3] ** 2, (len(var), 1))], 1)
        return w, mu, np.stack([np.diag(v) for v in var])
    return None


def mixture_rate(weights: np.ndarray, means: np.ndarray, covs: np.ndarray, gamma: float, C: float,
                 n_radius: int | None = None, n_angle: int | None = None) -> InitialRate:
    """dM/dt(t0) = 2C E|z|^(gamma+2) I - 2dC E[|z|^gamma z z^T] for f0 = sum_k w_k N(mu_k, S_k)
    (weights (K,), means (K, d), covs (K, d, d)): z ~ sum_kl w_k w_l N(mu_k - mu_l, S_k + S_l), pair (k, l) and
    (l, k) taken once with weight 2 w_k w_l (h is even in z)."""
    K, d = means.shape
    first, second = 0.0, np.zeros((d, d))
    for k in range(K):
        for m in range(k, K):
            w = weights[k] * weights[m] * (1 if k == m else 2)
            e1, e2 = gaussian_pair_moments(means[k] - means[m], covs[k] + covs[m], gamma, n_radius, n_angle)
            first += w * e1
            second += w * e2
    rate = 2 * C * first * np.eye(d) - 2 * d * C * second
    return InitialRate(torch.from_numpy(rate), 2 * C * first, "gaussian-mixture polar quadrature")


def radial_pair_moment(density, p: float, r_max: float, n: int = 200) -> float:
    """E|v - w|^p for v, w i.i.d. with the isotropic 3D density f(|v|) (density: r (n,) -> f (n,), numpy):
    int int rho(r) rho(s) [(r + s)^(p+2) - |r - s|^(p+2)] / (2 r s (p + 2)) dr ds, rho = 4 pi r^2 f, the angular
    average of |r omega - s omega'|^p in closed form; Gauss-Legendre in r on [0, r_max] and in s on [0, r] and
    [r, r_max] (the kink at s = r)."""
    x, wx = np.polynomial.legendre.leggauss(n)
    r = r_max * (1 + x) / 2
    wr = wx * r_max / 2
    rho = lambda t: 4 * math.pi * t * t * density(t)
    s_lo, w_lo = r[:, None] * (1 + x[None]) / 2, wx[None] * r[:, None] / 2  # s in [0, r]
    s_hi = r[:, None] + (r_max - r[:, None]) * (1 + x[None]) / 2
    w_hi = wx[None] * (r_max - r[:, None]) / 2
    total = 0.0
    for s, ws in ((s_lo, w_lo), (s_hi, w_hi)):
        avg = ((r[:, None] + s) ** (p + 2) - np.abs(r[:, None] - s) ** (p + 2)) / (2 * r[:, None] * s * (p + 2))
        total += float((wr[:, None] * rho(r)[:, None] * ws * rho(s) * avg).sum())
    return total


def initial_rate(problem: Problem, n_radius: int | None = None, n_angle: int | None = None) -> InitialRate:
    """The exact dSigma/dt(t0) = dM/dt(t0) of `problem` ((d, d) float64) and its scale 2C E|z|^(gamma+2).

    Mixtures of Gaussians (anisotropic2d, gaussian_mixture3d): `mixture_rate`, any gamma. Isotropic f0 (BKW, the
    ring, the truncated Gaussian): 0 exactly; scale 4C tr Sigma0 for gamma = 0, `radial_pair_moment` for the 3D ring.
    Any other problem with gamma = 0 that states its covariance: 4C (tr Sigma0 I - d Sigma0).
    Else NotImplementedError."""
    d, gamma, C = problem.dim, problem.gamma, problem.C
    comps = gaussian_components(problem)
    if comps is not None:
        return mixture_rate(*comps, gamma, C, n_radius, n_angle)
    zero = torch.zeros(d, d, dtype=torch.float64)
    if gamma == 0 and problem.states_moments:
        cov = problem.initial_covariance().to(torch.float64)
        tr = float(torch.trace(cov))
        if isinstance(problem, (BKW, Ring, Truncated)):
            return InitialRate(zero, 4 * C * tr, "isotropic: 0 by symmetry; scale 4C tr Sigma")
        return InitialRate(4 * C * (tr * torch.eye(d, dtype=torch.float64) - d * cov), 4 * C * tr,
                           "gamma = 0 closed form 4C (tr Sigma I - d Sigma)")
    if isinstance(problem, Ring) and d == 3:
        def dens(r):
            v = torch.zeros(r.size, 3, dtype=torch.float64)
            v[:, 0] = torch.from_numpy(r.reshape(-1))
            return problem.initial_density(v).numpy().reshape(r.shape)
        r_max = problem.sigma * (1 + 12 / math.sqrt(problem.S))  # exp(-144) beyond
        e1 = radial_pair_moment(dens, gamma + 2, r_max)
        return InitialRate(zero, 2 * C * e1, "isotropic: 0 by symmetry; scale by radial pair quadrature")
    raise NotImplementedError(f"{problem.name}: no exact initial rate for this initial density (a Gaussian mixture, "
                              f"an isotropic density or gamma = 0 is needed)")


def rate_error(estimate: torch.Tensor, exact: InitialRate) -> float:
    """||estimate - rate||_F / ||rate||_F, or / (scale sqrt(d)) where the exact rate is 0 (isotropic f0):
    estimate (d, d)."""
    est = torch.as_tensor(estimate, dtype=torch.float64)
    d = est.shape[0]
    denom = float(exact.rate.norm())
    if denom <= 1e-12 * exact.scale * math.sqrt(d):
        denom = exact.scale * math.sqrt(d)
    return float((est - exact.rate).norm()) / denom
