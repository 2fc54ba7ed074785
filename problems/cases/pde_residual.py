"""PDE residual of an exact Maxwell solution: r = d_t f + div(f U[f]) (paper eq. 2.2).

Used to check that a coded density really solves the Landau equation, so that a wrong constant
(the paper's C = 1 with K = 1 - exp(-t/8)/2, say) cannot survive. d_t f by a central difference
(step h, error O(h^2)), div by autograd in float64.
"""
from __future__ import annotations

import torch

from problems.cases.base import Problem


def pde_residual(problem: Problem, v: torch.Tensor, t: float, h: float = 1e-5) -> tuple[torch.Tensor, torch.Tensor]:
    """(d_t f + div(f U[f]), d_t f) at points v (M, d), using `problem.mean_field_drift`.

    Returns both so that callers can form the relative residual ||r|| / ||d_t f||.
    """
    v = v.detach().to(torch.float64).requires_grad_(True)
    dtf = (problem.density(v.detach(), t + h) - problem.density(v.detach(), t - h)) / (2 * h)
    flux = problem.density(v, t)[:, None] * problem.mean_field_drift(v, t)
    div = torch.zeros(v.shape[0], dtype=torch.float64)
    for k in range(v.shape[1]):
        (g,) = torch.autograd.grad(flux[:, k].sum(), v, retain_graph=True)
        div = div + g[:, k]
    return (dtf + div).detach(), dtf.detach()


def relative_pde_residual(problem: Problem, v: torch.Tensor, t: float) -> float:
    """||d_t f + div(f U[f])||_2 / ||d_t f||_2 over the points v."""
    r, dtf = pde_residual(problem, v, t)
    return float(r.norm() / dtf.norm())
