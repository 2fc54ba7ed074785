"""A rough duration of a planned run, printed before it starts, and the order cells are handed out in.

The numbers are seconds a cell took on the 2-core CPU (one torch thread a cell, two cells at once)
in the runs of `benchmarks/bench_run_all.py` quoted in the README; a cell with overrides, a plugin
solver or the paper profile gets the solver's number or a profile default, so the estimate is an
order of magnitude, not a promise. Reference builds that are not in the cache are added once per
problem (`python -m harness references` shows their cost); the run builds them as tasks of their own before
the cells that need them (`harness.execute.reference_tasks`), so they do not change the order of the cells.
"""
from __future__ import annotations

import math

from harness.plan.cell import Cell
from harness.plan.profiles import Profile

#: seconds per cell (total: solve + evaluation, reference builds excluded) by profile, solver and problem,
#: measured by bench_run_all.py on the 2-core CPU (two cells at once, one thread each); "*" is the solver's
#: value on a problem not listed
CELL_SECONDS: dict[str, dict[str, dict[str, float]]] = {
    "smoke": {"sbp": {"gaussian_mixture3d": 29.0, "*": 2.0}, "blob": {"gaussian_mixture3d": 16.0, "*": 1.0},
              "*": {"*": 3.0}},
    "quick": {  # the mean of two bench_run_all.py runs, 2026-12-02 at 8f0f87c
        "sbp": {"gaussian_mixture3d": 24.0, "anisotropic2d": 24.0, "rosenbluth3d": 9.0, "*": 7.0},
        "blob": {"anisotropic2d": 3.6, "gaussian_mixture3d": 5.9, "*": 1.2},
        "exact_flow": {"*": 2.5},
        # solve seconds measured alone on one thread, 2026-12 (issue 45), plus about 0.5 s of evaluation
        # total seconds of the n = 1,000 cells of a sweep (floors cached), 2026-12-07 at 75fa38c, loaded machine
        "pairwise_collision": {"*": 1.0},
        "rbm_blob": {"anisotropic2d": 6.5, "gaussian_mixture3d": 4.3, "rosenbluth3d": 3.7, "*": 2.5},
        "pinn_pm_particle": {"bkw2d": 39.0, "bkw3d": 37.0, "gaussian_mixture3d": 31.0, "truncated2d": 31.0,
                             "rosenbluth3d": 25.0, "anisotropic2d": 21.0, "*": 30.0},
        "pinn_pm_score": {"bkw2d": 7.2, "bkw3d": 3.8, "*": 2.0},
        "pinn_pm_sc": {"anisotropic2d": 14.0, "rosenbluth3d": 18.0, "*": 28.0},  # 2026-12-02 at 9f37f3b
        # total seconds of one quick run each (issue 41, 2026-12-07, the shared 2-core CPU under load)
        "neural_flow": {"rosenbluth3d": 114.0, "anisotropic2d": 67.0, "bkw3d": 52.0, "*": 50.0},
    },
}
#: one reference build by (resolution, kind), seconds on one core of the 2-core CPU (inside a cell)
REFERENCE_SECONDS = {"coarse": {"sde": 5.0, "grid": 5.0, "radial": 1.0},
                     "fine": {"sde": 105.0, "grid": 40.0, "radial": 1.0}}  # 2026-12-02 at c3c4e4f (sde: 3D)



def _default_seconds(profile: Profile) -> float:
    """An estimate's seconds for a cell no measurement covers (the profile's `default_cell_seconds`)."""
    return profile.default_cell_seconds


#: the share of a trained cell's measured seconds that is training (the rest, evaluation, does not scale)
TRAINING_SHARE = 0.7


#: the share of a stepping cell's measured seconds that is its solve (scaled by (n / the profile's n)^cost_exponent,
#: the solver's declared exponent); the rest, evaluation, grows at most linearly with n (sorts, KDE sums)
SOLVE_SHARE = 0.7


