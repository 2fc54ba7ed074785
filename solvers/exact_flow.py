"""exact_flow: the exact characteristics of a problem with an exact solution (BKW).

Each particle solves dv/dt = U[f_t](v) with the exact mean-field velocity (problems'
`mean_field_drift`, the Maxwell closure), integrated by scipy's DOP853 (8th order, adaptive) to
rtol 1e-10: no Monte Carlo error in the drift and no time-step error. This is the reference for
trajectory errors (protocol P1). Particles are independent; they are integrated as one
vectorised system.

Option `method="paper_euler"` reproduces the paper's reference instead: explicit Euler
(dt = 0.01) of the particle system (2.8) with the analytic score, which carries both O(dt) and
O(N^-1/2) errors.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch

from problems import drift
from problems.cases.characteristics import integrate_characteristics

from solvers.base import Solver, Trajectory, initial_particles
from solvers.registry import register_solver
from solvers.stepping import euler_integrate


@dataclass(frozen=True)
class ExactFlowConfig:
    """n: particles; method 'dop853' (adaptive, rtol/atol) or 'paper_euler' (dt)."""

    CHOICES: ClassVar[dict] = {"method": ("dop853", "paper_euler")}

    n: int = 10_000
    method: str = "dop853"
    rtol: float = 1e-10
    atol: float = 1e-12
    dt: float = 0.01


@register_solver("exact_flow")
class ExactFlow(Solver):
    """Reference solver: exact characteristics (BKW only)."""

    Config = ExactFlowConfig
    has_score = True
    cost_exponent = 1.0  # each particle follows its own closed-form characteristic
    n_rate = 0.5  # exact samples moved exactly: W1 is the Monte Carlo error of N samples

    @classmethod
    def applies_to(cls, problem):
        if not problem.has_exact_solution:
            return False, f"{problem.name} has no exact mean-field drift (exact_flow needs an exact solution)"
        return True, ""

    @classmethod
    def _profile(cls, profile, problem):
        # quick: the N of the methods it is the reference for (W1 and its floor compare only at equal N)
        return ExactFlowConfig(n={"smoke": 500, "quick": 1_000, "paper": 10_000}[profile])

    def solve(self, problem, seed=0, device="cpu", initial=None, progress=False, workdir=None):
        ok, why = self.applies_to(problem)
        if not ok:
            raise ValueError(why)
        cfg = self.config
        with self.phase("setup"):
            v0 = initial_particles(problem, cfg.n, seed, initial)
        times = sorted(problem.snapshot_times)
        with self.phase("stepping"):
            if cfg.method == "dop853":
                snaps = integrate_characteristics(problem, v0, times, cfg.rtol, cfg.atol)
            elif cfg.method == "paper_euler":
                got: dict[float, torch.Tensor] = {}
                euler_integrate(v0, problem.t0, times, cfg.dt,
                                lambda v, t: drift(v, problem.score(v, t), problem.gamma, problem.C),
                                lambda t, v: got.__setitem__(t, v.clone()), progress)
                snaps = [got[t] for t in sorted(got)]
            else:
                raise ValueError(f"unknown method {cfg.method!r}; valid: dop853, paper_euler")
        scores = [problem.score(x, t) for t, x in zip(times, snaps)]
        return Trajectory(self.name, problem.name, times, snaps, scores, v0, {}, {"method": cfg.method})
