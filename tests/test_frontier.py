"""The accuracy-per-second frontier of a sweep (harness.report.frontier, issue 45): cost exponents fitted exactly on
planted power laws, the frontier's rows, the per-budget choice and its test, the summary section and the figure."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from harness.report.frontier import (BudgetChoice, budget_choices, budget_sentence, cost_clock, cost_exponents, frontier,
                                     frontier_lines)
from harness.report.figures.frontier import write_frontier_figures

NS = (1_000, 3_000, 10_000, 30_000, 100_000)


def _sweep(cost: dict, error: dict, seeds=(0, 1), noise: float = 0.0):
    """(table, timings) of a planted sweep on bkw2d: solver -> (c, b) with solve_s = c (1 + seed/10) N^b, and
    solver -> (e, a) with sliced_w1 = e N^-a (1 + (k + 1) noise (-1)^seed), k the solver's index, at the last snapshot t = 5."""
    rows, times = [], []
    for k, (solver, (c, b)) in enumerate(cost.items()):
        e, a = error[solver]
        for n in NS:
            for seed in seeds:
                ov = f"n={n}"
                for t in (1.0, 5.0):
                    rows.append({"solver": solver, "problem": "bkw2d", "seed": seed, "overrides": ov, "t": t,
                                 "metric": "sliced_w1", "value": e * n ** -a * (1 + (k + 1) * noise * (-1) ** seed),
                                 "p_n": n})
                    rows.append({"solver": solver, "problem": "bkw2d", "seed": seed, "overrides": ov, "t": t,
                                 "metric": "sliced_w1_mc_floor", "value": 0.5 * n ** -0.5, "p_n": n})
                times.append({"solver": solver, "problem": "bkw2d", "seed": seed, "overrides": ov,
                              "solve_s": c * (1 + seed / 10) * n ** b})
    return pd.DataFrame(rows), pd.DataFrame(times)


def test_cost_exponents_recover_planted_power_laws():
    table, timings = _sweep({"lin": (1e-4, 1.0), "quad": (1e-7, 2.0)}, {"lin": (1.0, 0.5), "quad": (1.0, 0.5)})
    expo = cost_exponents(table, timings, "bkw2d").set_index("solver")
    assert expo.loc["lin", "exponent"] == pytest.approx(1.0, abs=1e-10)
    assert expo.loc["quad", "exponent"] == pytest.approx(2.0, abs=1e-10)
    assert expo.loc["quad", "top_exponent"] == pytest.approx(2.0, abs=1e-10)
    assert expo.loc["lin", "exponent_sd"] == pytest.approx(0.0, abs=1e-10)
    assert (expo.seeds == 2).all() and (expo.n_max == 100_000).all() and (expo.n_min == 1_000).all()


def test_top_exponent_sees_past_a_fixed_cost():
    """A fixed 0.5 s cost flattens the whole-ladder fit of an O(N) method; the top of the ladder (N >= 10,000)
    reads nearer 1."""
    table, timings = _sweep({"lin": (1e-4, 1.0)}, {"lin": (1.0, 0.5)}, seeds=(0,))
    timings = timings.assign(solve_s=timings.solve_s + 0.5)
    r = cost_exponents(table, timings, "bkw2d").iloc[0]
    n = np.array(NS, dtype=float)
    s = 1e-4 * n + 0.5
    assert r.exponent == pytest.approx(np.polyfit(np.log(n), np.log(s), 1)[0], abs=1e-12)
    assert r.top_exponent == pytest.approx(np.polyfit(np.log(n[2:]), np.log(s[2:]), 1)[0], abs=1e-12)
    assert r.exponent < 0.75 < 0.8 < r.top_exponent < 1.0


def test_cpu_seconds_are_the_cost_where_every_cell_recorded_them(tmp_path):
    """With solve_cpu_s in every cell of the problem the exponents come from it (here N^1 while the wall seconds grow
    like N^2, a machine loaded at the top of the ladder) and the section says 'CPU'; one cell without it, the wall
    seconds and 'wall'."""
    table, timings = _sweep({"lin": (1e-7, 2.0)}, {"lin": (1.0, 0.5)})
    timings = timings.assign(solve_cpu_s=[1e-3 * (1 + s / 10) * n for n, s in
                                          zip(timings.overrides.str[2:].astype(int), timings.seed)])
    cpu, clock = cost_clock(timings, "bkw2d")
    assert clock == "CPU" and (cpu.solve_s == timings.solve_cpu_s).all()
    assert cost_exponents(table, cpu, "bkw2d").exponent.iloc[0] == pytest.approx(1.0, abs=1e-10)
    lines = "\n".join(frontier_lines(table, timings, "bkw2d", set()))
    assert "b of solve CPU seconds" in lines and "| lin | - | 1000..100000 | 1.00" in lines
    partial = timings.copy()
    partial.loc[0, "solve_cpu_s"] = None
    wall, clock = cost_clock(partial, "bkw2d")
    assert clock == "wall" and (wall.solve_s == timings.solve_s).all()
    assert "| lin | - | 1000..100000 | 2.00" in "\n".join(frontier_lines(table, partial, "bkw2d", set()))
    assert cost_clock(timings.drop(columns="solve_cpu_s"), "bkw2d")[1] == "wall"


