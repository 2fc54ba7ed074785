"""Cells in parallel by default: `--jobs auto` gives the numbers of `--jobs 1`, trains PINN-PM once per key,
and hands cells out longest first; floors cached beside the references change no number."""
import json

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import problems
from harness.plan.profiles import PROFILES
from harness.plan import estimate
from harness.plan.cell import Cell
from harness.cli import main
from harness.cli.options import resolve_jobs
from solvers import pinn_training

CELLS = ["-s", "sbp", "-s", "blob", "-s", "pinn_pm_particle", "-s", "pinn_pm_score", "-p", "bkw2d",
         "--profile", "smoke", "--quiet"]


def _records(run_dir):
    return {p.stem: json.loads(p.read_text()) for p in (run_dir / "cells").glob("*.json")}


@pytest.mark.slow
def test_jobs_auto_equals_jobs_1_and_trains_pinn_once(tmp_path):
    serial, parallel = tmp_path / "serial", tmp_path / "parallel"
    assert main(["run", *CELLS, "--jobs", "1", "--out", str(serial)]) == 0
    pinn_training._MEMO.clear()  # forked workers would otherwise inherit the serial run's training
    assert main(["run", *CELLS, "--jobs", "2", "--out", str(parallel)]) == 0
    pd.testing.assert_frame_equal(pd.read_csv(serial / "metrics.csv"), pd.read_csv(parallel / "metrics.csv"))
    recs = _records(parallel)
    pinn = [r for k, r in recs.items() if k.startswith("pinn_pm")]
    assert len(pinn) == 2 and sum(r["info"]["trained_here"] for r in pinn) == 1  # one training, shared
    assert json.loads((parallel / "manifest.json").read_text())["config"]["executor"] == "process"


def test_resolve_jobs(monkeypatch):
    monkeypatch.setattr("harness.cli.options.available_cores", lambda: 4)
    assert resolve_jobs(None, 26) == 4 and resolve_jobs(None, 3) == 3 and resolve_jobs(None, 0) == 1
    assert resolve_jobs(1000, 12, quiet=True) == 12  # never more workers than cells


@pytest.mark.parametrize("jobs", ["0", "-1", "x", "1.5"])
def test_bad_jobs_is_one_line(jobs, tmp_path, capsys):
    assert main(["run", *CELLS, "--jobs", jobs, "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and f"--jobs must be a positive int or auto, got {jobs!r}" in err


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["exact_flow", "sbp", "blob", "pinn_pm_particle", "pinn_pm_score"]),
                          st.sampled_from(["bkw2d", "bkw3d"]), st.integers(0, 3)), min_size=1, max_size=12))
def test_dispatch_order_puts_long_cells_first_and_reused_trainings_last(drawn):
    """On problems with an exact reference (no build to add): the order is a permutation of the cells in which
    every cell that trains comes before every pinn_pm_score cell (which reuses a training), and within each
    group the measured seconds of the table (estimate.cell_seconds) never increase; equal seconds keep the
    given order."""
    cells = [Cell(s, p, seed) for s, p, seed in drawn]
    order = estimate.dispatch_order(cells, PROFILES["quick"])
    assert sorted(map(id, order)) == sorted(map(id, cells))
    reuses = [c.solver == "pinn_pm_score" for c in order]
    assert reuses == sorted(reuses)  # False (trains) before True (reuses)
    position = {id(c): i for i, c in enumerate(cells)}
    for a, b in zip(order, order[1:]):
        if (a.solver == "pinn_pm_score") == (b.solver == "pinn_pm_score"):
            sa, sb = estimate.cell_seconds(a, PROFILES["quick"]), estimate.cell_seconds(b, PROFILES["quick"])
            assert sa > sb or (sa == sb and position[id(a)] < position[id(b)]), (a, b)


