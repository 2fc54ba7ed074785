"""Issue 40: `compare` as a regression gate with a real test (asv's rule), never passing a broken run.

The runs are minimal run directories written with the project's own writers. Their W1 values are real: W1 between
an exact bkw2d sample and an exact reference sample of n = 100 at each seed, so the seed-to-seed spread is the
measurement's own (about 9% on bkw2d)."""
import json
import math
from pathlib import Path

import pandas as pd
import pytest

import problems
from harness.cli import main
from harness.plan.cell import Cell
from harness.report.compare import is_different
from harness.store import tables as store
from harness.store.record import CellRecord
from metrics.wasserstein import w1

TIMES = (1.0, 5.0)


def exact_w1(seed: int, t: float, n: int = 100) -> float:
    """W1 of an exact bkw2d sample against an exact reference sample, both drawn from `seed` (the null law)."""
    p = problems.get_problem("bkw2d")
    return w1(p.sample_at(t, n, 1_000 + 2 * seed), p.sample_at(t, n, 1_001 + 2 * seed))


def write_run(run: Path, values: dict, extra: dict | None = None, commit: str = "c0") -> Path:
    """A finished run on bkw2d at `commit`: values {(solver, seed): {t: w1}} or 'failed'; extra {(solver, seed):
    {metric: value}} adds rows at every t; the manifest plans exactly these cells."""
    run.mkdir(parents=True, exist_ok=True)
    planned = []
    for (solver, seed), w in values.items():
        cell = Cell(solver, "bkw2d", seed, ())
        planned.append(cell.to_json())
        if w == "failed":
            rec = CellRecord.failed(cell, "quick", "blew up")
        else:
            rows = [{"t": t, "metric": "w1", "value": v} for t, v in w.items()]
            rows += [{"t": t, "metric": m, "value": v} for t in w for m, v in (extra or {}).get((solver, seed), {}).items()]
            rec = CellRecord(solver, "bkw2d", seed, cell.id, "quick", "ok", rows=rows, wall_time={"solve": 1.0},
                             solve_s=1.0, total_s=1.0)
        store.write_cell(run, rec)
    manifest = {"config": {"profile": "quick"}, "provenance": {"git_commit": commit}, "cells": planned}
    store.atomic_write_text(run / "manifest.json", json.dumps(manifest))
    metrics, timings, _ = store.collect_tables(run)
    store.atomic_write_frame(metrics, run / "metrics.parquet")
    store.atomic_write_frame(timings, run / "timings.csv")
    return run


def compare(capsys, a: Path, b: Path) -> tuple[int, str]:
    capsys.readouterr()
    code = main(["compare", str(a), str(b)])
    return code, capsys.readouterr().out


def run_of(seeds, solvers=("sbp",)) -> dict:
    return {(s, k): {t: exact_w1(k, t) for t in TIMES} for s in solvers for k in seeds}


def test_asv_rule_mann_whitney_from_7_and_7_else_99_percent_intervals():
    """asv's two-sided exact Mann-Whitney U at p < 0.002 where it can reach it (7 + 7: 2/3432), else 99% intervals."""
    from scipy import stats
    a7, b7 = [1.0, 1.1, 1.2, 1.3, 1.4, 1.5, 1.6], [2.0, 2.1, 2.2, 2.3, 2.4, 2.5, 2.6]
    assert is_different(a7, b7) == (True, "Mann-Whitney U p = 0.00058")
    assert stats.mannwhitneyu(b7, a7, method="exact").pvalue == pytest.approx(2 / 3432)
    # 7 + 7 with one B value among A's: p = 4/3432 = 0.0012 still; with two, 8/3432 = 0.0023 is not
    assert is_different(a7, [1.45, 1.55, 2.2, 2.3, 2.4, 2.5, 2.6])[0] is False
    # 6 + 6 cannot reach p < 0.002 two-sided (2/924 = 0.0022): the 99% t intervals decide (asv's code would run the
    # test anyway and never flag)
    differs, test = is_different([1.0, 1.01, 0.99, 1.0, 1.02, 1.0], [2.0, 2.01, 1.99, 2.0, 2.02, 2.0])
    assert differs and test == "99% intervals apart"
    assert is_different([1.0, 1.5, 0.5], [1.2, 1.9, 0.8]) == (False, "99% intervals overlap")
    assert is_different([1.0], [5.0]) == (False, "too few seeds for a test")


def test_two_six_seed_runs_of_different_seeds_show_no_regression_in_10_of_10(tmp_path, capsys):
    for r in range(10):
        a = write_run(tmp_path / f"a{r}", run_of(range(12 * r, 12 * r + 6)))
        b = write_run(tmp_path / f"b{r}", run_of(range(12 * r + 6, 12 * r + 12)))
        code, out = compare(capsys, a, b)
        assert code == 0 and "no regression" in out, out
        assert "99% intervals overlap" in out and "not run in B" in out


