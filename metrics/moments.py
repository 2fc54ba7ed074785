"""Exact moments of Maxwell (gamma = 0) problems by the closed moment system, and their errors.

For any phi: d/dt E[phi(V)] = E_{V,W ~ f x f}[A(V-W) : Hess phi(V) + 2 (div A)(V-W) . grad phi(V)].
* phi quadratic: Sigma(t) = Sigma_inf + (Sigma0 - Sigma_inf) exp(-4 C d (t - t0)) (problems.equation.maxwell).
* phi = |v - m|^4 (centred; the dynamics is translation-equivariant), with m2 = tr Sigma:
      d/dt m4 = C [ -4 (d - 1) m4 + 4 (d + 1) m2^2 - 8 tr(Sigma(t)^2) ],
  derived from the weak form with E[V - m] = 0; its fixed point for Sigma = sigma^2 I is the
  Gaussian d (d + 2) sigma^4. Integrated with an adaptive method (rtol 1e-12).
"""
from __future__ import annotations

import torch
from scipy.integrate import solve_ivp

from problems import NoExactReference, Problem, maxwell_covariance


def _require_maxwell(problem: Problem) -> None:
    if problem.gamma != 0:
        raise NoExactReference(f"{problem.name}: the moment closure needs gamma = 0, got {problem.gamma}")


def exact_covariance(problem: Problem, t: float) -> torch.Tensor:
    """Sigma(t) of a Maxwell problem from its exact initial covariance."""
    _require_maxwell(problem)
    return maxwell_covariance(problem.initial_covariance(), problem.C, t, problem.t0)


def exact_fourth_moment(problem: Problem, t: float) -> float:
    """E|V - m|^4 at time t of a Maxwell problem, from `problem.initial_central_moment4()`."""
    _require_maxwell(problem)
    if not problem.states_moment4:
        raise NoExactReference(f"{problem.name} does not state its initial fourth moment")
    d, C = problem.dim, problem.C
    m2 = float(torch.trace(problem.initial_covariance()))

    def rhs(s, y):
        sig = exact_covariance(problem, s)
        return [C * (-4 * (d - 1) * y[0] + 4 * (d + 1) * m2**2 - 8 * float((sig * sig).sum()))]

    if t == problem.t0:
        return float(problem.initial_central_moment4())
    sol = solve_ivp(rhs, (problem.t0, t), [float(problem.initial_central_moment4())], rtol=1e-12, atol=1e-14)
    return float(sol.y[0, -1])


def cov_err(particles: torch.Tensor, problem: Problem, t: float) -> float:
    """||Cov(particles) - Sigma(t)||_F / ||Sigma(t)||_F, Sigma(t) exact by the Maxwell closure."""
    x = particles.to(torch.float64)
    emp = torch.cov(x.T, correction=0)
    ref = exact_covariance(problem, t)
    return float((emp - ref).norm() / ref.norm())


def moment4_err(particles: torch.Tensor, problem: Problem, t: float) -> float:
    """Relative error of the particles' centred fourth moment E|V - m|^4 against the exact one."""
    x = particles.to(torch.float64)
    xc = x - problem.initial_mean()  # the mean is conserved
    emp = float(((xc * xc).sum(1) ** 2).mean())
    ref = exact_fourth_moment(problem, t)
    return abs(emp - ref) / ref
