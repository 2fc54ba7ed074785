"""A rough duration of a planned run, printed before it starts, and the order cells are handed out in.

The numbers are seconds a cell took on the 2-core CPU (one torch thread a cell, two cells at once)
in the runs of `benchmarks/bench_run_all.py` quoted in the README; a cell with overrides, a plugin
solver or the paper profile gets the solver's number or a profile default, so the estimate is an
order of magnitude, not a promise. Reference builds that are not in the cache are added once per
problem (`python -m harness references` shows their cost).
"""
from __future__ import annotations

import math

import problems

from .cell import Cell

#: seconds per cell (total: solve + evaluation) by profile, solver and problem, measured (see module docstring)
CELL_SECONDS: dict[str, dict[str, float]] = {
    "smoke": {"sbp": 2.0, "blob": 1.0, "exact_flow": 1.0, "pinn_pm_particle": 4.0, "pinn_pm_score": 3.0},
    "quick": {"sbp": 30.0, "blob": 12.0, "exact_flow": 8.0, "pinn_pm_particle": 60.0, "pinn_pm_score": 25.0},
}
#: a solver or profile without a measurement
DEFAULT_CELL_SECONDS = {"smoke": 5.0, "quick": 60.0, "paper": 1_800.0}
#: one reference build by (resolution, kind), seconds on the 2-core CPU
REFERENCE_SECONDS = {"coarse": {"sde": 5.0, "grid": 5.0, "radial": 1.0},
                     "fine": {"sde": 60.0, "grid": 55.0, "radial": 1.0}}


def cell_seconds(cell: Cell, profile: str) -> float:
    """The measured (or default) seconds of one cell of `profile`."""
    return CELL_SECONDS.get(profile, {}).get(cell.solver, DEFAULT_CELL_SECONDS.get(profile, 60.0))


def _reference_missing(problem_name: str, resolution: str) -> str | None:
    """The kind of the problem's reference if it is not in the cache yet, else None."""
    from problems.reference import cache_dir
    problem = problems.get_problem(problem_name)
    kind = problems.reference_kind(problem)
    if kind in (None, "exact"):
        return None
    return None if any(cache_dir().glob(f"{problem.name}-{kind}-{resolution}-*.npz")) else kind


def estimate_seconds(cells: list[Cell], profile: str, jobs: int) -> float:
    """Rough wall seconds of running `cells` on `jobs` workers: the cells' seconds plus missing reference
    builds, spread over the workers, and never less than the longest cell."""
    if not cells:
        return 0.0
    resolution = "coarse" if profile == "smoke" else "fine"
    per_cell = [cell_seconds(c, profile) for c in cells]
    refs = 0.0
    for name in sorted({c.problem for c in cells}):
        try:
            kind = _reference_missing(name, resolution)
        except Exception:  # an estimate must never stop a run
            kind = None
        if kind:
            refs += REFERENCE_SECONDS[resolution].get(kind, 60.0)
    return max(max(per_cell), (sum(per_cell) + refs) / max(jobs, 1))


def describe_estimate(seconds: float) -> str:
    """'about 40 s' / 'about 7 min' / 'about 2.5 h'."""
    if seconds < 90:
        return f"about {max(5, 5 * round(seconds / 5)):.0f} s"
    if seconds < 5_400:
        return f"about {math.ceil(seconds / 60):.0f} min"
    return f"about {seconds / 3600:.1f} h"


def dispatch_order(cells: list[Cell], profile: str) -> list[Cell]:
    """Cells in the order workers take them: longest first (so the last wave is short), except that a
    variant that reuses another's training (pinn_pm_score after pinn_pm_particle: one training per key)
    goes after every cell that trains, so two workers never wait on the same training."""
    trains_first = {"pinn_pm_score": 1}
    return sorted(cells, key=lambda c: (trains_first.get(c.solver, 0), -cell_seconds(c, profile)))
