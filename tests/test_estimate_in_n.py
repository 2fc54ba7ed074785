"""The run estimate scales a cell's measured seconds with an `n` override by the solver's declared cost exponent
(solvers.base.Solver.cost_exponent; harness.plan.estimate.SOLVE_SHARE), so a sweep to N = 100,000 is not estimated
at the seconds of N = 1,000."""
import pytest

import solvers
from harness.plan import estimate
from harness.plan.cell import Cell
from harness.plan.profiles import get_profile
from problems import get_problem

QUICK = get_profile("quick")


def _base(solver: str, problem: str) -> int:
    return solvers.get_solver(solver).profile_config("quick", get_problem(problem)).n


@pytest.mark.parametrize("solver,exponent", [("rbm_blob", 1.0), ("pairwise_collision", 1.0), ("sbp", 2.0),
                                             ("blob", 2.0), ("exact_flow", 1.0)])
def test_declared_exponents(solver, exponent):
    assert solvers.get_solver(solver).cost_exponent == exponent


@pytest.mark.parametrize("solver,factor,expected", [
    ("rbm_blob", 10, 0.3 * 10 + 0.7 * 10),
    ("rbm_blob", 100, 0.3 * 100 + 0.7 * 100),
    ("sbp", 2, 0.3 * 2 + 0.7 * 4),
    ("blob", 8, 0.3 * 8 + 0.7 * 64),
    ("blob", 0.5, 0.3 * 1 + 0.7 * 0.25),  # below the profile's n the evaluation share does not shrink
])
def test_an_n_override_scales_by_the_cost_exponent(solver, factor, expected):
    n0 = _base(solver, "bkw2d")
    plain = estimate.cell_seconds(Cell(solver, "bkw2d", 0, ()), QUICK)
    scaled = estimate.cell_seconds(Cell(solver, "bkw2d", 0, (("n", int(n0 * factor)),)), QUICK)
    assert scaled == pytest.approx(plain * expected, rel=1e-12)


def test_no_declared_exponent_keeps_the_measured_seconds():
    plain = estimate.cell_seconds(Cell("pinn_pm_score", "bkw2d", 0, ()), QUICK)
    n0 = _base("pinn_pm_score", "bkw2d")
    assert solvers.get_solver("pinn_pm_score").cost_exponent is None
    assert estimate.cell_seconds(Cell("pinn_pm_score", "bkw2d", 0, (("n", 4 * n0),)), QUICK) == plain