def test_a_planted_20_percent_w1_increase_on_one_cell_is_flagged(tmp_path, capsys):
    base = run_of(range(6), ("sbp", "blob"))
    a = write_run(tmp_path / "a", base)
    assert compare(capsys, a, write_run(tmp_path / "same", base))[0] == 0
    planted = {k: dict(v) for k, v in base.items()}
    planted["sbp", 3][5.0] *= 1.2
    code, out = compare(capsys, a, write_run(tmp_path / "b", planted))
    worse = [line for line in out.splitlines() if line.startswith("| ") and "**worse**" in line]
    assert code == 1 and len(worse) == 1 and worse[0].startswith("| sbp / bkw2d | 5 | w1 |"), out
    assert "same commit, seed 3 moved" in worse[0]
    # 20% on every seed of a cell: flagged as well; 5% on every seed (under --rtol 0.1): not
    for factor, code_expected in ((1.2, 1), (1.05, 0)):
        scaled = {k: ({t: v * factor for t, v in w.items()} if k[0] == "blob" else w) for k, w in base.items()}
        assert compare(capsys, a, write_run(tmp_path / f"s{factor}", scaled))[0] == code_expected


def test_one_of_two_seeds_ten_times_worse_is_flagged_not_hidden_by_b_spread(tmp_path, capsys):
    base = run_of(range(2))
    bad = {k: dict(v) for k, v in base.items()}
    bad["sbp", 1] = {t: 10 * v for t, v in bad["sbp", 1].items()}
    code, out = compare(capsys, write_run(tmp_path / "a", base), write_run(tmp_path / "b", bad))
    assert code == 1 and "same commit, seed 1 moved" in out


def test_a_metric_missing_from_every_cell_of_b_is_a_regression(tmp_path, capsys):
    """The probe: a metric raised, W1 is missing from every cell of B (the cells stay ok, with energy_drift only)."""
    base = run_of(range(2))
    extra = {k: {"energy_drift": 1e-4} for k in base}
    a = write_run(tmp_path / "a", base, extra)
    b = write_run(tmp_path / "b", {k: {} for k in base}, extra)
    code, out = compare(capsys, a, b)
    assert code == 1 and "**missing in B**" in out and "no regression" not in out


def test_nan_in_b_and_a_new_fold_are_regressions(tmp_path, capsys):
    base = run_of(range(2))
    a = write_run(tmp_path / "a", base, {k: {"fold_fraction": 0.0, "energy_drift": 1e-4} for k in base})
    nan = write_run(tmp_path / "nan", base, {k: {"fold_fraction": 0.0, "energy_drift": math.nan if k[1] == 1 else 1e-4}
                                              for k in base})
    code, out = compare(capsys, a, nan)
    assert code == 1 and "**NaN in B**" in out
    fold = write_run(tmp_path / "fold", base, {k: {"fold_fraction": 0.4 if k[1] == 0 else 0.0, "energy_drift": 1e-4}
                                                for k in base})
    code, out = compare(capsys, a, fold)
    assert code == 1 and "**new fold**" in out
    assert compare(capsys, fold, fold)[0] == 0  # a fold in both is no new fold


def test_a_table_out_of_date_with_its_records_is_a_regression(tmp_path, capsys):
    """The probe: a killed --resume leaves metrics.parquet of before a record changed; compare reads the records,
    says the table is out of date and exits 1."""
    base = run_of(range(2))
    a = write_run(tmp_path / "a", base)
    b = write_run(tmp_path / "b", base)
    old = pd.read_parquet(b / "metrics.parquet")
    worse = {k: dict(v) for k, v in base.items()}
    worse["sbp", 0][5.0] *= 3
    write_run(b, worse)
    store.atomic_write_frame(old, b / "metrics.parquet")  # the table of before
    code, out = compare(capsys, a, b)
    assert code == 1 and "**Out of date**" in out and "1 table out of date" in out
    assert "same commit, seed 0 moved" in out  # compared from the records, which hold the change


def test_at_another_commit_a_seed_is_a_fresh_draw_and_the_paired_test_decides(tmp_path, capsys):
    """Review of issue 40: at a different commit the same seed label is a fresh draw (a changed stream or float order
    re-draws it), so one seed moving by 12% is not a regression: 10 pairs of runs with seeds 0-5 whose B values are
    other exact-law draws show none; B = A x 1.2 on every seed is flagged by the paired t test on log(B / A)."""
    for r in range(10):
        a = write_run(tmp_path / f"a{r}", run_of(range(6)), commit="c0")
        fresh = {("sbp", k): {t: exact_w1(100 + 6 * r + k, t) for t in TIMES} for k in range(6)}
        code, out = compare(capsys, a, write_run(tmp_path / f"b{r}", fresh, commit="c1"))
        assert code == 0 and "paired t over 6 seeds" in out, out
    scaled = {k: {t: 1.2 * v for t, v in w.items()} for k, w in run_of(range(6)).items()}
    code, out = compare(capsys, tmp_path / "a0", write_run(tmp_path / "scaled", scaled, commit="c1"))
    assert code == 1 and "paired t over 6 seeds p = 0" in out
    # one seed up 12% and the other halved (B better on average): not worse at another commit; at the same commit
    # the same computation changed, which compare flags (non-determinism is a defect of its own)
    one_up = {("sbp", 0): {1.0: 1.12, 5.0: 1.12}, ("sbp", 1): {1.0: 0.5, 5.0: 0.5}}
    a = write_run(tmp_path / "small_a", {("sbp", 0): {1.0: 1.0, 5.0: 1.0}, ("sbp", 1): {1.0: 1.0, 5.0: 1.0}})
    code, out = compare(capsys, a, write_run(tmp_path / "small_b_c1", one_up, commit="c1"))
    assert code == 0, out
    code, out = compare(capsys, a, write_run(tmp_path / "small_b_c0", one_up, commit="c0"))
    assert code == 1 and "same commit, seed 0 moved" in out
