"""The cells of a `run`, `sweep` or `diagnose`: from the names and --set options on the command line, or from
the manifest `--resume DIR` alone continues; then the checks every planned cell must pass before any runs."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import problems
import solvers

from harness.cli.common import UsageError, check_names
from harness.cli.resume import manifest_cells
from harness.plan.grid import plan
from harness.plan.cell import Cell, Skipped, distinct_configs
from harness.plan.diagnosis import COMPANIONS, SOLVER as DIAGNOSIS_SOLVER, VARIANTS, plan_diagnosis, variant_key
from harness.plan.limits import SizeError, check_cells
from harness.plan.overrides import grids, label, problem_grids
from harness.plan.profiles import Profile
from harness.plan.sweep import SWEEP_SOLVERS, plan_sweep
from harness.store.manifest import RunManifest


@dataclass
class Planned:
    """A run's cells, the (solver, problem) pairs left out, the names its config records and, for a
    diagnosis, {problem: {overrides label: variant}}."""

    cells: list[Cell]
    skipped: list[Skipped]
    solver_names: list[str]
    problem_names: list[str]
    diagnosis: dict[str, dict[str, str]] | None


def plan_resumed(manifest: RunManifest, resume: str) -> Planned:
    """The cells `--resume DIR` alone continues: those its manifest lists (their names must be registered)."""
    cells = manifest_cells(manifest, Path(resume))
    solver_names = sorted({c.solver for c in cells})
    problem_names = sorted({c.problem for c in cells})
    check_names(solver_names, solvers.list_solvers(), "solver")
    check_names(problem_names, problems.list_problems(), "problem")
    return Planned(cells, [], solver_names, problem_names, manifest.config.diagnosis)


def plan_new(args, sweep: bool, diagnose: bool, options, profile: Profile, seeds, diagnosis) -> Planned:
    """The cells the command line names at `profile` (`diagnosis`: the resumed run's, kept unless this is a diagnosis);
    UsageError if no selected solver applies to a selected problem."""
    if diagnose:
        check_names(args.problem, problems.list_problems(), "problem")
        cells, skipped, diagnosis = diagnosis_cells(args, options, profile, seeds)
        return Planned(cells, skipped, sorted({c.solver for c in cells}), list(args.problem), diagnosis)
    solver_names, problem_names = select(args, sweep)
    classes = {s: solvers.get_solver(s) for s in solver_names}
    if sweep:
        cells, skipped = plan_sweep(classes, [problems.get_problem(p) for p in problem_names], profile, options,
                                   seeds)
    else:
        cells, skipped = plan(solver_names, problem_names, seeds or [0], grids(options, classes),
                                     problem_grids(options, problem_names))
    if not cells:
        raise no_cell_error(skipped, problem_names)
    return Planned(cells, skipped, solver_names, problem_names, diagnosis)


def select(args, sweep: bool):
    """(solver names, problem names) named on the command line; UsageError for unknown names."""
    all_solvers = [s for s in solvers.list_solvers() if not s.startswith("_")]
    check_names(args.solver, all_solvers, "solver")
    check_names(args.problem, problems.list_problems(), "problem")
    if sweep:
        if not args.problem and not args.all:
            raise UsageError("give at least one -p PROBLEM (or --all) to sweep")
        default = [s for s in SWEEP_SOLVERS if s in all_solvers]
        return args.solver or default, args.problem or problems.list_problems()
    if args.all:
        return args.solver or all_solvers, args.problem or problems.list_problems()
    if not args.solver or not args.problem:
        raise UsageError("give --all, or at least one -s SOLVER and one -p PROBLEM")
    return args.solver, args.problem


def no_cell_error(skipped: list, problem_names: list[str]) -> UsageError:
    """The error of a plan with no cell: why each pair was skipped, and the solvers of each problem."""
    all_solvers = [s for s in solvers.list_solvers() if not s.startswith("_")]
    hints = []
    for p in problem_names:
        valid = [x for x in all_solvers if solvers.get_solver(x).applies_to(problems.get_problem(p))[0]]
        hints.append(f"solvers for {p}: {', '.join(valid) or 'none'}")
    reasons = "; ".join(f"solver {s.solver!r} does not apply to {s.problem!r} ({s.why})" for s in skipped)
    return UsageError(f"no selected solver applies to a selected problem: {reasons}; {'; '.join(hints)}")


def diagnosis_cells(args, options, profile: Profile, seeds):
    """(cells, skipped, {problem: {overrides label: variant}}) of `diagnose`: -p is required, -s and --all are
    not options, every --set takes one value (it is the budget all variants share)."""
    if args.solver or args.all:
        raise UsageError(f"diagnose runs {DIAGNOSIS_SOLVER}, its ablations and {', '.join(COMPANIONS)}; give -p PROBLEM "
                         f"only (no -s, no --all)")
    if not args.problem:
        raise UsageError(f"give at least one -p PROBLEM to diagnose; valid problems: {', '.join(problems.list_problems())}")
    if any(o.solver is not None and o.solver in problems.list_problems() for o in options):
        raise UsageError("diagnose does not take problem constants; run the variants with `run --set PROBLEM.FIELD=...`")
    grid = grids(options, {DIAGNOSIS_SOLVER: solvers.get_solver(DIAGNOSIS_SOLVER)})[DIAGNOSIS_SOLVER]
    if len(grid) != 1:
        raise UsageError("diagnose takes one value per --set field (the budget every variant shares), not a grid")
    only = _variants(args.variants)
    cells, names = plan_diagnosis(args.problem, profile, dict(grid[0]), seeds=tuple(seeds or [0]), only=only)
    if not cells:
        raise UsageError(f"no variant of {', '.join(only or [])} applies to {', '.join(args.problem)}")
    diagnosis: dict[str, dict[str, str]] = {}
    for (p_name, solver, overrides), name in names.items():
        diagnosis.setdefault(p_name, {})[variant_key(solver, label(overrides))] = name
    return cells, [], diagnosis


def _variants(text: str | None) -> list[str] | None:
    """--variants as a list of known variant names (None: all); UsageError naming an unknown one."""
    if text is None:
        return None
    only = [v.strip() for v in text.split(",") if v.strip()]
    valid = [*VARIANTS, *COMPANIONS]
    bad = [v for v in only if v not in valid]
    if bad or not only:
        raise UsageError(f"unknown diagnosis variant {(bad or [text])[0]!r}; valid variants: {', '.join(valid)}")
    return only


def check_planned(cells, profile: str, force: bool) -> None:
    """UsageError (one line, nothing run) for the first cell whose config its solver refuses on its problem
    (`Solver.refusal`, e.g. an oracle ablation the problem has no oracle for), then, unless --force, for cells
    too big to run (harness.plan.limits)."""
    for cell, problem, cfg in distinct_configs(cells, profile):
        why = solvers.get_solver(cell.solver).refusal(cfg, problem)
        if why:
            raise UsageError(f"{cell.describe()}: {why}")
    if force:
        return
    try:
        check_cells(cells, profile)
    except SizeError as exc:
        raise UsageError(str(exc)) from None
