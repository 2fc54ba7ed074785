"""The grid of cells a command plans: every applicable solver x problem x constants x overrides x seed (issue 44:
planning lives in plan/, so that the commands that only read a run never import the execution stack)."""
from __future__ import annotations

from harness.plan.cell import Cell, Skipped


def plan(solver_names, problem_names, seeds, grids: dict | None = None, problem_grids: dict | None = None
         ) -> tuple[list[Cell], list[Skipped]]:
    """(cells, [Skipped]) for every applicable solver x problem x constants x overrides x seed.

    grids: {solver: [overrides, ...]} (from `harness.plan.overrides.grids` or a sweep's ladders); a solver
    not in it runs its profile's config once. problem_grids: {problem: [constants, ...]}
    (`harness.plan.overrides.problem_grids`). Order: problem, solver, overrides (as given), constants, seed.
    """
    import problems  # inside: importing harness.plan stays free of torch (tests/test_layering.py)
    import solvers
    cells, skipped = [], []
    for p_name in problem_names:
        problem = problems.get_problem(p_name)
        constants_list = (problem_grids or {}).get(p_name, [()])
        for s_name in solver_names:
            ok, why = solvers.get_solver(s_name).applies_to(problem)
            if not ok:
                skipped.append(Skipped(s_name, p_name, why))
                continue
            for overrides in (grids or {}).get(s_name, [()]):
                for constants in constants_list:
                    cells.extend(Cell(s_name, p_name, seed, overrides + constants) for seed in seeds)
    return cells, skipped
