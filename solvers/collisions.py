"""Binary grazing collisions for the homogeneous Landau equation: the pair's angular law and one step.

The pair process. With A(z) = C |z|^gamma (|z|^2 I - z z^T) the Landau equation's weak form is
    d/dt E[phi(V)] = E_{V,W ~ f x f}[ A(V - W) : Hess phi(V) + 2 (div A)(V - W) . grad phi(V) ],
div A(z) = -(d - 1) C |z|^gamma z. For N particles with the mean-field sum (1/N) sum_j (the particle system of
paper eq. 2.7; the j = i term is 0), symmetrising over v <-> w gives
    d/dt E[(1/N) sum_k phi(v_k)] = (1/N^2) sum_{i<j} [ A(u) : (H_i + H_j) + 2 (div A)(u) . (g_i - g_j) ],
u = v_i - v_j, H = Hess phi, g = grad phi. A step of length dt pairs the particles by a random perfect matching
(odd N: one triplet, below), so a given pair {i, j} collides for an expected time dt / (N - 1). Let a collision
move u by a diffusion du = b dt + sigma dB with the centre of mass c = (v_i + v_j)/2 fixed (v_i = c + u/2,
v_j = c - u/2, so grad_u = (g_i - g_j)/2 and Hess_u = (H_i + H_j)/4). Matching generators,
    (1/(N (N - 1))) [ b . (g_i - g_j)/2 + (sigma sigma^T / 8) : (H_i + H_j) ] = (1/N^2) [ ... ]
gives, with kappa = (N - 1)/N,
    sigma sigma^T = 8 kappa A(u) = 8 kappa C |u|^(gamma + 2) (I - u u^T / |u|^2),   b = 4 kappa (div A)(u).
Ito's correction of this tangential noise is -(d - 1) 4 kappa C |u|^gamma u = b, so d|u|^2 = 0: the pair's
Landau dynamics is Brownian motion of u on the sphere of radius |u| (Du, Li, Xie & Yu, J. Comput. Phys. 543
(2025) 114387), with angular diffusivity sigma_a^2 = 8 kappa C |u|^gamma for the unit vector u / |u|. Over the
collision time dt the deflection chi (angle between u and u') therefore has
    E[cos chi] = exp(-s),   s = (d - 1) sigma_a^2 dt / 2 = 4 kappa (d - 1) C |u|^gamma dt,
    E[1 - cos chi] = 1 - exp(-s) = 4 (N - 1)/N (d - 1) C |u|^gamma dt + O(dt^2)
(the first spherical harmonic decays at rate (d - 1) sigma_a^2 / 2; the second, which the covariance sees, at
d sigma_a^2: E[cos 2 chi] = exp(-4 s) in 2D, E[P_2(cos chi)] = exp(-3 s) in 3D). Equivalently
E|u' - u|^2 = 2 |u|^2 E[1 - cos chi] = 8 kappa (d - 1) C |u|^(gamma + 2) dt + O(dt^2) = tr(sigma sigma^T) dt.

Angle laws sampled here:
* d = 2: the exact law of the pair's Brownian motion on the circle, chi ~ N(0, 2 s) (wrapped), signed: u is
  rotated in the plane by chi. All moments exact, as in Du-Li-Xie-Yu's exact spherical-BM sampling.
* d = 3: Nanbu's (1997) cumulative-scattering law, the exponential-cosine density of mu = cos chi,
      p(mu) = A exp(A mu) / (2 sinh A) on [-1, 1],   coth A - 1/A = exp(-s),
  which matches E[cos chi] = exp(-s) exactly (E[P_2] only to O(s^2)); azimuth uniform about u. (Not the exact
  spherical-BM law of Du-Li-Xie-Yu; not Takizuka-Abe's Gaussian tan(chi/2), which backscatters when s >> 1,
  whereas Nanbu's law tends to isotropic scattering there, as the pair's diffusion does.)
u' = cos chi u + sin chi |u| e with e a unit vector orthogonal to u, and v_i' = c + u'/2, v_j' = c - u'/2, so
v_i + v_j and |v_i|^2 + |v_j|^2 = 2|c|^2 + |u|^2/2 are unchanged to round-off in every collision.

Odd N (Takizuka & Abe 1977): the last three particles of the permutation form a triplet that collides as the
pairs (a, b), (b, c), (c, a), one after the other, each for dt/2, so every particle collides for a total time dt.
Over the N(N - 1)/2 pairs the expected collision time is then (N - 3)/2 dt + 3 dt/2 = N dt / 2 in all, i.e.
dt / (N - 1) per pair by symmetry, the same as for even N: kappa = (N - 1)/N in both cases.
"""
from __future__ import annotations

