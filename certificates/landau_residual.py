"""The Landau residual of a transported approximation: ||u - U[mu]||^2_{L2(mu)}, estimated without bias.

mu is the law of the particles x_1..x_N (i.i.d.), u_i the velocity that moves particle i, s_i mu's own score at x_i,
and U[mu] the Landau velocity of mu built with mu's score. With A(z) = C |z|^gamma (|z|^2 I - z z^T):

* gamma = 0 (by parts, valid for a density with jumps too):  U[mu](x) = E_y[K(x, y)],
  K(x, y) = -A(x - y) s(x) + (div A)(x - y),  (div A)(z) = -(d - 1) C |z|^gamma z;
* gamma != 0 (the symmetric form of paper eq. 2.7):  K(x, y) = -A(x - y) (s(x) - s(y)).
* `symmetric=True`, any gamma: the symmetric form, for a score s that is not mu's own (SBP's learned score: the
  by-parts form needs s = grad log mu; the symmetric one is the velocity a score model defines).

Per particle, with S_i = sum_{j != i} K_ij, Q_i = sum_{j != i} |K_ij|^2 and m = N - 1,

    r2_i = |u_i|^2 - 2 u_i . S_i / m + (|S_i|^2 - Q_i) / (m (m - 1))

has conditional mean |u_i - U[mu](x_i)|^2 (a U-statistic: no pair j = j' enters the square), so mean_i r2_i is an
unbiased estimate of ||u - U[mu]||^2_{L2(mu)} (it can be slightly negative where the residual is 0). The plain
plug-in |u_i - S_i/m|^2 would add the inner Monte Carlo variance, about 1/N of E|K|^2, to every residual.
S_i costs O(N d^2) for gamma = 0 (moments) and one particle-drift call otherwise; Q_i, which only removes the
inner Monte Carlo variance, is estimated from PAIRS partners per particle (unbiased; memory O(N PAIRS d)).
"""
from __future__ import annotations

import math

import numpy as np
import torch

from problems import drift

#: pairs per particle in the estimate of Q_i (fixed offsets j = i + 1 + floor(r (N - 1) / PAIRS) mod N)
PAIRS = 64
#: disjoint batches of the s.e. of the mean residual
BATCHES = 8


def pair_kernel(xi: torch.Tensor, si: torch.Tensor, xj: torch.Tensor, sj: torch.Tensor, gamma: float, C: float,
                symmetric: bool = False) -> torch.Tensor:
    """K(xi, xj) (..., d) of the module docstring (by parts for gamma = 0 unless `symmetric`, symmetric otherwise)
    for positions and scores xi, si, xj, sj broadcastable to (..., d); K = 0 where xi == xj."""
    z = xi - xj
    r2 = (z * z).sum(-1, keepdim=True)
    same = r2 == 0
    w = r2.clamp_min(1e-300) ** (gamma / 2) if gamma != 0 else torch.ones_like(r2)
    w = w.masked_fill(same, 0.0)
    if gamma == 0 and not symmetric:
        a_s = r2 * si - z * (z * si).sum(-1, keepdim=True)  # (|z|^2 I - z z^T) s(x)
        return C * w * (-a_s - (xi.shape[-1] - 1) * z)
    ds = si - sj
    return -C * w * (r2 * ds - z * (z * ds).sum(-1, keepdim=True))


def column_sums(x: torch.Tensor, s: torch.Tensor, gamma: float, C: float, symmetric: bool = False) -> torch.Tensor:
    """S (N, d), S_i = sum_{j != i} K(x_i, x_j), float64: for gamma = 0 (by parts) from the moments of x in
    O(N d^2) (sum_j |z|^2, sum_j z z^T and sum_j z with z = x_i - x_j expanded), otherwise (gamma != 0 or
    `symmetric`) N times the particle drift problems.drift (paper eq. 2.7: -(1/N) sum_j A(x_i - x_j)(s_i - s_j))."""
    x, s = x.detach().to(torch.float64), s.detach().to(torch.float64)
    n, d = x.shape
    if gamma != 0 or symmetric:
        return n * drift(x, s, gamma, C)
    x1, x2, m2 = x.sum(0), (x * x).sum(), x.T @ x
    sum_r2 = n * (x * x).sum(-1, keepdim=True) - 2 * x @ x1[:, None] + x2  # (N, 1)
    xs = (x * s).sum(-1, keepdim=True)
    zz_s = n * x * xs - x * (s @ x1)[:, None] - x1[None, :] * xs + s @ m2  # sum_j z z^T s_i (m2 symmetric)
    return C * (-(sum_r2 * s - zz_s) - (d - 1) * (n * x - x1[None, :]))


