"""Constants of Assumption 1 and of the Gaussian KDE kernel, and the Gronwall integral (4.5).

Kernel constants on the ball |v| <= R (so |z| = |v - v*| <= 2R), Maxwell case gamma = 0,
A(z) = C (|z|^2 I - z z^T):
* lambda_2 = sup ||A(z)|| = C (2R)^2 (eigenvalues C|z|^2, d - 1 times, and 0);
* L_A = sup ||DA(z)|| = 4 C R: DA(z)[h] = C (2 (z.h) I - h z^T - z h^T) has operator norm
  C |z| max(1 + |cos a|, 2 |cos a|) <= 2 C |z| for a unit h at angle a to z.
Other gamma: A is not Lipschitz at 0 for gamma < 0 (the paper's Remark 2), so no constants.

Lipschitz constants of scores (L_s, L_theta, L_g) and of h_t = |s|^2 + 2 div s (L_t) are
estimated as sup over sample points of the Jacobian's spectral norm (gradient norm for h_t),
times a safety margin `MARGIN`: points = the solver's particles, the exact characteristics and
`BALL_POINTS` uniform points in the ball. This is an estimate, not a proof of the sup.
"""
from __future__ import annotations

import math
from typing import Callable

import torch

from problems import make_generator
from solvers.score_matching import divergence

MARGIN = 1.1
BALL_POINTS = 2_000


def kernel_constants(gamma: float, C: float, R: float) -> tuple[float, float]:
    """(lambda_2, L_A) of A on |z| <= 2R (Assumption 1, eqs. 3.6-3.7); gamma = 0 only."""
    if gamma != 0:
        raise ValueError(f"kernel constants are implemented for gamma = 0 only, got gamma = {gamma} "
                         "(A is not Lipschitz at z = 0 for gamma < 0, paper Remark 2)")
    return C * (2 * R) ** 2, 4 * C * R


def ball_points(d: int, R: float, n: int, seed: int) -> torch.Tensor:
    """n points uniform in the ball |v| <= R of R^d (float64), from a seeded generator."""
    g = make_generator(seed)
    x = torch.randn(n, d, generator=g, dtype=torch.float64)
    x = x / x.norm(dim=1, keepdim=True)
    r = R * torch.rand(n, 1, generator=g, dtype=torch.float64) ** (1 / d)
    return x * r


def _finite_max(values: torch.Tensor) -> float:
    """max of the finite entries of values (0.0 if none)."""
    values = values[torch.isfinite(values)]
    return float(values.max()) if values.numel() else 0.0


def jacobian_sup(fn: Callable[[torch.Tensor], torch.Tensor], points: torch.Tensor, chunk: int = 4096) -> float:
    """max over points of the spectral norm of the Jacobian of fn: (M, d) -> (M, d), by autograd."""
    best = 0.0
    for p in points.split(chunk):
        x = p.detach().clone().requires_grad_(True)
        out = fn(x)
        rows = [torch.autograd.grad(out[:, k].sum(), x, retain_graph=k < x.shape[1] - 1)[0] for k in range(x.shape[1])]
        jac = torch.stack(rows, dim=1)  # (M, d_out, d_in)
        best = max(best, _finite_max(torch.linalg.matrix_norm(jac.to(torch.float64), ord=2)))
    return MARGIN * best