import functools
import math

import torch

#: above this s the 2D angle is uniform to exp(-S_MAX) (the wrapped N(0, 2s) of a larger s is not distinguishable)
S_MAX = 50.0


def collision_strength(unorm: torch.Tensor, gamma: float, C: float, dim: int, n: int, dt: float) -> torch.Tensor:
    """s = 4 (N - 1)/N (d - 1) C |u|^gamma dt per pair, so that E[cos chi] = exp(-s); unorm (P,) -> (P,).

    |u| = 0 (gamma < 0): s = inf (the pair's u is 0 and stays 0 whatever the angle)."""
    kappa = (n - 1) / n
    scale = 4.0 * kappa * (dim - 1) * C * dt
    if gamma == 0:
        return torch.full_like(unorm, scale)
    safe = torch.where(unorm > 0, unorm, torch.ones_like(unorm))
    s = scale * safe ** gamma
    return torch.where(unorm > 0, s, torch.full_like(unorm, math.inf if gamma < 0 else 0.0))


def nanbu_parameter(s: torch.Tensor) -> torch.Tensor:
    """A >= 0 with coth A - 1/A = exp(-s), elementwise, float64 (s in [0, inf]; s = 0 -> inf, s = inf -> 0).

    Solved for q = 1 - exp(-s) as 1 - L(A) = q (L the Langevin function) by Newton from Cohen's Pade guess
    A0 = m (3 - m^2) / (1 - m^2), m = exp(-s); 1 - L(A) = 1/A - 2/expm1(2A) for A >= 0.01 and the series
    1 - A/3 + A^3/45 - 2 A^5/945 below (next term A^7/4725 < 3e-18). Residual of 1 - L(A) = q below 1e-13
    relative (tests/test_pairwise_collision.py)."""
    m = torch.exp(-s)
    q = -torch.expm1(-s)
    big = q < 1e-6  # A ~ 1/q: 1 - L(A) = 1/A up to 2 exp(-2A)
    qs = torch.where(big, torch.ones_like(q), q)
    a = m * (3 - m * m) / (qs * (1 + m))
    for _ in range(6):  # quadratic convergence from A0's <= 5% error: 5e-2, 3e-3, 6e-6, 4e-11, round-off
        lo = a < 0.01
        a_lo = torch.where(lo, a, torch.ones_like(a))
        a_hi = torch.where(lo, torch.ones_like(a), a)
        one_minus_l = torch.where(lo, 1 - a_lo / 3 + a_lo ** 3 / 45 - 2 * a_lo ** 5 / 945,
                                  1 / a_hi - 2 / torch.expm1(2 * a_hi))
        dl = torch.where(lo, 1 / 3.0 - a_lo ** 2 / 15 + 2 * a_lo ** 4 / 189,
                         1 / a_hi ** 2 - 1 / torch.sinh(torch.clamp(a_hi, max=300.0)) ** 2)
        a = torch.clamp(a + (one_minus_l - qs) / dl, min=0.0)  # d(1 - L)/dA = -L'(A)
    return torch.where(big, 1 / q, a)


@functools.lru_cache(maxsize=64)
def _nanbu_scalar(s: float) -> float:
    """nanbu_parameter of one s, cached (a fixed dt and gamma = 0 ask for the same s at every step)."""
    return float(nanbu_parameter(torch.tensor([s], dtype=torch.float64))[0])


