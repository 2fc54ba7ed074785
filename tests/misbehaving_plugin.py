"""Plugin solvers that misbehave, for the reliability tests (loaded with --plugin beside harness_plugin.py).

* `short`: returns particles for all snapshot times but the last;
* `m_int` / `m_str`: a config field `method` typed int in one and str in the other;
* `exits`: calls sys.exit(3) inside solve;
* `loud`: raises an error whose message has C++-style frame lines;
* `blowup`: particles 10^4 times too wide (absurd covariance error), status ok;
* `wrongdim`: returns (N, 3) particles on a 2D problem.
"""
import sys
from dataclasses import dataclass

from solvers import Solver, Trajectory, register_solver


@dataclass(frozen=True)
class BaseConfig:
    n: int = 32


class Still(Solver):
    """Its n initial particles at every snapshot, score -v (like harness_plugin's `still`)."""

    Config = BaseConfig

    def solve(self, problem, seed=0, device="cpu", initial=None, progress=False, workdir=None):
        v0 = problem.sample(self.config.n, seed)
        times = list(problem.snapshot_times)
        return Trajectory(self.name, problem.name, times, [v0.clone() for _ in times], [-v0 for _ in times], v0)


@register_solver("short")
class Short(Still):
    def solve(self, problem, seed=0, device="cpu", initial=None, progress=False, workdir=None):
        v0 = problem.sample(self.config.n, seed)
        times = list(problem.snapshot_times)[:-1]
        return Trajectory(self.name, problem.name, times, [v0.clone() for _ in times], [-v0 for _ in times], v0)


@dataclass(frozen=True)
class IntMethodConfig:
    n: int = 32
    method: int = 3


@dataclass(frozen=True)
class StrMethodConfig:
    n: int = 32
    method: str = "euler"


@register_solver("m_int")
class MInt(Still):
    Config = IntMethodConfig


@register_solver("m_str")
class MStr(Still):
    Config = StrMethodConfig


@register_solver("exits")
class Exits(Still):
    def solve(self, problem, seed=0, device="cpu", initial=None, progress=False, workdir=None):
        sys.exit(3)


@register_solver("loud")
class Loud(Still):
    def solve(self, problem, seed=0, device="cpu", initial=None, progress=False, workdir=None):
        raise RuntimeError("allocation failed\nException raised from alloc at c10/core/impl.cpp:42\n"
                           "frame #0: c10::Error::Error() + 0x5c\nframe #1: at::empty() + 0x12")


@register_solver("blowup")
class Blowup(Still):
    def solve(self, problem, seed=0, device="cpu", initial=None, progress=False, workdir=None):
        v0 = problem.sample(self.config.n, seed)
        times = list(problem.snapshot_times)
        return Trajectory(self.name, problem.name, times, [1e4 * v0 for _ in times], [-v0 for _ in times], v0)


@register_solver("wrongdim")
class WrongDim(Still):
    def solve(self, problem, seed=0, device="cpu", initial=None, progress=False, workdir=None):
        v0 = problem.sample(self.config.n, seed)
        times = list(problem.snapshot_times)
        x = v0.new_zeros(v0.shape[0], 3)
        return Trajectory(self.name, problem.name, times, [x for _ in times], [None for _ in times], v0)
