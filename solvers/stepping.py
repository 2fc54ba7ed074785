"""Explicit Euler time stepping to a list of snapshot times, shared by the time-stepping solvers.

Two step rules (`StepRule`), both hitting every snapshot exactly:

* fixed (`dt` a number): each interval [t_{k-1}, t_k] between snapshots is cut into
  ceil((t_k - t_{k-1}) / dt) equal steps, so no step exceeds dt (the paper's dt = 0.01);
* adaptive (`dt = None`): Euler with the Heun-Euler embedded error estimate. A step of size h
  from v_n with velocity U_n = U(v_n, t_n) proposes v_{n+1} = v_n + h U_n; the local error of
  Euler against Heun's second-order step is

      err = (h / 2) * rms_i |U(v_{n+1}, t_n + h) - U_n|_2 / sigma,         sigma = sqrt(E|v - m|^2 / d)

  (rms over particles, sigma the initial thermal spread, so `tol` is a displacement per step in
  units of the distribution's width). The step is accepted when err <= tol, and the next h is
  h * clip(0.9 sqrt(tol / err), 0.2, 2) (Euler's local error is O(h^2)), at most `dt_max`.

  Energy budget (`max_move`): the particle drift conserves kinetic energy exactly,
  sum_i v_i . U_i = 0 for any score, so an Euler step raises mean |v|^2 by exactly h^2 mean |U|^2,
  and the energy drift at T is sum_n h_n^2 mean|U_n|^2. For a given number of steps this sum is
  smallest when h_n rms|U_n| is the same for every step, so every step is also limited to a root-
  mean-square particle displacement h rms|U_n| <= max_move * sigma. The energy drift is then at most
  max_move * sigma * int rms|U| dt / E0 (recorded as `energy_increment`, Euler's exact share of the
  drift). Without it, sbp on gaussian_mixture3d, whose learned score keeps |U| away from 0 near
  equilibrium, drifted 2.6% in energy at dt_max = 0.2 against 0.88% with the fixed dt = 0.02.

Why this rule and not a stability bound: the stiffness of the particle drift is where the score
is steep (gaussian_mixture3d's sd-0.2 component: dt C |v|^2 / sd^2 < ~1), and only for a short
transient; the error estimate finds that from the particles themselves, needs no per-solver
Jacobian, and for a solver whose velocity is a pure function of (v, t) (blob, pinn_pm_score) it
costs nothing extra: the trial velocity is the next step's velocity when the step is accepted
(first same as last). A solver whose velocity has side effects (sbp retrains its score net at
each new time) passes `trial_velocity`, a side-effect-free evaluation with the current model,
so a rejected step costs one drift and retrains nothing. The estimate then measures the Euler
error of the flow in the frozen score field, the part that limits stability.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import torch
from tqdm.auto import tqdm

Velocity = Callable[[torch.Tensor, float], torch.Tensor]

#: an adaptive step never shrinks below this fraction of dt_max (it is then accepted and counted)
MIN_STEP_FRACTION = 1e-4


@dataclass(frozen=True)
class StepRule:
    """Fixed steps of at most `dt`, or adaptive steps (dt None) of at most `dt_max` at local tolerance `tol`."""

    dt: float | None
    dt_max: float = 0.2
    tol: float = 2e-3
    max_move: float = 0.0  # largest rms displacement per step in units of sigma (adaptive only; 0 = no limit)
    #: after every step, restore the particles' mean and kinetic energy about it (`project_energy`): Euler's
    #: only energy error, h^2 mean|U|^2 a step, is removed, so no step needs to be limited for energy (max_move 0)
    energy_projection: bool = False

    def __post_init__(self):
        if self.dt is not None and not self.dt > 0:
            raise ValueError(f"dt must be positive (or None for adaptive steps), got {self.dt}")
        if self.dt is None and not (self.dt_max > 0 and self.tol > 0 and self.max_move >= 0):
            raise ValueError(f"adaptive steps need dt_max > 0, tol > 0 and max_move >= 0, got dt_max={self.dt_max}, "
                             f"tol={self.tol}, max_move={self.max_move}")

    @property
    def adaptive(self) -> bool:
        return self.dt is None


@dataclass
class StepStats:
    """What an integration did: accepted and rejected steps, smallest and largest accepted step."""

    accepted: int = 0
    rejected: int = 0
    h_min: float = math.inf
    h_max: float = 0.0
    at_min_step: int = 0  # accepted only because the step could not shrink further
    energy_increment: float = 0.0  # sum h^2 mean|U|^2 / E0: Euler's share of the relative energy drift (adaptive)
    projection_max: float = 0.0  # largest |factor - 1| of project_energy over the steps (energy_projection only)
    dt_clipped: bool = False  # a fixed dt larger than a snapshot gap: steps were cut to the gap
    smallest_gap: float = math.inf

    def accept(self, h: float) -> None:
        self.accepted += 1
        self.h_min, self.h_max = min(self.h_min, h), max(self.h_max, h)

    def as_info(self) -> dict:
        """The cell's info entries: steps, rejected_steps, h_min, h_max (and at_min_step when > 0)."""
        info = {"steps": self.accepted, "rejected_steps": self.rejected,
                "h_min": self.h_min if self.accepted else None, "h_max": self.h_max if self.accepted else None}
        if self.at_min_step:
            info["at_min_step"] = self.at_min_step
        if self.energy_increment:
            info["euler_energy_increment"] = self.energy_increment
        if self.projection_max:
            info["energy_projection_max"] = self.projection_max
        if self.dt_clipped:
            info["dt_note"] = (f"dt is larger than the shortest snapshot interval ({self.smallest_gap:g}): that "
                               f"interval was taken in one step")
        return info