def cell_seconds(cell: Cell, profile: Profile, scale_iters: bool = True) -> float:
    """The measured (or default) seconds of one cell of `profile`; with `scale_iters`, a trained solver's `iters`
    override scales the training share (TRAINING_SHARE) of it by iters / the profile's iters; an `n` override
    scales the solve share (SOLVE_SHARE) by (n / n0)^b, b the solver's declared `cost_exponent`, n0 the profile's
    n, and the evaluation share by max(1, n / n0)."""
    table = CELL_SECONDS.get(profile.name, {})
    per_problem = table.get(cell.solver, table.get("*")) or {}
    seconds = per_problem.get(cell.problem, per_problem.get("*", _default_seconds(profile)))
    overrides = cell.solver_overrides()
    iters = overrides.get("iters") if scale_iters else None
    n = overrides.get("n")
    if not (isinstance(iters, int) and iters > 0) and not (isinstance(n, int) and n > 0):
        return seconds
    try:
        import solvers
        cls = solvers.get_solver(cell.solver)
        base = cls.profile_config(profile.name, cell.make_problem())
    except Exception:  # an estimate must never stop a run
        return seconds
    default = getattr(base, "iters", None)
    if isinstance(iters, int) and iters > 0 and isinstance(default, int) and default > 0:
        seconds *= (1 - TRAINING_SHARE) + TRAINING_SHARE * iters / default
    n0, b = getattr(base, "n", None), getattr(cls, "cost_exponent", None)
    if isinstance(n, int) and n > 0 and isinstance(n0, int) and n0 > 0 and isinstance(b, (int, float)):
        seconds *= (1 - SOLVE_SHARE) * max(1.0, n / n0) + SOLVE_SHARE * (n / n0) ** b
    return seconds


def missing_reference(problem, resolution: str) -> str | None:
    """The kind of `problem`'s reference (a Problem, its constants applied) if its cache file is not in the cache
    yet, else None (also for a problem with an exact solution or no reference method). The file is the builder's
    own (`problems.references.base.reference_cache_path`, the key the builder reads and writes), looked at without
    loading it: a file of another key (other constants, older builder parameters) is not cached, so the reference
    task rebuilds it rather than a cell. A builder registered without a cache key is always built by its task."""
    import problems
    from problems.references.base import is_cached
    kind = problems.reference_kind(problem)
    if kind in (None, "exact"):
        return None
    return None if is_cached(problem, resolution, kind) else kind


def reference_seconds(kind: str, resolution: str) -> float:
    """The seconds of one reference build of `kind` at `resolution` (REFERENCE_SECONDS; 60 s for a kind it lacks)."""
    return REFERENCE_SECONDS.get(resolution, {}).get(kind, 60.0)


def _reference_missing(problem_name: str, resolution: str) -> str | None:
    """The kind of the problem's reference if it is not in the cache yet, else None (`missing_reference`)."""
    import problems
    return missing_reference(problems.get_problem(problem_name), resolution)


def _missing_reference_seconds(cells: list[Cell], profile: Profile) -> dict[str, float]:
    """{problem: seconds of its reference build} for the planned problems whose reference is not cached."""
    resolution = profile.reference_resolution
    out = {}
    for name in sorted({c.problem for c in cells}):
        try:
            kind = _reference_missing(name, resolution)
        except Exception:  # an estimate must never stop a run
            kind = None
        if kind:
            out[name] = reference_seconds(kind, resolution)
    return out


def estimate_seconds(cells: list[Cell], profile: Profile, jobs: int) -> float:
    """Rough wall seconds of running `cells` on `jobs` workers: the cells' seconds plus missing reference
    builds, spread over the workers, and never less than the longest cell."""
    if not cells:
        return 0.0
    per_cell = [cell_seconds(c, profile) for c in cells]
    refs = sum(_missing_reference_seconds(cells, profile).values())
    return max(max(per_cell), (sum(per_cell) + refs) / max(jobs, 1))


def describe_estimate(seconds: float) -> str:
    """'about 40 s' / 'about 7 min' / 'about 2.5 h'."""
    if seconds < 90:
        return f"about {max(5, 5 * round(seconds / 5)):.0f} s"
    if seconds < 5_400:
        return f"about {math.ceil(seconds / 60):.0f} min"
    return f"about {seconds / 3600:.1f} h"


def dispatch_order(cells: list[Cell], profile: Profile) -> list[Cell]:
    """Cells in the order workers take them: longest first (so the last wave is short), except that a variant
    that reuses another's training (pinn_pm_score after pinn_pm_particle: one training per key) goes after every
    cell that trains, so two workers never wait on the same training. Equal estimates keep their given order (a
    sweep's ladder stays ascending). A reference that is not cached yet is a task of its own, handed out before
    every cell (`harness.execute.reference_tasks`); the cells that need it keep their place in this order among
    the cells that are ready when it is built."""
    trains_first = {"pinn_pm_score": 1}
    cost = {id(c): cell_seconds(c, profile, scale_iters=False) for c in cells}  # a ladder's rungs tie: kept ascending
    return sorted(cells, key=lambda c: (trains_first.get(c.solver, 0), -cost[id(c)]))
