"""A trivial plugin for harness tests (loaded with --plugin): cells that cost milliseconds.

* problem `tiny2d`: a 2D Maxwellian N(0, I), gamma = 0, no exact solution beyond t0 (so only the
  invariants and the exact covariance are evaluated), snapshots 0.5 and 1;
* solver `still`: returns its n initial particles at every snapshot, with the score -v;
* solver `sleeper`: sleeps for an hour (a hung cell);
* solver `only_bkw`: like `still`, but applies to bkw2d alone.
"""
import time
from dataclasses import dataclass

import torch

from problems import Problem, register_problem
from solvers import Solver, Trajectory, register_solver


@dataclass(frozen=True)
class Gauss2D(Problem):
    def _sample0(self, n, gen):
        return torch.randn(n, 2, generator=gen, dtype=torch.float64)

    def initial_mean(self):
        return torch.zeros(2, dtype=torch.float64)

    def initial_covariance(self):
        return torch.eye(2, dtype=torch.float64)

    def initial_score(self, v):
        return -v

    def initial_density(self, v):
        return torch.exp(-(v * v).sum(-1) / 2) / (2 * torch.pi)


@register_problem("tiny2d")
def tiny2d():
    return Gauss2D(name="tiny2d", dim=2, gamma=0.0, C=1 / 16, t0=0.0, snapshot_times=(0.5, 1.0),
                   kde_bandwidth=0.3, paper_n=100, grid_box=((-3, 3),) * 2, grid_points=20)


@dataclass(frozen=True)
class StillConfig:
    n: int = 64
    dt: float = 0.1


@register_solver("still")
class Still(Solver):
    Config = StillConfig
    has_score = True

    def solve(self, problem, seed=0, device="cpu", initial=None, progress=False, workdir=None):
        v0 = problem.sample(self.config.n, seed)
        times = list(problem.snapshot_times)
        return Trajectory(self.name, problem.name, times, [v0.clone() for _ in times], [-v0 for _ in times], v0,
                          {"stepping": 0.0})


@register_solver("sleeper")
class Sleeper(Still):
    def solve(self, problem, seed=0, device="cpu", initial=None, progress=False, workdir=None):
        time.sleep(3600)


@register_solver("only_bkw")
class OnlyBKW(Still):
    @classmethod
    def applies_to(cls, problem):
        return (problem.name == "bkw2d", "only_bkw runs on bkw2d alone")
