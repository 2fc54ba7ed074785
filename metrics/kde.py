"""Gaussian KDE on the problem's tensor-product grid, its relative L2 error and its two floors.

The Gaussian kernel factorises over coordinates, exp(-|g - x|^2/2h^2) = prod_a exp(-(g_a - x_a)^2/2h^2),
so the KDE on a tensor grid is a matrix product: 2D: E1 E2^T, 3D: (E1 * E2) E3^T with
E_a[i, p] = exp(-(g_ai - x_pa)^2 / 2h^2). This is exact (no binning, no FFT): the only error
is float64 round-off. Particles are processed in chunks so memory stays bounded.

Floors (the measuring stick's own error, reported beside every KDE number):
* `kde_l2_bias_floor`: ||K_h * f - f|| / ||f||, exact density, infinitely many particles.
  K_h * f(x) = E_Z f(x + h Z) is evaluated by tensor Gauss-Hermite quadrature (`GH_NODES` a
  dimension; exact for polynomial-times-Gaussian f such as BKW up to round-off).
* `kde_l2_mc_floor`: the KDE error of n exact i.i.d. samples at the same n and bandwidth.
"""
from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
import torch

from problems import Problem

from infra import seeds
from problems.references.grid_density import kde_on_axes  # noqa: F401  (re-exported: metrics.kde_on_axes)

GH_NODES = 10
#: Gauss-Hermite nodes a dimension for a problem judged against an interpolated reference (problems.references.base):
#: its density is itself accurate to ~1e-2, and 6^3 nodes cost a fifth of 10^3 in 3D
GH_NODES_REFERENCE = 6


def relative_l2(approx: torch.Tensor, exact: torch.Tensor) -> float:
    """||approx - exact||_2 / ||exact||_2 on the grid (the cell volume cancels)."""
    return float((approx - exact).norm() / exact.norm())


def exact_on_grid(problem: Problem, t: float) -> torch.Tensor:
    """The exact density f(., t) on the problem's evaluation grid, shaped like the KDE."""
    pts, axes = problem.eval_grid()
    return problem.density(pts, t).reshape([len(a) for a in axes])


def kde_l2(particles: torch.Tensor, problem: Problem, t: float, bandwidth: float | None = None) -> float:
    """Relative L2 error of the KDE of `particles` against the exact f(., t) on the problem grid."""
    h = problem.kde_bandwidth if bandwidth is None else bandwidth
    _, axes = problem.eval_grid()
    return relative_l2(kde_on_axes(particles, axes, h), exact_on_grid(problem, t))


def smoothed_density(problem: Problem, points: torch.Tensor, t: float, h: float) -> torch.Tensor:
    """(K_h * f)(x) = E_{Z ~ N(0, I)} f(x + h Z) by tensor Gauss-Hermite quadrature."""
    from problems import ReferencedProblem
    nodes = GH_NODES_REFERENCE if isinstance(problem, ReferencedProblem) else GH_NODES
    z1, w1 = np.polynomial.hermite_e.hermegauss(nodes)  # weight exp(-z^2/2)
    w1 = w1 / math.sqrt(2 * math.pi)
    d = points.shape[1]
    zs = torch.from_numpy(np.stack(np.meshgrid(*([z1] * d), indexing="ij"), -1).reshape(-1, d))
    ws = torch.from_numpy(np.prod(np.stack(np.meshgrid(*([w1] * d), indexing="ij"), -1).reshape(-1, d), axis=1))
    out = torch.empty(points.shape[0], dtype=torch.float64)
    step = max(1, 2_000_000 // zs.shape[0])
    for start in range(0, points.shape[0], step):
        p = points[start:start + step]
        vals = problem.density((p[:, None, :] + h * zs[None]).reshape(-1, d), t).reshape(p.shape[0], -1)
        out[start:start + step] = vals @ ws
    return out


@lru_cache(maxsize=32)
def smoothed_on_grid(problem: Problem, t: float, h: float) -> torch.Tensor:
    """(K_h * f)(., t) at the problem's evaluation grid points, flat (G,): computed once per (problem, t, h)
    in a process (the bias floor and Theorem 6's bias term both need it). Callers must not modify it."""
    pts, _ = problem.eval_grid()
    return smoothed_density(problem, pts, t, h)


def kde_l2_bias_floor(problem: Problem, t: float, bandwidth: float | None = None) -> float:
    """||K_h * f - f|| / ||f|| on the problem grid: the KDE error with infinitely many exact samples."""
    h = problem.kde_bandwidth if bandwidth is None else bandwidth
    _, axes = problem.eval_grid()
    shape = [len(a) for a in axes]
    return relative_l2(smoothed_on_grid(problem, t, h).reshape(shape), exact_on_grid(problem, t))


def kde_l2_mc_floor(problem: Problem, t: float, n: int, seed: int = 0, bandwidth: float | None = None) -> float:
    """KDE relative L2 error of n exact i.i.d. samples of f(., t) (same n and bandwidth as a solver)."""
    return kde_l2(problem.sample_at(t, n, seed=seeds.KDE_FLOOR.seed(seed)), problem, t, bandwidth)


def kde_l2_null_draw(problem: Problem, t: float, n: int, m: int, seed: int = 0,
                     bandwidth: float | None = None) -> float:
    """One draw of the KDE relative L2 error of n exact samples, computed from m <= n of them (m = n: exactly
    kde_l2_mc_floor). The KDE of n i.i.d. samples is K_h * f plus a mean of n i.i.d. zero-mean kernel vectors, so
    K_h * f + sqrt(m / n) (KDE_m - K_h * f) has the same mean and covariance as KDE_n (and is Gaussian to the same
    order): the error ||K_h * f + sqrt(m/n) (KDE_m - K_h * f) - f|| / ||f|| on the problem grid, K_h * f by
    Gauss-Hermite quadrature (`smoothed_on_grid`, as the bias floor). Costs a KDE of m points instead of n."""
    if m >= n:
        return kde_l2_mc_floor(problem, t, n, seed, bandwidth)
    h = problem.kde_bandwidth if bandwidth is None else bandwidth
    _, axes = problem.eval_grid()
    sample = problem.sample_at(t, m, seed=seeds.KDE_FLOOR.seed(seed))
    kde_m = kde_on_axes(sample, axes, h).reshape(-1).to(torch.float64)
    smooth = smoothed_on_grid(problem, t, h).to(torch.float64)
    exact = exact_on_grid(problem, t).reshape(-1).to(torch.float64)
    return relative_l2(smooth + math.sqrt(m / n) * (kde_m - smooth), exact)