def nanbu_cos_chi(s: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """mu = cos chi from p(mu) = A exp(A mu) / (2 sinh A) on [-1, 1], A = nanbu_parameter(s), by inversion:
    mu = 1 + log1p(U expm1(-2A)) / A, U uniform in [0, 1) (A < 1e-12: mu = 2U - 1). s (P,) -> (P,)."""
    uniform_s = s.numel() >= 1 and bool((s == s[0]).all())  # gamma = 0: one A for all pairs (and all steps)
    a = torch.full_like(s, _nanbu_scalar(float(s[0]))) if uniform_s else nanbu_parameter(s)
    uni = torch.rand(s.shape, generator=gen, dtype=torch.float64)
    tiny = a < 1e-12
    a_safe = torch.where(tiny, torch.ones_like(a), a)
    mu = 1 + torch.log1p(uni * torch.expm1(-2 * a_safe)) / a_safe
    return torch.where(tiny, 2 * uni - 1, mu).clamp(-1.0, 1.0)


def deflect(u: torch.Tensor, s: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """u' = cos chi u + sin chi |u| e for relative velocities u (P, d), strengths s (P,): |u'| = |u|.

    d = 2: chi ~ N(0, 2 min(s, S_MAX)), e = u rotated by +90 degrees / |u|. d = 3: cos chi from `nanbu_cos_chi`,
    e = the part of a standard Gaussian orthogonal to u, normalised (uniform azimuth)."""
    p, d = u.shape
    unorm = u.norm(dim=1, keepdim=True)
    if d == 2:
        chi = torch.randn(p, generator=gen, dtype=u.dtype) * torch.sqrt(2 * torch.clamp(s, max=S_MAX))
        c, sn = torch.cos(chi)[:, None], torch.sin(chi)[:, None]
        perp = torch.stack([-u[:, 1], u[:, 0]], dim=1)  # |perp| = |u|
        return c * u + sn * perp
    mu = nanbu_cos_chi(s, gen)[:, None]
    g = torch.randn(p, d, generator=gen, dtype=u.dtype)
    uhat = u / torch.clamp(unorm, min=torch.finfo(u.dtype).tiny)
    for _ in range(2):  # Gram-Schmidt twice: e . u at round-off even where g is nearly parallel to u
        g = g - (g * uhat).sum(1, keepdim=True) * uhat
    e = g / g.norm(dim=1, keepdim=True)
    return mu * u + torch.sqrt(torch.clamp(1 - mu * mu, min=0.0)) * unorm * e


def collide_pairs(v: torch.Tensor, i: torch.Tensor, j: torch.Tensor, gamma: float, C: float, n: int, dt: float,
                  gen: torch.Generator) -> None:
    """Collide the pairs (i[p], j[p]) (disjoint index tensors of length P) for time dt, in place on v (N, d):
    u = v_i - v_j deflected by `deflect` with s = collision_strength(|u|, ...); c = (v_i + v_j)/2 kept."""
    vi, vj = v[i], v[j]
    u = vi - vj
    c = 0.5 * (vi + vj)
    s = collision_strength(u.norm(dim=1), gamma, C, v.shape[1], n, dt)
    u_new = deflect(u, s, gen)
    v[i] = c + 0.5 * u_new
    v[j] = c - 0.5 * u_new


def collision_step(v: torch.Tensor, dt: float, gamma: float, C: float, gen: torch.Generator) -> torch.Tensor:
    """One step of length dt on particles v (N, d), N >= 2, float64: a random perfect matching
    (torch.randperm(N, generator=gen)), all pairs deflected at once; odd N: the last three of the permutation
    as Takizuka-Abe's triplet (three pair collisions of dt/2, one after the other). Returns a new (N, d) tensor.
    O(N) work and memory."""
    n = v.shape[0]
    out = v.clone()
    perm = torch.randperm(n, generator=gen)
    n_pairs = n // 2 if n % 2 == 0 else (n - 3) // 2
    if n_pairs:
        collide_pairs(out, perm[0:2 * n_pairs:2], perm[1:2 * n_pairs:2], gamma, C, n, dt, gen)
    if n % 2:
        a, b, c = perm[-3:-2], perm[-2:-1], perm[-1:]
        for x, y in ((a, b), (b, c), (c, a)):
            collide_pairs(out, x, y, gamma, C, n, dt / 2, gen)
    return out
