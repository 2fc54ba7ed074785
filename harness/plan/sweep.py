"""`python -m harness sweep`: the default resolution ladders of a work-precision study.

A sweep is an ordinary run whose cells carry config overrides: the same run directory, resume,
manifest and tables. Only the default cells differ:

* time steppers (sbp, blob, any solver whose config has `n` and no `iters`): a doubling ladder
  of N around the profile's N, n x {1/4, 1/2, 1, 2, 4}, seeds 0, 1 (a seed spread on every rung within
  the 20-minute CPU budget of the default bkw2d sweep);
* trained solvers (config with `iters`, `n` and `checkpoint_every`, i.e. PINN-PM): training
  iterations {1/6, 1/3, 2/3, 1} x max(the profile's `iters`, its Profile.sweep_top_iters), rounded to multiples of
  `checkpoint_every`, so every rung is a checkpoint of ONE training (cells of a ladder run in
  increasing order and each loads the previous rung's checkpoint); then N (training particles)
  at {1/4, 1/2} x the profile's N at the full `iters`; seed 0 (each seed is a full training).

`--set` replaces a ladder field (`--set sbp.n=500,1000`) or adds one (`--set dt=0.02` to every
rung); `--seeds` replaces every solver's seeds.
"""
from __future__ import annotations

import dataclasses
import itertools

from harness.plan.cell import Cell, Skipped
from harness.plan.profiles import Profile
from harness.plan.overrides import SetOption, grids, problem_grids

SWEEP_SOLVERS = ("sbp", "blob", "pinn_pm_particle", "pinn_pm_score")
STEPPER_FACTORS = (0.25, 0.5, 1, 2, 4)
ITER_FRACTIONS = (1 / 6, 1 / 3, 2 / 3, 1)
TRAINED_N_FACTORS = (0.25, 0.5)
STEPPER_SEEDS = (0, 1)
TRAINED_SEEDS = (0,)


def is_trained(solver_cls) -> bool:
    """True for solvers trained once for all times (config fields iters, n, checkpoint_every)."""
    names = {f.name for f in dataclasses.fields(solver_cls.Config)}
    return {"iters", "n", "checkpoint_every"} <= names


def default_ladders(solver_cls, profile: Profile, problem) -> list[dict[str, list]]:
    """The solver's default ladders on `problem` at `profile` as [{field: [values]}]; each dict is a cartesian
    product."""
    base = solver_cls.profile_config(profile.name, problem)
    names = {f.name for f in dataclasses.fields(base)}
    if is_trained(solver_cls):
        step = max(1, base.checkpoint_every)
        top = max(base.iters, profile.sweep_top_iters or 0)
        iters = sorted({max(step, round(top * f / step) * step) for f in ITER_FRACTIONS})
        ns = sorted({max(2, int(base.n * f)) for f in TRAINED_N_FACTORS} - {base.n})
        return [{"iters": iters}, {"n": ns, "iters": [base.iters]}]
    if "n" in names:
        return [{"n": sorted({max(2, int(base.n * f)) for f in STEPPER_FACTORS})}]
    return [{}]


def default_seeds(solver_cls) -> tuple[int, ...]:
    """Seeds of a solver's ladder: three for steppers, one for trained solvers (one training each)."""
    return TRAINED_SEEDS if is_trained(solver_cls) else STEPPER_SEEDS


def plan_sweep(solver_classes: dict[str, type], problem_list, profile: Profile, options: list[SetOption],
               seeds: list[int] | None) -> tuple[list[Cell], list[Skipped]]:
    """(cells, [Skipped]) of a sweep: every applicable (problem, solver), its ladders with `options`
    applied (a --set field replaces that ladder field or is added to every rung), seeds innermost."""
    user = grids(options, solver_classes)  # validates every option against the selected solvers
    constants_by_problem = problem_grids(options, [p.name for p in problem_list])
    set_fields = {s: dict(g[0]) if g else {} for s, g in user.items()}
    cells, skipped = [], []
    for problem in problem_list:
        for name, cls in solver_classes.items():
            ok, why = cls.applies_to(problem)
            if not ok:
                skipped.append(Skipped(name, problem.name, why))
                continue
            user_values = _values_by_field(user[name]) if set_fields[name] else {}
            seen = set()
            for ladder in default_ladders(cls, profile, problem):
                merged = {**ladder, **user_values}
                keys = sorted(merged)
                for combo in itertools.product(*(merged[k] for k in keys)):
                    overrides = tuple(zip(keys, combo))
                    if overrides in seen:
                        continue
                    seen.add(overrides)
                    cells.extend(Cell(name, problem.name, seed, overrides + constants)
                                 for constants in constants_by_problem[problem.name]
                                 for seed in (seeds if seeds is not None else default_seeds(cls)))
    return cells, skipped


def _values_by_field(overrides_list) -> dict[str, list]:
    """{field: distinct values in order} of a list of override tuples (the user's grid for one solver)."""
    out: dict[str, list] = {}
    for overrides in overrides_list:
        for k, v in overrides:
            if v not in out.setdefault(k, []):
                out[k].append(v)
    return out