def ism_integrand(fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """h(x) = |s(x)|^2 + 2 div s(x) per point (exact divergence by autograd), detached."""
    s, div = divergence(fn, x, create_graph=False)
    return ((s * s).sum(-1) + 2 * div).detach()


def gradient_sup_of_ism_integrand(fn: Callable[[torch.Tensor], torch.Tensor], points: torch.Tensor,
                                  chunk: int = 2048) -> float:
    """L_t of Lemma 3: max over points of |grad h_t|, h_t = |s|^2 + 2 div s (second derivatives by autograd)."""
    best = 0.0
    for p in points.split(chunk):
        x = p.detach().clone().requires_grad_(True)
        s = fn(x)
        div = sum(torch.autograd.grad(s[:, k].sum(), x, create_graph=True)[0][:, k] for k in range(x.shape[1]))
        h = (s * s).sum(-1) + 2 * div
        (g,) = torch.autograd.grad(h.sum(), x)
        best = max(best, _finite_max(g.norm(dim=1)))
    return MARGIN * best


def lipschitz_sups(model: Callable[[torch.Tensor], torch.Tensor], truth: Callable[[torch.Tensor], torch.Tensor],
                   points: torch.Tensor, chunk: int = 2048) -> dict[str, float]:
    """{'L_s', 'L_theta', 'L_g', 'L_t'} at one time: `jacobian_sup` of truth, of model and of model - truth, and
    `gradient_sup_of_ism_integrand` of model, over points (M, d), from one set of passes per chunk: the model's
    Jacobian rows (built with create_graph) give L_theta, its divergence for h_t and, minus the truth's, L_g
    (J(m - s) = J(m) - J(s)). Equal to the four separate calls at round-off, at about 60% of their cost."""
    best = {"L_s": 0.0, "L_theta": 0.0, "L_g": 0.0, "L_t": 0.0}
    d = points.shape[1]
    for p in points.split(chunk):
        x = p.detach().clone().requires_grad_(True)
        sm = model(x)
        rows = [torch.autograd.grad(sm[:, k].sum(), x, create_graph=True)[0] for k in range(d)]
        h = (sm * sm).sum(-1) + 2 * sum(rows[k][:, k] for k in range(d))
        (g,) = torch.autograd.grad(h.sum(), x)
        jm = torch.stack([r.detach() for r in rows], dim=1).to(torch.float64)  # (M, d_out, d_in)
        xs = p.detach().clone().requires_grad_(True)
        st = truth(xs)
        js = torch.stack([torch.autograd.grad(st[:, k].sum(), xs, retain_graph=k < d - 1)[0] for k in range(d)],
                         dim=1).to(torch.float64)
        for name, jac in (("L_s", js), ("L_theta", jm), ("L_g", jm - js)):
            best[name] = max(best[name], _finite_max(torch.linalg.matrix_norm(jac, ord=2)))
        best["L_t"] = max(best["L_t"], _finite_max(g.norm(dim=1)))
    return {k: MARGIN * v for k, v in best.items()}


def gaussian_kernel_norms(d: int) -> tuple[float, float]:
    """(||K||_2^2, ||grad K||_2^2) of the standard Gaussian kernel in R^d: (4 pi)^(-d/2) and (d/2)(4 pi)^(-d/2)."""
    base = (4 * math.pi) ** (-d / 2)
    return base, 0.5 * d * base


def log_gronwall(times: list[float], a: list[float], g: list[float]) -> list[float]:
    """log y(t_n) for y' = a y + g, y(t_0) = 0, i.e. log of int_t0^t exp(int_tau^t a) g(tau) dtau (eq. 4.5),
    by the trapezoidal rule on the grid, in log space (the bound can exceed the float range).
    -inf where y = 0."""
    t = torch.tensor(times, dtype=torch.float64)
    av = torch.tensor(a, dtype=torch.float64)
    gv = torch.tensor(g, dtype=torch.float64).clamp_min(0.0)
    h = t[1:] - t[:-1]
    big_a = torch.cat([torch.zeros(1, dtype=torch.float64), torch.cumsum(0.5 * h * (av[1:] + av[:-1]), 0)])
    out = [float("-inf")]
    for n in range(1, len(times)):
        w = torch.zeros(n + 1, dtype=torch.float64)
        w[:-1] += 0.5 * h[:n]
        w[1:] += 0.5 * h[:n]
        terms = torch.log(w) + torch.log(gv[: n + 1]) + big_a[n] - big_a[: n + 1]
        out.append(float(torch.logsumexp(terms, 0)))
    return out
