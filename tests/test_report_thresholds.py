"""Issue 31: the report's thresholds are declared once (harness/report/thresholds.py) and `compare` tells a floor
from the metric registry, not from a name suffix."""
import ast
import json
from pathlib import Path

import pandas as pd

from metrics.specs import MetricSpec, register_metric
from harness.cli import main
from harness.plan.cell import Cell
from harness.report import compare, thresholds
from harness.store import tables as store
from harness.store.record import CellRecord

ROOT = Path(__file__).resolve().parents[1]


def write_run(run: Path, values: dict[str, float], commit: str) -> Path:
    """A finished run directory of one ok cell (sbp on bkw2d, seed 0) whose rows hold `values` at t = 0 and 1."""
    run.mkdir(parents=True)
    cell = Cell("sbp", "bkw2d", 0, ())
    rows = [{"t": t, "metric": m, "value": v} for t in (0.0, 1.0) for m, v in values.items()]
    store.write_cell(run, CellRecord("sbp", "bkw2d", 0, cell.id, "smoke", "ok", rows=rows, wall_time={"solve": 1.0},
                                     solve_s=1.0, total_s=1.0))
    manifest = {"config": {"profile": "smoke"}, "provenance": {"git_commit": commit}, "cells": [cell.to_json()]}
    store.atomic_write_text(run / "manifest.json", json.dumps(manifest))
    metrics, timings, _ = store.collect_tables(run)
    store.atomic_write_frame(metrics, run / "metrics.parquet")
    store.atomic_write_frame(timings, run / "timings.csv")
    return run


def test_compare_finds_a_plugin_floor_without_the_floor_suffix_in_the_registry(tmp_path, capsys):
    """A plugin accuracy metric `spread` with floors named `spread_noise` (listed in its spec) and `spread_base`
    (shown as a floor row): B's floors rise tenfold and they are neither compared nor flagged; the accuracy metric
    itself is compared. An unregistered name ending in _floor is still left out (compare loads no plugin)."""
    register_metric(MetricSpec("spread", "a plugin error", lambda s: 0.0, floors=("spread_noise",),
                               roles=("accuracy",)))
    register_metric(MetricSpec("spread_noise", "its Monte Carlo floor", lambda s: 0.0, show="parquet"))
    register_metric(MetricSpec("spread_base", "its other floor", lambda s: 0.0, show="floor"))
    a = write_run(tmp_path / "a", {"spread": 1.0, "spread_noise": 0.1, "spread_base": 0.1, "orphan_floor": 0.1},
                  "c0")
    b = write_run(tmp_path / "b", {"spread": 1.0, "spread_noise": 1.0, "spread_base": 1.0, "orphan_floor": 1.0},
                  "c1")
    assert set(compare.FLOOR_METRICS) >= {"spread_noise", "spread_base", "w1_mc_floor", "kde_l2_bias_floor"}
    assert "spread" not in compare.FLOOR_METRICS
    result = compare.compare(compare.load_run(a), compare.load_run(b))
    assert set(result.rows.metric) == {"spread"}
    assert not result.regressed
    capsys.readouterr()
    assert main(["compare", str(a), str(b), "--all-rows"]) == 0
    out = capsys.readouterr().out
    assert "spread_noise" not in out and "spread_base" not in out and "orphan_floor" not in out


def test_is_floor_reads_the_registry():
    names = pd.Series(["w1", "w1_mc_floor", "kde_l2_bias_floor", "energy_drift", "not_registered_floor", "other"])
    assert compare.is_floor(names).tolist() == [False, True, True, False, True, False]


def _numbers(path: Path) -> list:
    """The float literals of a module (docstrings and comments aside)."""
    return [node.value for node in ast.walk(ast.parse(path.read_text())) if isinstance(node, ast.Constant)
            and isinstance(node.value, float)]


def test_the_judgement_thresholds_are_written_only_in_thresholds_py():
    """1.1 (one floor draw), 0.01 (energy kept), 0.3 and 0.1, and the levels of the tests (0.95 band and interval,
    0.05, 0.002, 0.99) appear as numbers in no other report module."""
    declared = {thresholds.AT_FLOOR, thresholds.ENERGY_FLAG, thresholds.COV_FLAG, thresholds.LARGE_RESIDUAL,
                thresholds.LARGE_DRIFT_ERROR, thresholds.REGRESSION_RTOL, thresholds.BAND_LEVEL, thresholds.CI_LEVEL,
                thresholds.RANK_ALPHA, thresholds.COMPARE_P, thresholds.COMPARE_CI, thresholds.MONOTONE_Z}
    for path in sorted((ROOT / "harness" / "report").rglob("*.py")):
        if path.name != "thresholds.py":
            assert not declared & set(_numbers(path)), path
    assert thresholds.percent_over(thresholds.AT_FLOOR) == "10%"
