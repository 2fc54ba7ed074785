"""pairwise_collision: a stochastic binary-collision particle method for the homogeneous Landau equation.

Each step of length dt pairs the N particles by a random perfect matching and deflects every pair's relative
velocity u = v_i - v_j on the sphere of radius |u| (`solvers.collisions`): mass, momentum and energy are
conserved exactly in every collision, the work is O(N) per step, and no score is needed. The deflection's
law is the pair's own Landau dynamics over the step (Du, Li, Xie & Yu, J. Comput. Phys. 543 (2025) 114387):
    E[cos chi] = exp(-s),   s = 4 (N - 1)/N (d - 1) C |u|^gamma dt,
exact in 2D (chi ~ N(0, 2 s), the Brownian motion on the circle), Nanbu's (1997) exponential-cosine law in 3D.
The derivation is in `solvers.collisions`' docstring and docs/pairwise-collision.md. Its error is the
splitting of the N-body interaction into one random pair per particle and step, O(dt), and Monte Carlo,
O(N^(-1/2)); for gamma = 0 the expected empirical covariance follows a closed linear recursion (the tests
check it against the exact relaxation exp(-4 C d t)).

Random draws: one torch.Generator per cell from the named stream `pairwise_collision` (infra.seeds), used for
the matchings and the angles of every step in order, so one seed gives one trajectory.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import torch

from infra import seeds
from problems import make_generator

from solvers.base import Solver, Trajectory, initial_particles, resolve_device
from solvers.collisions import collision_step
from solvers.registry import register_solver


@dataclass(frozen=True)
class PairwiseCollisionConfig:
    """n: particles (>= 2); dt: the step (> 0, finite): each interval between snapshots is cut into
    ceil(length / dt) equal steps. Profiles: smoke n = 300, dt = 0.1 (0.25 on horizons over 10; no stiff_dt:
    a collision step has no stability limit);
    quick n = 1,000 (the N of the other solvers' quick cells, so W1 and its floor compare at equal N), dt = 0.02
    (the O(dt) bias of the Maxwell covariance's relaxed part is then 0.25% on bkw2d, against a Monte Carlo error
    of about 3% at N = 1,000; solve 0.1-2.6 s a cell on one loaded core); paper n = the problem's paper_n,
    dt = 0.01. The steps run on the CPU whatever the device (gathers and trigonometry, O(N) a step)."""

    POSITIVE: ClassVar[tuple] = ("n", "dt")
    n: int = 22_500
    dt: float = 0.01


def check_config(n, dt) -> None:
    """ValueError, one line naming the value, unless n is an int >= 2 and dt a finite float > 0."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 2:
        raise ValueError(f"pairwise_collision needs n >= 2 particles (an int), got n = {n!r}")
    if isinstance(dt, bool) or not isinstance(dt, (int, float)) or not (dt > 0 and math.isfinite(dt)):
        raise ValueError(f"pairwise_collision needs a finite step dt > 0, got dt = {dt!r}")


@register_solver("pairwise_collision")
class PairwiseCollision(Solver):
    """Random-matching binary collisions (O(N) a step, exact conservation, no score)."""

    Config = PairwiseCollisionConfig
    #: None, although the method steps: dt_order declares a pathwise order (tests/test_orders.py compares runs at dt,
    #: dt/2, dt/4 on one seed), and random matchings have none (each dt draws other pairs). Its error in law is O(dt)
    #: (weak order 1: the covariance recursion in tests/test_pairwise_collision.py)
    dt_order = None
    n_rate = 0.5
    cost_exponent = 1.0  # N / 2 independent collisions a step

    @classmethod
    def _profile(cls, profile, problem):
        if profile == "smoke":
            # the smoke step without the problem's stiff_dt: that is explicit Euler's stability limit, and a
            # collision step has none (any s gives a valid angle law)
            return PairwiseCollisionConfig(n=300, dt=0.25 if problem.T - problem.t0 > 10 else 0.1)
        if profile == "quick":
            return PairwiseCollisionConfig(n=1_000, dt=0.02)
        return PairwiseCollisionConfig(n=problem.paper_n, dt=0.01)

    def solve(self, problem, seed=0, device="cpu", initial=None, progress=False, workdir=None):
        cfg = self.config
        check_config(cfg.n, cfg.dt)
        resolve_device(device)  # checked; the steps run on the CPU (O(N) gathers, no GPU needed)
        with self.phase("setup"):
            v = initial_particles(problem, cfg.n, seed, initial)
            if v.shape[0] < 2:
                raise ValueError(f"pairwise_collision needs n >= 2 particles, got {v.shape[0]} initial particles")
            v0 = v.clone()
            gen = make_generator(seeds.PAIRWISE_COLLISION.seed(seed))
        times, snaps, t, steps = [], [], problem.t0, 0
        with self.phase("stepping"):
            for t_snap in sorted(float(x) for x in problem.snapshot_times):
                k = math.ceil((t_snap - t) / cfg.dt - 1e-9) if t_snap > t else 0
                for _ in range(k):
                    v = collision_step(v, (t_snap - t) / k, problem.gamma, problem.C, gen)
                steps += k
                t = t_snap
                times.append(t_snap)
                snaps.append(v.clone())
        return Trajectory(self.name, problem.name, times, snaps, [None] * len(times), v0, {},
                          {"steps": steps, "dt": cfg.dt})
