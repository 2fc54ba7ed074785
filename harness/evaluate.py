"""Connects solvers and metrics: every metric that applies to a trajectory, as long-format rows.

Rows are dicts {t, metric, value}. What applies depends on the problem's references:
* exact solution (BKW), or a reference (problems.reference: SDE paths for the other Maxwell
  problems, ...): w1 vs exact (reference) samples of the same n with w1_mc_floor beside it; kde_l2
  with kde_l2_bias_floor and kde_l2_mc_floor (on the trajectory's density_particles when it
  has them, e.g. PINN-PM's 10^5 pushed samples, else on its particles); each row names its reference;
* exact solution only: rfd (if the solver has a score); trajectory_error vs the exact characteristics
  from the solver's own initial particles (protocol P1; exact_flow is cheap, so every solver gets its own).
* Maxwell (gamma = 0): cov_err and moment4_err from the closed moment system.
* always: kinetic_energy, energy_drift, momentum_drift; entropy_dissipation with the solver's score.
"""
from __future__ import annotations

import hashlib
import json
from functools import lru_cache
from pathlib import Path

import torch

import metrics
import problems
from problems import Problem, seeds
from solvers import Trajectory
from problems.characteristics import integrate_characteristics

from . import store

W1_MAX_EXACT = 4_000  # exact W1 up to this n a side; above, the mean over subsamples of this size


#: bump when a floor's definition changes: every cached floor is then recomputed
FLOOR_CACHE_VERSION = 1


def floor_cache_dir() -> Path:
    """Where floors are cached: beside the references (problems.reference.cache_dir()/floors)."""
    return problems.reference.cache_dir() / "floors"


def cached_floor(name: str, problem, t: float, n: int | None, seed: int | None, compute) -> float:
    """A floor (a number that depends only on the problem, its reference, t, n and seed, never on a solver),
    from the disk cache beside the references, else compute() stored there atomically. The key holds the
    problem's full repr (every constant; a ReferencedProblem's repr names its reference's fingerprint), so
    a changed problem or reference never reads a stale value; a damaged entry is recomputed. JSON keeps a
    float's repr, so a cached value is bit-identical to a computed one."""
    key = json.dumps([FLOOR_CACHE_VERSION, name, repr(problem), float(t), n, seed])
    path = floor_cache_dir() / (hashlib.sha256(key.encode()).hexdigest()[:24] + ".json")
    try:
        stored = json.loads(path.read_text())
        if isinstance(stored, dict) and stored.get("key") == key and isinstance(stored.get("value"), float):
            return stored["value"]
    except (OSError, ValueError):
        pass
    value = float(compute())
    try:
        store.atomic_write_text(path, json.dumps({"key": key, "value": value}))
    except OSError:  # a read-only cache: the value is still right, only not kept
        pass
    return value


@lru_cache(maxsize=64)
def _bias_floor(problem: Problem, t: float) -> float:
    return cached_floor("kde_l2_bias_floor", problem, t, None, None, lambda: metrics.kde_l2_bias_floor(problem, t))


@lru_cache(maxsize=256)
def _w1_floor(problem: Problem, t: float, n: int, seed: int) -> float:
    """W1 floor, computed once per (problem, t, n, seed) (cells of one rung, and of later runs, share it)."""
    return cached_floor("w1_mc_floor", problem, t, n, seed, lambda: metrics.w1_mc_floor(problem, t, n, seed))


@lru_cache(maxsize=256)
def _kde_floor(problem: Problem, t: float, n: int, seed: int) -> float:
    return cached_floor("kde_l2_mc_floor", problem, t, n, seed, lambda: metrics.kde_l2_mc_floor(problem, t, n, seed))


def _w1_rows(x: torch.Tensor, problem: Problem, t: float, seed: int) -> list[tuple[str, float]]:
    n = x.shape[0]
    ref = problem.sample_at(t, n, seeds.W1_REFERENCE.seed(seed))
    if n <= W1_MAX_EXACT:
        return [("w1", metrics.w1(x, ref)), ("w1_mc_floor", _w1_floor(problem, t, n, seed))]
    m = W1_MAX_EXACT
    mean, _ = metrics.w1_subsampled(x, ref, m=m, repeats=3, seed=seeds.W1_SUBSAMPLE.seed(seed))
    return [(f"w1_sub{m}", mean), (f"w1_sub{m}_mc_floor", _w1_floor(problem, t, m, seed))]


def reference_resolution(profile: str) -> str:
    """The reference resolution a profile is judged against: 'coarse' for smoke (CI), else 'fine'."""
    return "coarse" if profile == "smoke" else "fine"


def judged_problem(problem: Problem, profile: str = "quick", progress: bool = False):
    """(problem to measure W1/KDE against, reference kind): the problem itself if it has an exact solution,
    its reference (computed once, cached on disk) if one applies, else (None, None)."""
    kind = problems.reference_kind(problem)
    if kind == "exact":
        return problem, "exact"
    if kind is None:
        return None, None
    ref = problems.reference_for(problem, reference_resolution(profile), progress)
    return problems.with_reference(problem, ref), ref.kind


def evaluate(traj: Trajectory, problem: Problem, seed: int, profile: str = "quick") -> list[dict]:
    """All applicable metrics of `traj` at each snapshot time, as rows {t, metric, value, reference}.

    `reference` names what W1 and KDE numbers were measured against: 'exact', or the kind of the
    problem's reference ('sde', 'radial', ...); '' for metrics that need none."""
    rows: list[dict] = []
    add = lambda t, name, value, ref="": rows.append({"t": float(t), "metric": name, "value": float(value),
                                                       "reference": ref})
    v0 = traj.initial
    refs = {}
    if problem.has_exact_solution:
        refs = dict(zip(sorted(traj.times), integrate_characteristics(problem, v0, sorted(traj.times), 1e-10, 1e-12)))
    judged, kind = judged_problem(problem, profile)
    dens = traj.density_particles or traj.particles
    for t, x, s, xd in zip(traj.times, traj.particles, traj.scores, dens):
        add(t, "kinetic_energy", metrics.kinetic_energy(x))
        add(t, "energy_drift", metrics.energy_drift(x, v0))
        add(t, "momentum_drift", metrics.momentum_drift(x, v0))
        if s is not None:
            add(t, "entropy_dissipation", metrics.entropy_dissipation(x, s, problem.gamma, problem.C))
        if problem.gamma == 0:
            add(t, "cov_err", metrics.cov_err(x, problem, t))
            if hasattr(problem, "initial_central_moment4"):
                add(t, "moment4_err", metrics.moment4_err(x, problem, t))
        if judged is not None:
            for name, value in _w1_rows(x, judged, t, seed):
                add(t, name, value, kind)
            add(t, "kde_l2", metrics.kde_l2(xd, judged, t), kind)
            add(t, "kde_l2_bias_floor", _bias_floor(judged, t), kind)
            add(t, "kde_l2_mc_floor", _kde_floor(judged, t, xd.shape[0], seed), kind)
        if problem.has_exact_solution:
            add(t, "trajectory_error", metrics.trajectory_error(x, refs[t]), "exact")
            if s is not None:
                add(t, "rfd", metrics.rfd(s, problem.score(x, t), x), "exact")
    return rows