def test_frontier_keeps_only_rungs_no_cheaper_rung_beats():
    stats = pd.DataFrame({"solver": list("abcde"), "overrides": [""] * 5,
                          "solve_s": [1.0, 2.0, 3.0, 4.0, 5.0], "y": [0.5, 0.6, 0.3, 0.3, 0.1]})
    assert list(frontier(stats).solver) == ["a", "c", "e"]


def test_budget_choice_names_a_winner_only_with_a_test():
    # lin: 10x less error than quad at every N, and cheaper: it wins every budget it fits
    table, timings = _sweep({"lin": (1e-4, 1.0), "quad": (1e-7, 2.0)}, {"lin": (0.1, 0.5), "quad": (1.0, 0.5)},
                            noise=0.01)
    choices = {c.budget_s: c for c in budget_choices(table, timings, "bkw2d", "sliced_w1")}
    assert set(choices) == {10.0, 60.0, 600.0}
    c = choices[10.0]
    # lin fits 10 s up to N = 30,000 (3.3 s at seed 1); quad up to 10,000 (11 s at seed 1 > 10: mean 10.5 s, so 3,000)
    assert (c.solver, c.overrides, c.runner_up, c.runner_overrides) == ("lin", "n=30000", "quad", "n=3000")
    assert c.y == pytest.approx(0.1 * 30_000 ** -0.5, rel=1e-12)
    assert c.winner and c.p < 0.05 and c.test.startswith("paired t")
    assert "has the least error" in budget_sentence(c)


def test_equal_errors_are_indistinguishable():
    table, timings = _sweep({"a": (1e-4, 1.0), "b": (1e-4, 1.0)}, {"a": (1.0, 0.5), "b": (1.0, 0.5)}, noise=0.05)
    for c in budget_choices(table, timings, "bkw2d", "sliced_w1"):
        assert not c.winner and c.p > 0.5
        assert "indistinguishable" in budget_sentence(c)


def test_one_solver_in_a_budget_is_said_so():
    c = BudgetChoice(10.0, "sliced_w1", "lin", "n=1000", 0.01, 2.0, "", "", math.nan, "", math.nan)
    assert not c.winner
    assert budget_sentence(c) == "For 10 s of CPU: only lin [n=1000] (sliced_w1 0.01, 2 s) fits."


def test_no_rung_in_a_budget_gives_no_sentence():
    table, timings = _sweep({"slow": (1.0, 1.0)}, {"slow": (1.0, 0.5)})  # 1,000 s at the smallest N
    assert budget_choices(table, timings, "bkw2d", "sliced_w1") == []


def test_summary_section_and_figure(tmp_path):
    table, timings = _sweep({"lin": (1e-4, 1.0), "quad": (1e-7, 2.0)}, {"lin": (0.1, 0.5), "quad": (1.0, 0.5)},
                            noise=0.01)
    paths = write_frontier_figures(table, timings, tmp_path)
    assert [p.name for p in paths] == ["bkw2d_frontier.png"]
    assert paths[0].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    lines = frontier_lines(table, timings, "bkw2d", {p.name for p in paths})
    text = "\n".join(lines)
    assert "| lin | - | 1000..100000 | 1.00 ± 0.00 | 1.00 | 2 |" in text
    assert "| quad | - | 1000..100000 | 2.00 ± 0.00 | 2.00 | 2 |" in text
    assert text.count("- For ") == 3
    assert "![bkw2d_frontier](figures/bkw2d_frontier.png)" in text


def test_a_single_n_has_no_frontier_section():
    table, timings = _sweep({"lin": (1e-4, 1.0)}, {"lin": (1.0, 0.5)})
    one = table[table.p_n == 1_000]
    assert frontier_lines(one, timings, "bkw2d", set()) == []
    assert write_frontier_figures(one, timings, __import__("pathlib").Path("/nonexistent")) == []