def project_energy(v: torch.Tensor, mean0: torch.Tensor, spread0: float) -> tuple[torch.Tensor, float]:
    """(v', |factor - 1|) with v' = mean0 + factor (v - mean(v)), factor = sqrt(spread0 / mean|v - mean(v)|^2):
    the (N, d) particles moved back to the mean mean0 (d,) and the mean squared deviation spread0 they started
    with, which the exact particle system conserves for any score (sum_i U_i = 0 and sum_i v_i . U_i = 0) and
    an Euler step changes only by h^2 mean|U|^2 (the mean by round-off). |factor - 1| is the relative size of
    the correction, recorded so that a run shows how much was projected."""
    centred = v - v.mean(0)
    spread = float(centred.pow(2).sum(-1).mean())
    factor = math.sqrt(spread0 / spread) if spread > 0 else 1.0
    return mean0 + factor * centred, abs(factor - 1.0)


def step_schedule(t0: float, snapshot_times, dt: float) -> list[tuple[float, float, float | None]]:
    """List of (t, h, snapshot time reached by this step or None) from t0 through every snapshot."""
    if dt <= 0:
        raise ValueError(f"dt must be positive, got {dt}")
    steps, t = [], t0
    for tk in sorted(snapshot_times):
        if tk <= t + 1e-12:
            continue
        m = math.ceil((tk - t) / dt - 1e-9)
        h = (tk - t) / m
        for i in range(m):
            steps.append((t + i * h, h, tk if i == m - 1 else None))
        t = tk
    return steps


def _check_finite(v: torch.Tensor, t: float) -> None:
    if not torch.isfinite(v).all():
        raise FloatingPointError(f"particles became non-finite by t = {t:g}")


def euler_integrate(
    v0: torch.Tensor,
    t0: float,
    snapshot_times,
    dt: float,
    velocity: Velocity,
    on_snapshot: Callable[[float, torch.Tensor], None],
    progress: bool = False,
    desc: str = "stepping",
    on_step: Callable[[float, torch.Tensor], None] | None = None,
    project: Callable[[torch.Tensor], torch.Tensor] | None = None,
) -> tuple[torch.Tensor, int]:
    """Fixed steps: v_{n+1} = v_n + h U(v_n, t_n) (then `project`ed, if given); on_snapshot(t, v) at t0 (if a
    snapshot) and each snapshot, on_step(t_n, v_n) before each step. Raises FloatingPointError naming the time if
    the particles stop being finite. Returns the final particles and the number of steps."""
    v = v0
    if any(abs(t0 - tk) < 1e-12 for tk in snapshot_times):
        on_snapshot(t0, v)
    schedule = step_schedule(t0, snapshot_times, dt)
    for t, h, snap in tqdm(schedule, desc=desc, disable=not progress, leave=False, mininterval=1.0):
        if on_step is not None:
            on_step(t, v)
        v = v + h * velocity(v, t)
        if project is not None:
            v = project(v)
        if snap is not None:
            _check_finite(v, snap)
            on_snapshot(snap, v)
    return v, len(schedule)


