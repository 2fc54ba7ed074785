"""The exact characteristics of a problem with an exact mean-field drift (BKW): the equation's own
reference for trajectory errors (protocol P1) and for the certificates.

Each particle solves dv/dt = U[f_t](v) with the exact mean-field velocity (`Problem.mean_field_drift`,
the Maxwell closure), integrated by scipy's DOP853 (8th order, adaptive): no Monte Carlo error in
the drift and no time-step error. Particles are independent; they are integrated as one
vectorised system.
"""
from __future__ import annotations

import numpy as np
import torch
from scipy.integrate import solve_ivp

from problems.cases.base import Problem


def integrate_characteristics(problem: Problem, v0: torch.Tensor, times, rtol: float, atol: float
                              ) -> list[torch.Tensor]:
    """Positions at `times` of the exact characteristics started at v0 (N, d) at problem.t0 (DOP853)."""
    n, d = v0.shape

    def rhs(t, y):
        v = torch.from_numpy(y).view(n, d)
        return problem.mean_field_drift(v, t).reshape(-1).numpy()

    times = sorted(times)
    sol = solve_ivp(rhs, (problem.t0, times[-1]), v0.reshape(-1).numpy().astype(np.float64),
                    method="DOP853", t_eval=times, rtol=rtol, atol=atol)
    if not sol.success:
        raise RuntimeError(f"exact characteristics failed: {sol.message}")
    return [torch.from_numpy(sol.y[:, k].copy()).view(n, d) for k in range(len(times))]
