"""The solver contract: a frozen config, capability flags, `solve(...) -> Trajectory`.

Solvers know nothing of metrics or of the harness. A solver is one module with one class
registered by name (`@register_solver("name")` from `solvers.registry`).
"""
from __future__ import annotations

import dataclasses
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import ClassVar

import torch

from problems import Problem

PROFILES = ("smoke", "quick", "paper")


@dataclass
class Trajectory:
    """What a solver returns.

    times: snapshot times; particles[k]: (N, d) float64 CPU tensor at times[k]; scores[k]: the
    score the solver used there, evaluated at particles[k] (None where it has none);
    initial: the (N, d) initial particles; wall_time: seconds spent in 'setup', 'training',
    'stepping' (and any other phase); info: solver-specific numbers (losses, step counts; a
    'curves' entry of equal-length lists, e.g. training losses, is kept and plotted);
    density_particles: optional larger particle sets per snapshot for density reconstruction,
    when the method can draw more than its own particles (PINN-PM pushes 10^5 samples through Phi);
    probe: optional `solvers.probe` object (path, velocity and score model of the P1 set).
    """

    solver: str
    problem: str
    times: list[float]
    particles: list[torch.Tensor]
    scores: list[torch.Tensor | None]
    initial: torch.Tensor
    wall_time: dict[str, float] = field(default_factory=dict)
    info: dict = field(default_factory=dict)
    density_particles: list[torch.Tensor] | None = None
    #: the run's path and score model for certificates (`solvers.probe`), not stored on disk
    probe: object | None = None

    def at(self, t: float) -> torch.Tensor:
        """Particles at snapshot time t (exact match within 1e-12)."""
        for tk, x in zip(self.times, self.particles):
            if abs(tk - t) < 1e-12:
                return x
        raise KeyError(f"t = {t} is not a snapshot time; snapshots: {self.times}")

    def score_at(self, t: float) -> torch.Tensor | None:
        """The solver's score at its particles at snapshot time t, or None."""
        for tk, s in zip(self.times, self.scores):
            if abs(tk - t) < 1e-12:
                return s
        raise KeyError(f"t = {t} is not a snapshot time; snapshots: {self.times}")


class Solver:
    """Base class. Subclasses set `name`, `Config` (a frozen dataclass) and the flags below."""

    name: ClassVar[str] = ""
    Config: ClassVar[type] = object
    has_score: ClassVar[bool] = False
    has_flow_map: ClassVar[bool] = False
    needs_gpu_for_paper: ClassVar[bool] = False

    def __init__(self, config=None):
        self.config = config if config is not None else self.Config()

    @classmethod
    def applies_to(cls, problem: Problem) -> tuple[bool, str]:
        """(True, '') if this solver can run on `problem`, else (False, reason)."""
        return True, ""

    @classmethod
    def profile_config(cls, profile: str, problem: Problem, **overrides):
        """The config of `profile` ('smoke', 'quick' or 'paper') for `problem`."""
        if profile not in PROFILES:
            raise ValueError(f"unknown profile {profile!r}; valid profiles: {', '.join(PROFILES)}")
        cfg = cls._profile(profile, problem)
        return dataclasses.replace(cfg, **overrides) if overrides else cfg

    @classmethod
    def _profile(cls, profile: str, problem: Problem):
        return cls.Config()

    def solve(self, problem: Problem, seed: int = 0, device: str = "cpu",
              initial: torch.Tensor | None = None, progress: bool = False,
              workdir: str | None = None) -> Trajectory:
        """Run from `initial` (or `problem.sample(n, seed)`) to every snapshot time.

        workdir: a directory the solver may use for artifacts shared between cells of one run
        (PINN-PM keeps its training checkpoints there); None means keep nothing on disk.
        """
        raise NotImplementedError


class Stopwatch:
    """Accumulates wall time per phase: `with sw('training'): ...`; `sw.times` is a dict."""

    def __init__(self):
        self.times: dict[str, float] = {}

    @contextmanager
    def __call__(self, phase: str):
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        t = time.perf_counter()
        try:
            yield
        finally:
            if torch.cuda.is_available():
                torch.cuda.synchronize()
            self.times[phase] = self.times.get(phase, 0.0) + time.perf_counter() - t


#: explicit-Euler step of the smoke/quick profiles where the generic choice is unstable:
#: gaussian_mixture3d's narrowest component (sd 0.2) needs dt * C |v|^2 / sd^2 < ~1, i.e. dt <~ 0.024
STIFF_DT = {"gaussian_mixture3d": 0.02}


def reduced_dt(profile: str, problem: Problem) -> float:
    """Time step of the reduced (smoke/quick) profiles: coarse on long horizons, STIFF_DT where needed."""
    long_run = problem.T - problem.t0 > 10
    dt = {"smoke": 0.25 if long_run else 0.1, "quick": 0.2 if long_run else 0.05}[profile]
    return min(dt, STIFF_DT.get(problem.name, dt))


def resolve_device(device: str) -> torch.device:
    """'auto' -> cuda if available else cpu; 'cpu'/'cuda' checked."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device not in ("cpu", "cuda"):
        raise ValueError(f"unknown device {device!r}; valid devices: auto, cpu, cuda")
    if device == "cuda" and not torch.cuda.is_available():
        raise ValueError("device 'cuda' requested but torch.cuda.is_available() is False; valid here: auto, cpu")
    return torch.device(device)


def initial_particles(problem: Problem, n: int, seed: int, initial: torch.Tensor | None) -> torch.Tensor:
    """The given initial set (protocol P1) or n exact samples of f at t0, float64 CPU."""
    if initial is not None:
        if initial.dim() != 2 or initial.shape[1] != problem.dim:
            raise ValueError(f"initial particles must be (N, {problem.dim}), got {tuple(initial.shape)}")
        return initial.detach().to("cpu", torch.float64)
    return problem.sample(n, seed)