def pair_squares(x: torch.Tensor, s: torch.Tensor, gamma: float, C: float, pairs: int = PAIRS,
                 symmetric: bool = False) -> torch.Tensor:
    """Q_i (N,) float64, an unbiased estimate of sum_{j != i} |K(x_i, x_j)|^2 from `pairs` fixed partners
    j = i + 1 + floor(r (N - 1) / pairs) mod N, r = 0..pairs-1 (the particles are exchangeable, so any partner
    j != i chosen without looking at the values has the same law), scaled by (N - 1) / pairs; exact (every
    j != i) when pairs >= N - 1."""
    x, s = x.detach().to(torch.float64), s.detach().to(torch.float64)
    n = x.shape[0]
    k = min(pairs, n - 1)
    offsets = 1 + torch.div(torch.arange(k) * (n - 1), k, rounding_mode="floor")
    j = (torch.arange(n)[:, None] + offsets[None, :]) % n  # (N, k), never i
    kij = pair_kernel(x[:, None, :], s[:, None, :], x[j], s[j], gamma, C, symmetric)
    return (kij * kij).sum((1, 2)) * (n - 1) / k


def residual_terms(x: torch.Tensor, u: torch.Tensor, s: torch.Tensor, gamma: float, C: float, pairs: int = PAIRS,
                   symmetric: bool = False) -> torch.Tensor:
    """r2 (N,) float64: the per-particle unbiased estimates of |u_i - U[mu](x_i)|^2 (module docstring) for particles
    x (N, d), their velocities u (N, d) and mu's score s (N, d) at them, with S_i from column_sums and Q_i from
    pair_squares (`symmetric`: the kernel's symmetric form, module docstring); N >= 3."""
    n = x.shape[0]
    if n < 3:
        raise ValueError(f"the unbiased residual needs N >= 3 particles, got N = {n}")
    m = n - 1
    u = u.detach().to(torch.float64)
    ks, q = column_sums(x, s, gamma, C, symmetric), pair_squares(x, s, gamma, C, pairs, symmetric)
    return (u * u).sum(-1) - 2 * (u * ks).sum(-1) / m + ((ks * ks).sum(-1) - q) / (m * (m - 1))


def landau_velocity(x: torch.Tensor, s: torch.Tensor, gamma: float, C: float) -> torch.Tensor:
    """U[mu](x_i) (N, d) float64 estimated by (1/(N-1)) sum_{j != i} K_ij = column_sums / (N - 1)."""
    return column_sums(x, s, gamma, C) / (x.shape[0] - 1)


def residual_mean(x: torch.Tensor, u: torch.Tensor, s: torch.Tensor, gamma: float, C: float, batches: int = BATCHES,
                  symmetric: bool = False) -> tuple[float, float]:
    """(mean_i r2_i over all N particles, its Monte Carlo s.e.): the r2_i share their partners, so sd(r2)/sqrt(N)
    under-states the error; the s.e. is sd/sqrt(B) of the B = `batches` estimates made within disjoint batches of
    N/B particles (each unbiased, each noisier than the full estimate: a conservative s.e.)."""
    full = float(residual_terms(x, u, s, gamma, C, symmetric=symmetric).mean())
    parts = [float(residual_terms(xb, ub, sb, gamma, C, symmetric=symmetric).mean())
             for xb, ub, sb in zip(x.chunk(batches), u.chunk(batches), s.chunk(batches))]
    return full, float(np.std(parts, ddof=1) / math.sqrt(len(parts)))


def residual_norm(x: torch.Tensor, u: torch.Tensor, s: torch.Tensor, gamma: float, C: float, symmetric: bool = False
                  ) -> tuple[float, float]:
    """(||u - U[mu]||_{L2(mu)}, its Monte Carlo s.e.) from residual_mean: the root of max(mean r2, 0), and the s.e. of
    the mean carried through the root (se / (2 root), at most sqrt(se) where the root is small)."""
    mean, se = residual_mean(x, u, s, gamma, C, symmetric=symmetric)
    root = math.sqrt(max(mean, 0.0))
    return root, min(se / (2 * root), math.sqrt(se)) if root > 0 else math.sqrt(se)