def test_dispatch_order_puts_the_longest_measured_cell_first_and_keeps_a_ladder():
    cells = [Cell("exact_flow", "bkw2d", 0), Cell("pinn_pm_score", "bkw2d", 0), Cell("sbp", "bkw2d", 0),
             Cell("pinn_pm_particle", "bkw2d", 0), Cell("blob", "bkw2d", 0), Cell("sbp", "gaussian_mixture3d", 0)]
    longest = max(cells, key=lambda c: estimate.cell_seconds(c, PROFILES["quick"]))
    assert longest == Cell("pinn_pm_particle", "bkw2d", 0)  # the table's largest entry of these
    assert estimate.dispatch_order(cells, PROFILES["quick"])[0] == longest
    rungs = [Cell("pinn_pm_particle", "bkw2d", 0, (("iters", i),)) for i in (250, 500, 1000)]
    assert estimate.dispatch_order(rungs, PROFILES["quick"]) == rungs  # a ladder keeps its ascending order


def test_estimate_counts_missing_references_once(tmp_path, monkeypatch):
    monkeypatch.setenv("LANDAU_REFERENCE_CACHE", str(tmp_path / "empty"))
    cells = [Cell("sbp", "anisotropic2d", 0), Cell("blob", "anisotropic2d", 0)]
    q = estimate.CELL_SECONDS["quick"]
    sbp, blob = q["sbp"]["anisotropic2d"], q["blob"]["anisotropic2d"]
    expected = (sbp + blob + estimate.REFERENCE_SECONDS["fine"]["grid"]) / 2
    assert estimate.estimate_seconds(cells, PROFILES["quick"], 2) == pytest.approx(max(expected, sbp))
    assert estimate.describe_estimate(30) == "about 30 s" and estimate.describe_estimate(600) == "about 10 min"


def test_cached_floors_are_bit_identical_to_computed_ones(tmp_path, monkeypatch):
    """A floor read back from the disk cache is the computed float itself, and a changed problem constant
    is a different entry."""
    from harness.execute import evaluate
    monkeypatch.setenv("LANDAU_REFERENCE_CACHE", str(tmp_path / "cache"))
    p = problems.get_problem("bkw2d")
    calls, values = [], [0.1 + 0.2, 0.1 + 0.4, 0.1 + 0.7]  # a new value per computation, none a short decimal

    def compute():
        calls.append(1)
        return values[len(calls) - 1]

    a = evaluate.cached_floor("w1_mc_floor", p, 5.0, 100, 0, compute)
    b = evaluate.cached_floor("w1_mc_floor", p, 5.0, 100, 0, compute)
    assert a == b == values[0] and len(calls) == 1
    other = evaluate.cached_floor("w1_mc_floor", problems.get_problem("bkw2d", C=0.125), 5.0, 100, 0, compute)
    assert other == values[1] and len(calls) == 2
    entries = sorted((tmp_path / "cache" / "floors").glob("*.json"))
    assert len(entries) == 2
    for entry in entries:
        entry.write_text("{damaged")
    recomputed = evaluate.cached_floor("w1_mc_floor", p, 5.0, 100, 0, compute)
    assert recomputed == values[2] and len(calls) == 3  # computed again, not read from the damaged entry
    assert evaluate.cached_floor("w1_mc_floor", p, 5.0, 100, 0, compute) == recomputed and len(calls) == 3  # stored


def test_cell_rows_identical_with_a_cold_and_a_warm_floor_cache(tmp_path, monkeypatch):
    from harness.execute.run_cell import run_cell
    monkeypatch.setenv("LANDAU_REFERENCE_CACHE", str(tmp_path / "cache"))
    cell = Cell("sbp", "bkw3d", 1)
    evaluate_clear()
    cold = run_cell(cell, PROFILES["smoke"], "cpu")
    evaluate_clear()  # the in-process memo too: the second run reads the disk cache
    warm = run_cell(cell, PROFILES["smoke"], "cpu")
    assert cold.status == warm.status == "ok"
    assert cold.rows == warm.rows and cold.certificates == warm.certificates
    assert any((tmp_path / "cache" / "floors").glob("*.json"))


def evaluate_clear():
    from harness.execute import evaluate
    evaluate.clear_floor_memo()
