"""Connects solvers and metrics: every registered metric (metrics.specs) that applies to a trajectory,
as long-format rows {t, metric, value, reference}.

Which metrics apply is the registry's decision (`metrics.specs.applicable`, from declared capabilities:
an exact solution, a reference, a score, Maxwell moments); this module builds the `Snapshot` each one
reads (the judged problem, the exact characteristics from the solver's own initial particles: protocol
P1) and caches floors (a floor depends only on the problem, its reference, t, n and seed) in memory and
on disk beside the references.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import problems
from metrics import specs
from problems import Problem
from problems.cases.characteristics import integrate_characteristics
from solvers import Trajectory

from harness.store import tables as store
from infra.files import read_text
from infra.rows import MetricRow
from infra.text import one_line

#: bump when a floor's definition or its arithmetic changes: every cached floor is then recomputed. 2: W1's cost
#: matrix from differences (scipy cdist, commit e19122b); floors cached before differ in the last bits
#: (w1_mc_floor of bkw2d at t = 2.5, n = 1000: 0.16060999950680793 cached, 0.1606099995068085 computed)
FLOOR_CACHE_VERSION = 2


def floor_cache_dir() -> Path:
    """Where floors are cached: beside the references (problems.references.base.cache_dir()/floors)."""
    return problems.references.base.cache_dir() / "floors"


def cached_floor(name: str, problem, t: float, n: int | None, seed: int | None, compute) -> float:
    """A floor (a number that depends only on the problem, its reference, t, n and seed, never on a solver),
    from the disk cache beside the references, else compute() stored there atomically. The key holds the
    problem's full repr (every constant; a ReferencedProblem's repr names its reference's fingerprint), so
    a changed problem or reference never reads a stale value; a damaged entry is recomputed. JSON keeps a
    float's repr, so a cached value is bit-identical to a computed one."""
    key = json.dumps([FLOOR_CACHE_VERSION, name, repr(problem), float(t), n, seed])
    path = floor_cache_dir() / (hashlib.sha256(key.encode()).hexdigest()[:24] + ".json")
    try:
        stored = json.loads(read_text(path))  # infra.files: a FIFO at the name is refused, never waited on
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


#: floors computed in this process, by (cache name, problem, t, n, seed): the cells of one rung share them
_FLOORS: dict[tuple, float] = {}


def clear_floor_memo() -> None:
    """Forget the floors computed in this process (the disk cache stays)."""
    _FLOORS.clear()


def _floor(spec, snap) -> float:
    """A floor metric's value at `snap`: from memory, else `cached_floor` (disk), else computed."""
    name, n, seed = spec.cache_key(snap)
    key = (name, snap.judged, float(snap.t), n, seed)
    if key not in _FLOORS:
        if len(_FLOORS) >= 512:
            _FLOORS.pop(next(iter(_FLOORS)))
        _FLOORS[key] = cached_floor(name, snap.judged, snap.t, n, seed, lambda: spec.compute(snap))
    return _FLOORS[key]


def judged_problem(problem: Problem, resolution: str = "fine", progress: bool = False):
    """(problem to measure W1/KDE against, reference kind): the problem itself if it has an exact solution,
    its reference at `resolution` (the run profile's `reference_resolution`: 'coarse' or 'fine'; computed once,
    cached on disk) if one applies, else (None, None)."""
    kind = problems.reference_kind(problem)
    if kind == "exact":
        return problem, "exact"
    if kind is None:
        return None, None
    ref = problems.reference_for(problem, resolution, progress)
    return problems.with_reference(problem, ref), ref.kind


def evaluate(traj: Trajectory, problem: Problem, seed: int, resolution: str = "fine",
             failures: list[str] | None = None, floors: list[dict] | None = None) -> list[dict]:
    """All applicable registered metrics of `traj` at each snapshot time, as rows {t, metric, value, reference},
    against the problem's reference at `resolution` (the run profile's `reference_resolution`).

    `reference` names what W1 and KDE numbers were measured against: 'exact', or the kind of the
    problem's reference ('sde', 'radial', ...); '' for metrics that need none. With a `failures` list, a
    metric that raises (a plugin's, say) loses only its own row: one line naming it, t and the error is
    appended there and the other metrics go on; without one, the error propagates. With a `floors` list, the
    floor distribution (infra.rows.FloorDistribution, as JSON) of every metric with a null law is appended there;
    its mean is the value of that metric's floor row (computed once per snapshot)."""
    v0 = traj.initial
    exact = {}
    if problem.has_exact_solution:
        exact = dict(zip(sorted(traj.times), integrate_characteristics(problem, v0, sorted(traj.times), 1e-10, 1e-12)))
    judged, kind = judged_problem(problem, resolution)
    dens = traj.density_particles or traj.particles
    named = {"judged": kind or "", "exact": "exact"}  # a spec's `reference` -> what the row names
    rows: list[dict] = []
    dets = traj.det_j or [None] * len(traj.times)
    densities = traj.densities or [None] * len(traj.times)
    previous = {}  # t -> (density, score) at the snapshot before t (the same particles: paired step errors)
    order = sorted(range(len(traj.times)), key=lambda k: traj.times[k])
    for a, b in zip(order, order[1:]):
        previous[traj.times[b]] = (densities[a], traj.scores[a])
    for t, x, s, xd, det, density in zip(traj.times, traj.particles, traj.scores, dens, dets, densities):
        before = previous.get(t, (None, None))
        snap = specs.Snapshot(float(t), x, s, xd, v0, problem, judged, kind or "", exact.get(t), seed, det, density,
                              own_score=bool(traj.score_is_own), previous_density=before[0], previous_score=before[1])
        applicable = specs.applicable(snap)
        means = {}  # floor name -> the mean of its metric's distribution at this snapshot
        names = {m.name for m in applicable}
        for spec in applicable:
            if spec.null is None or spec.floors[0] not in names:
                continue
            try:
                dist = specs.null_distribution(spec, snap)
            except Exception as exc:
                if failures is None:
                    raise
                failures.append(one_line(f"floor distribution of {spec.name} failed at t = {float(t):g}: "
                                         f"{type(exc).__name__}: {exc}"))
                continue
            means[spec.floors[0]] = dist.mean
            if floors is not None:
                floors.append(dist.to_json())
        for spec in applicable:
            try:
                value = means[spec.name] if spec.name in means else (
                    _floor(spec, snap) if spec.cache_key is not None else spec.compute(snap))
            except Exception as exc:
                if failures is None:
                    raise
                failures.append(one_line(f"metric {spec.name} failed at t = {float(t):g}: {type(exc).__name__}: {exc}"))
                continue
            rows.append(MetricRow(float(t), spec.name, float(value), named.get(spec.reference, "")).to_json())
    return rows
