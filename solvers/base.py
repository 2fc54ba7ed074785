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

from infra import seeds

from solvers.config import NoConfig

PROFILES = ("smoke", "quick", "paper")


@dataclass
class Trajectory:
    """What a solver returns.

    times: snapshot times; particles[k]: (N, d) float64 CPU tensor at times[k]; scores[k]: the
    score the solver used there, evaluated at particles[k] (None where it has none);
    initial: the (N, d) initial particles; wall_time: seconds spent in 'setup', 'training',
    'stepping' (and any other phase), set by `Solver.run` from the phases the solver marked;
    info: solver-specific numbers (losses, step counts; a 'curves' entry of equal-length lists, e.g.
    training losses, is kept and plotted);
    density_particles: optional larger particle sets per snapshot for density reconstruction,
    when the method can draw more than its own particles (PINN-PM pushes 10^5 samples through Phi);
    probe: optional `solvers.probe` object (path, velocity and score model of the P1 set);
    det_j: for a flow map x = Phi(V, t) (`has_flow_map`), det J of v -> Phi(v, t) at the initial particles per
    snapshot, (N,) float64 (<= 0 where the map folds; the metrics min_det_j and fold_fraction);
    densities: the density of the solver's own particle law at its particles per snapshot, (N,) float64 (a flow
    map: f0(V) / |det J(V)|, the change of variables; the metric entropy_pushforward);
    score_is_own: the scores are the score of the solver's own particle law, grad log of its density (a flow map's
    push-forward score, neural_flow's carried score), not a model of the solution's: the metric fisher_information;
    step_path: optional `solvers.probe.PiecewiseLinearProbe` of a stepper's path that is not a probe for the paper's
    certificates (blob: positions and velocities only, no score models), read by the a-posteriori certificates.
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
    det_j: list[torch.Tensor] | None = None
    densities: list[torch.Tensor] | None = None
    score_is_own: bool = False
    #: a stepper's recorded path for the a-posteriori certificates (`solvers.probe`), not stored on disk
    step_path: object | None = None

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


class TrajectoryError(ValueError):
    """A solver returned a trajectory that does not fit its problem (times, shapes, dtype, finiteness)."""


def validate_trajectory(traj: Trajectory, problem: Problem) -> Trajectory:
    """`traj` if it holds, for every snapshot time of `problem` and no other, finite (N, d) particles of a
    floating dtype with d = problem.dim (scores None or the particles' shape, density particles (M, d)),
    and (N0, d) initial particles; else TrajectoryError with a one-line reason."""
    def fail(why: str):
        raise TrajectoryError(f"{traj.solver or 'solver'} returned a trajectory that does not fit {problem.name}: {why}")

    d = problem.dim
    want = sorted(float(t) for t in problem.snapshot_times)
    n_snap = len(traj.times)
    if len(traj.particles) != n_snap or len(traj.scores) != n_snap:
        fail(f"{n_snap} times, {len(traj.particles)} particle sets and {len(traj.scores)} score sets")
    got = sorted(float(t) for t in traj.times)
    if len(got) != len(want) or any(abs(a - b) > 1e-9 for a, b in zip(got, want)):
        fail(f"snapshot times {got}, expected {want}")

    def check(x, what: str, shape=None):
        if not isinstance(x, torch.Tensor) or x.dim() != 2 or x.shape[1] != d or x.shape[0] < 1:
            fail(f"{what} must be an (N, {d}) tensor, got "
                 f"{tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__}")
        if shape is not None and tuple(x.shape) != shape:
            fail(f"{what} has shape {tuple(x.shape)}, expected {shape}")
        if not x.is_floating_point():
            fail(f"{what} has dtype {x.dtype}, expected a floating dtype")
        if not torch.isfinite(x).all():
            fail(f"{what} holds non-finite values")

    check(traj.initial, "initial particles")
    for t, x, s in zip(traj.times, traj.particles, traj.scores):
        check(x, f"particles at t = {t:g}")
        if s is not None:
            check(s, f"scores at t = {t:g}", tuple(x.shape))
    if traj.density_particles is not None:
        if len(traj.density_particles) != n_snap:
            fail(f"{len(traj.density_particles)} density particle sets for {n_snap} snapshots")
        for t, x in zip(traj.times, traj.density_particles):
            check(x, f"density particles at t = {t:g}")
    for what, values in (("det_j", traj.det_j), ("densities", traj.densities)):
        if values is None:
            continue
        if len(values) != n_snap:
            fail(f"{len(values)} {what} sets for {n_snap} snapshots")
        for t, x, v in zip(traj.times, traj.particles, values):
            if not isinstance(v, torch.Tensor) or tuple(v.shape) != (x.shape[0],) or not v.is_floating_point():
                fail(f"{what} at t = {t:g} must be a ({x.shape[0]},) floating tensor, got "
                     f"{tuple(v.shape) if isinstance(v, torch.Tensor) else type(v).__name__}")
            if bool(torch.isnan(v).any()) or (what == "det_j" and not bool(torch.isfinite(v).all())):
                fail(f"{what} at t = {t:g} holds non-finite values")  # a density may be +inf (det J = 0)
            if what == "densities" and bool((v < 0).any()):
                fail(f"densities at t = {t:g} hold negative values")
    return traj


class Solver:
    """Base class. Subclasses set `name`, `Config` (a frozen dataclass) and the declared capabilities below,
    implement `solve`, and mark its phases with `with self.phase("training"): ...`; the framework calls `run`,
    which owns the stopwatch and sets the trajectory's wall_time from it."""

    name: ClassVar[str] = ""
    Config: ClassVar[type] = NoConfig
    has_score: ClassVar[bool] = False
    has_flow_map: ClassVar[bool] = False
    needs_gpu_for_paper: ClassVar[bool] = False
    #: a trained score model whose error sources the harness measures (certificates.training_diagnostics)
    diagnose_training: ClassVar[bool] = False
    #: solve takes `workdir` (a directory for artifacts shared by the cells of one run: PINN-PM's checkpoints)
    uses_workdir: ClassVar[bool] = False
    #: order of the time discretisation in dt (None: no time stepping, e.g. a flow map queried at t)
    dt_order: ClassVar[int | None] = None
    #: Monte Carlo rate of W1 in N, W1 ~ N^(-rate) up to d = 2's log factor (None: the error does not fall with a
    #: particle count)
    n_rate: ClassVar[float | None] = None
    #: a solve's work grows like N^cost_exponent in the particle count (None: not declared); the run estimate scales
    #: a cell's measured seconds by it (harness.plan.estimate), and a sweep measures it (harness.report.frontier)
    cost_exponent: ClassVar[float | None] = None
    #: config overrides under which the declared dt_order is checked (tests/test_orders.py)
    order_check: ClassVar[dict] = {}

    def __init__(self, config=None):
        self.config = config if config is not None else self.Config()
        self._stopwatch = Stopwatch()

    def phase(self, name: str):
        """Context manager: time the block as phase `name` (exclusive: a nested phase pauses the outer one)."""
        return self._stopwatch(name)

    def move_phase_time(self, source: str, target: str) -> None:
        """Charge the seconds recorded so far as `source` to `target` instead (a training that turned out to be a
        checkpoint load)."""
        times = self._stopwatch.times
        times[target] = times.get(target, 0.0) + times.pop(source, 0.0)

    @classmethod
    def refusal(cls, config, problem: Problem) -> str | None:
        """Why `config` cannot run on `problem` although the solver applies to it (an oracle the problem has
        not), one line, or None."""
        return None

    def run(self, problem: Problem, seed: int = 0, device: str = "cpu", initial: torch.Tensor | None = None,
            progress: bool = False, workdir: str | None = None) -> Trajectory:
        """What the framework calls: `solve` under a fresh stopwatch (workdir only to a solver that declares
        `uses_workdir`); the trajectory's wall_time is the stopwatch's {phase: seconds}."""
        self._stopwatch = Stopwatch()
        kwargs = {"workdir": workdir} if self.uses_workdir else {}
        traj = self.solve(problem, seed=seed, device=device, initial=initial, progress=progress, **kwargs)
        if isinstance(traj, Trajectory) and self._stopwatch.times:
            traj.wall_time = dict(self._stopwatch.times)
        return traj

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
    """Wall time per phase, exclusive: `with sw('training'): ...`; `sw.times` is {phase: seconds}.

    Phases may nest; a nested phase pauses the one around it, so every second is counted in
    exactly one phase and sum(sw.times.values()) is the wall time spent inside phases (a
    `drift` phase inside `stepping` is no longer counted twice). `clock` is injectable for tests.
    """

    def __init__(self, clock=time.perf_counter):
        self.times: dict[str, float] = {}
        self._clock = clock
        self._stack: list[str] = []
        self._since = 0.0

    def _charge(self, now: float) -> None:
        if self._stack:
            top = self._stack[-1]
            self.times[top] = self.times.get(top, 0.0) + now - self._since
        self._since = now

    def _now(self) -> float:
        if torch.cuda.is_available() and torch.cuda.is_initialized():
            torch.cuda.synchronize()
        return self._clock()

    @contextmanager
    def __call__(self, phase: str):
        self._charge(self._now())
        self._stack.append(phase)
        self.times.setdefault(phase, 0.0)
        try:
            yield
        finally:
            self._charge(self._now())
            self._stack.pop()



#: local error tolerance of the quick profile's adaptive steps (solvers.stepping), chosen from the
#: gaussian_mixture3d / anisotropic2d step-size study in the README
QUICK_TOL = 2e-3
#: largest rms particle displacement a step, in units of the thermal spread, of the quick profile's adaptive
#: steps (solvers.stepping's energy budget), per solver: on gaussian_mixture3d the fixed dt = 0.02 it replaces
#: drifted 0.88% in energy (sbp, whose learned score keeps |U| up near equilibrium) and 0.072% (blob); each
#: value keeps the adaptive run at or below that drift (docs/adaptive-steps.md). sbp's long-horizon cells no longer
#: use it (they project the energy back instead: solvers/sbp.py); pinn_pm_score's adaptive steps do
QUICK_MAX_MOVE = 3.6e-3
QUICK_MAX_MOVE_BLOB = 3e-3


def reduced_dt(profile: str, problem: Problem) -> float:
    """Fixed time step of the smoke profile: coarse on long horizons, the problem's stiff_dt where it declares one. For 'quick',
    the largest step of the adaptive rule (0.2 on horizons over 10, else 0.05; no stiff_dt: the error
    estimate finds the stiff transient itself)."""
    long_run = problem.T - problem.t0 > 10
    dt = {"smoke": 0.25 if long_run else 0.1, "quick": 0.2 if long_run else 0.05}[profile]
    return min(dt, problem.stiff_dt) if profile == "smoke" and problem.stiff_dt is not None else dt


def quick_steps(problem: Problem, max_move: float = QUICK_MAX_MOVE) -> dict:
    """Step fields of the quick profile: adaptive (dt None), dt_max from reduced_dt, tol QUICK_TOL, max_move."""
    return {"dt": None, "dt_max": reduced_dt("quick", problem), "tol": QUICK_TOL, "max_move": max_move}


def step_rule(cfg, energy_projection: bool = False):
    """The StepRule of a stepper config with fields dt (None: adaptive), dt_max, tol and max_move."""
    from solvers.stepping import StepRule
    return StepRule(cfg.dt, cfg.dt_max, cfg.tol, cfg.max_move, energy_projection)


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
    return problem.sample(n, seeds.INITIAL_PARTICLES.seed(seed))
