"""The initial covariance rate dSigma/dt(t0) as a reference or a solver realises it, to compare with the exact one
(`certificates.initial_rate`).

* grid reference (2D, `problems.references.grid`): the stored density is the Richardson combination
  R = (4 f_2n - Q f_n) / 3 of runs on n and 2n cells (Q: cubic refinement, linear), so its time derivative at t0 is
  (4 L_2n f0_2n - Q L_n f0_n) / 3 with L the discrete operator (`GridSolver.rhs`): no time step; or, with `t1`, the
  second-order one-sided difference (-3 Sigma(t0) + 4 Sigma(t1) - Sigma(2 t1)) / (2 t1) of the evolved pair (the
  SSP-RK3 steps included);
* radial reference (`problems.references.radial`): isotropic by construction, its rate is (1/3) d/dt(energy) I from
  the discrete operator at t0 (energy is discretely conserved: 0 to round-off);
* sde reference (`problems.references.sde`): its pools are moment-matched at every snapshot to the Maxwell
  closure's Sigma(t) (`maxwell_covariance`), so its rate is that formula's derivative at t0 (central difference);
* a run: from its particles at t0 and at the first snapshot(s) (`difference_rate`), or from its velocities at t0
  (`velocity_rate`).
"""
from __future__ import annotations

import torch

from problems.cases.base import Problem
from problems.equation.maxwell import maxwell_covariance
from problems.references import grid, radial, sde  # noqa: F401  (sde: registers its builder)
from problems.references.base import reference_kind

#: step of the central difference of the closed-form covariance (its error is O(h^2 (4Cd)^3), far below 1e-9)
SDE_FD_STEP = 1e-4


def covariance(v: torch.Tensor) -> torch.Tensor:
    """Population covariance (1/N) sum_i (v_i - vbar)(v_i - vbar)^T of particles v (N, d) -> (d, d) float64."""
    u = v.to(torch.float64) - v.to(torch.float64).mean(0)
    return u.T @ u / u.shape[0]


def difference_rate(times, covariances) -> torch.Tensor:
    """dSigma/dt(t0) from covariances (d, d) at times t0 < t1 (< t2): the forward difference (Sigma1 - Sigma0) /
    (t1 - t0) from two, and from three equally spaced the second-order (-3 Sigma0 + 4 Sigma1 - Sigma2) / (2 h)."""
    t = [float(x) for x in times]
    S = [torch.as_tensor(c, dtype=torch.float64) for c in covariances]
    if len(t) != len(S) or len(t) not in (2, 3):
        raise ValueError(f"two or three (time, covariance) pairs needed, got {len(t)} times, {len(S)} covariances")
    h = t[1] - t[0]
    if not h > 0:
        raise ValueError(f"times must increase, got {t}")
    if len(t) == 2:
        return (S[1] - S[0]) / h
    if abs((t[2] - t[1]) - h) > 1e-9 * max(1.0, abs(h)):
        raise ValueError(f"three times must be equally spaced, got {t}")
    return (-3 * S[0] + 4 * S[1] - S[2]) / (2 * h)