def integrate(
    v0: torch.Tensor,
    t0: float,
    snapshot_times,
    rule: StepRule,
    velocity: Velocity,
    on_snapshot: Callable[[float, torch.Tensor], None],
    progress: bool = False,
    desc: str = "stepping",
    trial_velocity: Velocity | None = None,
    on_step: Callable[[float, torch.Tensor], None] | None = None,
) -> tuple[torch.Tensor, StepStats]:
    """Euler from (t0, v0 (N, d)) through every snapshot time with `rule` (see the module docstring).

    velocity(v, t) -> (N, d) is called once at the start of every accepted step; trial_velocity (default:
    velocity itself, reused as the next step's) evaluates a proposed step. on_step(t_n, v_n) runs before
    each accepted step, on_snapshot(t, v) at t0 (if a snapshot) and each snapshot. Returns the final
    particles and the StepStats."""
    stats = StepStats()
    project = None
    if rule.energy_projection:
        mean0, spread0 = v0.mean(0), float((v0 - v0.mean(0)).pow(2).sum(-1).mean())

        def project(v: torch.Tensor) -> torch.Tensor:
            v, size = project_energy(v, mean0, spread0)
            stats.projection_max = max(stats.projection_max, size)
            return v
    if not rule.adaptive:
        v, steps = euler_integrate(v0, t0, snapshot_times, rule.dt, velocity, on_snapshot, progress, desc, on_step,
                                   project)
        for _, h, _ in step_schedule(t0, snapshot_times, rule.dt):
            stats.accept(h)
        times = sorted(snapshot_times)
        gaps = [b - a for a, b in zip([t0, *times], times) if b > a + 1e-12]
        stats.dt_clipped = bool(gaps) and min(gaps) < rule.dt - 1e-12
        stats.smallest_gap = min(gaps) if gaps else math.inf
        return v, stats
    v, t = v0, float(t0)
    if any(abs(t0 - tk) < 1e-12 for tk in snapshot_times):
        on_snapshot(t, v)
    targets = [tk for tk in sorted(snapshot_times) if tk > t0 + 1e-12]
    if not targets:
        return v, stats
    sigma = float(((v - v.mean(0)) ** 2).sum(-1).mean().sqrt()) / math.sqrt(v.shape[-1]) or 1.0
    h_floor = MIN_STEP_FRACTION * rule.dt_max
    u = velocity(v, t)
    speed = float(u.pow(2).sum(-1).mean().sqrt())
    h = min(rule.dt_max, 0.1 * sigma / speed) if speed > 0 else rule.dt_max  # first guess: 10% of sigma
    horizon = targets[-1]
    e0 = float(v.pow(2).sum(-1).mean())

    def energy_cap(u: torch.Tensor) -> float:
        speed = float(u.pow(2).sum(-1).mean().sqrt())
        return rule.max_move * sigma / speed if rule.max_move > 0 and speed > 0 else math.inf

    bar = tqdm(total=round(horizon - t0, 6), desc=desc, disable=not progress, leave=False, mininterval=1.0,
               bar_format="{l_bar}{bar}| t {n:.3g}/{total:.3g} [{elapsed}<{remaining}]")
    for target in targets:
        while t < target - 1e-12:
            h_try = min(h, energy_cap(u), target - t)
            reaches = h_try >= target - t - 1e-12
            v_new = v + h_try * u
            u_new = (trial_velocity or velocity)(v_new, target if reaches else t + h_try)
            diff = float((u_new - u).pow(2).sum(-1).mean().sqrt())
            err = 0.5 * h_try * diff / sigma if math.isfinite(diff) else math.inf
            if err > rule.tol and h_try > h_floor:
                stats.rejected += 1
                h = max(h_floor, h_try * max(0.2, 0.9 * math.sqrt(rule.tol / err)) if math.isfinite(err) else h_try * 0.2)
                continue
            if err > rule.tol and h_try < energy_cap(u):
                stats.at_min_step += 1
            if on_step is not None:
                on_step(t, v)
            stats.accept(h_try)
            stats.energy_increment += h_try * h_try * float(u.pow(2).sum(-1).mean()) / e0
            t_new = target if reaches else t + h_try
            bar.update(round(t_new - t, 9))
            grow = min(2.0, 0.9 * math.sqrt(rule.tol / err)) if err > 0 else 2.0
            h = min(rule.dt_max, max(h_try * grow, h) if reaches else h_try * grow)
            v, t = (v_new if project is None else project(v_new)), t_new
            if reaches:
                _check_finite(v, t)
                on_snapshot(t, v)
            if t < horizon - 1e-12:
                u = u_new if trial_velocity is None and project is None else velocity(v, t)
    bar.close()
    return v, stats