def velocity_rate(v: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    """dSigma/dt of particles v (N, d) moving with velocities u (N, d): (1/N) sum_i (v_i - vbar)(u_i - ubar)^T plus
    its transpose, (d, d) float64."""
    v, u = v.to(torch.float64), u.to(torch.float64)
    m = (v - v.mean(0)).T @ (u - u.mean(0)) / v.shape[0]
    return m + m.T


def trajectory_rate(initial: torch.Tensor, times, particles, t0: float) -> torch.Tensor:
    """`difference_rate` of a run: initial (N, d) particles at t0, `times` and `particles` its first one or two
    snapshots (each (N, d), the same particles moved). (d, d) float64."""
    return difference_rate([t0, *times], [covariance(initial), *(covariance(x) for x in particles)])


def _grid_covariance(solver: "grid.GridSolver", f: torch.Tensor) -> torch.Tensor:
    """Covariance of the cell-centred density f (n, n) on the solver's cells, (2, 2)."""
    X, Y = torch.meshgrid(*solver.axes, indexing="ij")
    v = torch.stack([X.reshape(-1), Y.reshape(-1)], 1)
    w = f.reshape(-1) * solver.h**2
    mass = w.sum()
    mean = (w[:, None] * v).sum(0) / mass
    u = v - mean
    return (w[:, None] * u).T @ u / mass


def _grid_moment_rate(solver: "grid.GridSolver", f: torch.Tensor, fdot: torch.Tensor) -> torch.Tensor:
    """d/dt of the covariance of f (n, n) moving at fdot (n, n): sum v v^T fdot h^2 - (mu' mu^T + mu mu'^T), with
    mass kept (sum fdot = 0 to round-off is the scheme's); (2, 2)."""
    X, Y = torch.meshgrid(*solver.axes, indexing="ij")
    v = torch.stack([X.reshape(-1), Y.reshape(-1)], 1)
    h2 = solver.h**2
    w, wd = f.reshape(-1) * h2, fdot.reshape(-1) * h2
    mass = w.sum()
    mu, mud = (w[:, None] * v).sum(0) / mass, (wd[:, None] * v).sum(0) / mass
    second = (wd[:, None] * v).T @ v / mass
    return second - mud[:, None] * mu[None] - mu[:, None] * mud[None]


def grid_reference_rate(problem: Problem, resolution: str = "fine", t1: float | None = None) -> torch.Tensor:
    """dSigma/dt(t0) of the grid reference of a 2D problem ((2, 2) float64), by its Richardson pair R(n, 2n) at the
    reference's resolution: the discrete operator at t0 (t1 None), or the second-order difference over [t0, 2 t1]."""
    res = grid.RESOLUTION[resolution]
    n = res["cells"]
    solvers = {m: grid.make_solver(problem, m, res["half_width"]) for m in (n, 2 * n)}
    f0 = {m: grid.initial_grid(problem, s) for m, s in solvers.items()}
    fine = solvers[2 * n]
    start = grid.richardson(f0[n], f0[2 * n])
    if t1 is None:
        fdot = grid.richardson(solvers[n].rhs(f0[n]), solvers[2 * n].rhs(f0[2 * n]))
        return _grid_moment_rate(fine, start, fdot)
    t0 = problem.t0
    times = [t0 + t1, t0 + 2 * t1]
    runs = {m: s.evolve(f0[m], t0, times) for m, s in solvers.items()}
    covs = [_grid_covariance(fine, start)] + [
        _grid_covariance(fine, grid.richardson(runs[n][t], runs[2 * n][t])) for t in times]
    return difference_rate([t0, *times], covs)


def radial_reference_rate(problem: Problem, resolution: str = "fine") -> torch.Tensor:
    """dSigma/dt(t0) of the radial reference of an isotropic 3D problem: (1/3) sum_i 4 pi V_i r_i^2 (L f0)_i I,
    (3, 3) float64 (the density stays isotropic, so the rate is a multiple of I: the energy rate over 3)."""
    res = radial.RESOLUTION[resolution]
    solver = radial.RadialSolver(problem.C, res["cells"], res["R"])
    f0 = radial.initial_profile(problem, solver)
    energy_rate = solver.energy(solver.rhs(f0))  # linear in f: sum 4 pi V_i r_i^2 fdot_i
    return energy_rate / 3 * torch.eye(3, dtype=torch.float64)


def sde_reference_rate(problem: Problem) -> torch.Tensor:
    """dSigma/dt(t0) of the SDE reference (pools matched to the closed-form Sigma(t)): the central difference of
    `maxwell_covariance` at t0 with step SDE_FD_STEP, (d, d) float64."""
    cov0, h = problem.initial_covariance(), SDE_FD_STEP
    return (maxwell_covariance(cov0, problem.C, problem.t0 + h, problem.t0)
            - maxwell_covariance(cov0, problem.C, problem.t0 - h, problem.t0)) / (2 * h)


def reference_rate(problem: Problem, resolution: str = "fine") -> tuple[str, torch.Tensor]:
    """(kind, dSigma/dt(t0)) of the problem's reference (no reference built or read from the cache); kind 'exact'
    (BKW: the closed form's covariance is I at all t, rate 0), 'grid', 'radial' or 'sde'."""
    kind = reference_kind(problem)
    if kind == "exact":
        return kind, torch.zeros(problem.dim, problem.dim, dtype=torch.float64)
    if kind == "grid":
        return kind, grid_reference_rate(problem, resolution)
    if kind == "radial":
        return kind, radial_reference_rate(problem, resolution)
    if kind == "sde":
        return kind, sde_reference_rate(problem)
    raise ValueError(f"{problem.name}: no reference (kind {kind!r})")
