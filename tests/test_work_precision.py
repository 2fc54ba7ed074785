"""Issue 13: --set overrides and grids, resume of a grid, sweeps, slopes, the work-precision report."""
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import problems
import solvers
from harness.report import convergence
from harness.cli import main
from harness.plan.overrides import OverrideError, grids, parse_set_options
from harness.plan.sweep import default_ladders, plan_sweep
from harness.plan.profiles import PROFILES

PLUGIN = str(Path(__file__).with_name("harness_plugin.py"))


def max_table_width(markdown: str) -> int:
    lines = markdown.splitlines()
    return max((lines[i].count("|") - 1 for i in range(len(lines) - 1) if lines[i + 1].startswith("|---")), default=0)


@pytest.mark.slow
def test_set_grid_on_the_smoke_profile_and_resume_of_half_a_grid(tmp_path):
    out = tmp_path / "grid"
    args = ["-s", "sbp", "-s", "blob", "-p", "bkw3d", "--profile", "smoke", "--set", "n=100,200",
            "--set", "sbp.dt=0.125", "--quiet"]
    assert main(["run", *args, "--out", str(out)]) == 0
    table = pd.read_csv(out / "metrics.csv")
    cells = table.groupby(["solver", "overrides"]).p_n.first()
    assert dict(cells) == {("blob", "n=100"): 100, ("blob", "n=200"): 200,
                           ("sbp", "dt=0.125,n=100"): 100, ("sbp", "dt=0.125,n=200"): 200}
    assert set(table[table.solver == "sbp"].p_dt) == {0.125}
    smoke_dt = solvers.get_solver("blob").profile_config("smoke", problems.get_problem("bkw3d")).dt
    assert set(table[table.solver == "blob"].p_dt) == {smoke_dt}
    manifest = json.loads((out / "manifest.json").read_text())
    assert [c[3] for c in manifest["cells"]] == [{"dt": 0.125, "n": 100}, {"dt": 0.125, "n": 200}, {"n": 100}, {"n": 200}]
    assert (out / "cells" / "sbp__bkw3d__seed0__dt=0.125,n=200.json").exists()
    # half of the grid lost: --resume DIR alone re-plans from the manifest and re-runs exactly those cells
    lost = ["blob__bkw3d__seed0__n=200.json", "sbp__bkw3d__seed0__dt=0.125,n=100.json"]
    kept = {p.name: p.stat().st_mtime_ns for p in (out / "cells").glob("*.json") if p.name not in lost}
    for name in lost:
        (out / "cells" / name).unlink()
    assert main(["run", "--resume", str(out), "--quiet"]) == 0
    assert {p.name: p.stat().st_mtime_ns for p in (out / "cells").glob("*.json") if p.name not in lost} == kept
    assert all((out / "cells" / name).exists() for name in lost)
    again = pd.read_csv(out / "metrics.csv")
    pd.testing.assert_frame_equal(again.drop(columns=[]), table)


@pytest.mark.parametrize("sets,needle", [
    (["nope=1"], "no selected solver (sbp, blob) has a field 'nope'; valid fields: bandwidth, depth, dt"),
    (["n=abc"], "--set n='abc': expected an integer for field n of sbp"),
    (["n=1.5"], "expected an integer"),
    (["dt=fast"], "expected a finite number for field dt of sbp"),
    (["iters=5"], "no selected solver (sbp, blob) has a field 'iters'"),
    (["pinn_pm_score.n=5"], "solver 'pinn_pm_score' is not selected; selected solvers: sbp, blob"),
    (["sbp.bandwidth=0.2"], "sbp has no settable field 'bandwidth'; valid fields: n, dt, dt_max, tol, max_move, iters_per_step"),
    (["score=magic"], "not a valid field score of sbp; valid values: 'net', 'exact'"),
    (["n=0"], "field n of sbp must be > 0"),
    (["n="], "malformed --set 'n='"),
    (["=3"], "malformed --set '=3'"),
])
def test_bad_set_options_exit_2_and_write_nothing(sets, needle, tmp_path, capsys):
    out = tmp_path / "r"
    argv = ["run", "-s", "sbp", "-s", "blob", "-p", "bkw2d", "--profile", "smoke", "--out", str(out)]
    for s in sets:
        argv += ["--set", s]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert needle in err and err.count("\n") == 0 and err.startswith("error: ")
    assert not out.exists()


def test_grid_types_targets_and_products():
    classes = {"sbp": solvers.get_solver("sbp"), "blob": solvers.get_solver("blob")}
    g = grids(parse_set_options(["n=100,200", "sbp.n=50", "dtype=float32", "blob.bandwidth=none,0.2"]), classes)
    assert g["sbp"] == [(("dtype", "float32"), ("n", 50))]  # targeted wins over untargeted
    assert g["blob"] == [(("bandwidth", b), ("dtype", "float32"), ("n", n)) for b in (None, 0.2) for n in (100, 200)]
    assert grids(parse_set_options(["score=exact", "random_batch=0"]), classes)["sbp"] == [
        (("random_batch", 0), ("score", "exact"))]
    with pytest.raises(OverrideError):
        grids(parse_set_options(["sbp.n=1e9.5"]), classes)


@pytest.mark.slow
def test_sbp_exact_score_w1_slope_from_the_harness_table(tmp_path):
    """W1 of SBP with the exact score falls like N^-1/2 (Monte Carlo rate, up to the 2D log factor):
    the harness's slope code on the run's own table gives a slope in [-0.65, -0.35]."""
    out = tmp_path / "ladder"
    assert main(["run", "-s", "sbp", "-p", "bkw2d", "--profile", "smoke", "--set", "score=exact",
                 "--set", "n=100,200,400,800,1600", "--seeds", "0,1", "--quiet", "--out", str(out)]) == 0
    table = pd.read_csv(out / "metrics.csv", keep_default_na=False)
    fits = convergence.slope_fits(table, "bkw2d", "w1")
    assert len(fits) == 1 and fits.iloc[0].seeds == 2 and fits.iloc[0].n_min == 100 and fits.iloc[0].n_max == 1600
    assert -0.65 <= fits.iloc[0].slope <= -0.35
    # the slope code itself, on exact power laws
    fake = pd.DataFrame([{"problem": "p", "solver": "s", "overrides": f"n={n}", "seed": k, "t": 1.0, "metric": "w1",
                          "value": 3.0 * n ** -0.5 * (1 + 0.01 * k), "p_n": n} for n in (10, 100, 1000) for k in (0, 1)])
    f = convergence.slope_fits(fake, "p", "w1")
    assert f.iloc[0].slope == pytest.approx(-0.5, abs=1e-12) and f.iloc[0].slope_sd == pytest.approx(0, abs=1e-12)
    summary = (out / "summary.md").read_text()
    assert "### Work-precision" in summary and "| sbp | score=exact |" in summary
    assert max_table_width(summary) <= 8
    assert (out / "figures" / "bkw2d_wp_w1.png").exists() and (out / "figures" / "bkw2d_convergence_w1.png").exists()


def test_cheapest_rung_within_its_floor():
    stats = pd.DataFrame({"solver": ["a"] * 3 + ["b"] * 2, "overrides": ["n=1", "n=2", "n=4", "n=1", "n=2"],
                          "y": [2.0, 1.05, 0.5, 3.0, 2.5], "floor": [1.0, 1.0, 0.49, 1.0, 1.0],
                          "solve_s": [1.0, 2.0, 4.0, 1.0, 2.0]})
    best = convergence.cheapest_within(stats, 1.1).set_index("solver")
    assert best.loc["a"].overrides == "n=2" and bool(best.loc["a"].reached)
    assert best.loc["b"].overrides == "n=2" and not bool(best.loc["b"].reached)


def test_default_ladders_cost_one_training_per_n():
    bkw = problems.get_problem("bkw2d")
    pinn = solvers.get_solver("pinn_pm_particle")
    cfg = pinn.profile_config("quick", bkw)
    ladders = default_ladders(pinn, PROFILES["quick"], bkw)
    assert ladders[0] == {"iters": [250, 500, 1000, 1500]} and all(i % cfg.checkpoint_every == 0 for i in ladders[0]["iters"])
    assert ladders[1] == {"n": [125, 250], "iters": [cfg.iters]} and cfg.iters == 250
    assert default_ladders(solvers.get_solver("sbp"), PROFILES["quick"], bkw) == [{"n": [250, 500, 1000, 2000, 4000]}]
    classes = {s: solvers.get_solver(s) for s in ("sbp", "pinn_pm_particle")}
    cells, _ = plan_sweep(classes, [bkw], PROFILES["quick"], parse_set_options(["sbp.n=100,200", "dt=0.1"]), None)
    sbp = [c for c in cells if c.solver == "sbp"]
    assert [c.overrides for c in sbp if c.seed == 0] == [(("dt", 0.1), ("n", 100)), (("dt", 0.1), ("n", 200))]
    assert {c.seed for c in sbp} == {0, 1}
    pinn_cells = [c for c in cells if c.solver == "pinn_pm_particle"]
    iters = [dict(c.overrides)["iters"] for c in pinn_cells]
    assert iters[:4] == [250, 500, 1000, 1500] and {c.seed for c in pinn_cells} == {0}  # ascending: one training


@pytest.mark.slow
def test_sweep_resumes_and_list_shows_fields(tmp_path, capsys):
    out = tmp_path / "sweep"
    assert main(["sweep", "-p", "tiny2d", "-s", "still", "--plugin", PLUGIN, "--quiet", "--out", str(out)]) == 0
    table = pd.read_csv(out / "metrics.csv")
    assert sorted(table.p_n.unique()) == [16, 32, 64, 128, 256] and sorted(table.seed.unique()) == [0, 1]
    assert main(["sweep", "--resume", str(out), "--quiet", "--plugin", PLUGIN]) == 0
    assert "10 cells (10 already done)" in capsys.readouterr().out
    assert main(["sweep", "--quiet", "--out", str(tmp_path / "x")]) == 2
    assert main(["list"]) == 0
    listing = capsys.readouterr().out
    sbp_block = listing.split("  sbp:")[1].split("  blob:")[0]
    assert re.search(r"iters_per_step +int ", sbp_block) and "..64000*" in sbp_block  # paper N depends on the problem


def test_run_all_summary_has_no_table_wider_than_8_columns(tmp_path):
    from harness.report.summary import render_summary
    rows = [{"solver": s, "problem": "bkw2d", "seed": k, "overrides": "", "t": t, "metric": m, "value": v}
            for s in ("a", "b") for k in (0, 1) for t in (1.0, 2.5, 5.0)
            for m, v in (("w1", 0.2), ("w1_mc_floor", 0.19), ("kde_l2", 0.1), ("kde_l2_mc_floor", 0.2),
                         ("kde_l2_bias_floor", 0.01), ("rfd", 0.3), ("energy_drift", -1e-3))]
    table = pd.DataFrame(rows)
    table.loc[table.solver == "b", "value"] *= 2
    timings = pd.DataFrame([{"solver": s, "problem": "bkw2d", "seed": k, "overrides": "", "setup_s": 1.0,
                             "training_s": 2.0, "drift_s": 0.5, "stepping_s": 3.0, "inference_s": 0.1,
                             "evaluation_s": 4.0, "solve_s": 6.6, "total_s": 11.0} for s in "ab" for k in (0, 1)])
    text = render_summary(table, timings, pd.DataFrame(), {"config": {}}, None, [], [])
    assert max_table_width(text) <= 8
    assert "| a | **0.2 [0.2, 0.2]** | **0.2 [0.2, 0.2]** | **0.2 [0.2, 0.2]** |" in text  # t interval over 2 seeds
    # the verdict: W1/floor 0.2/0.19 (a) and 0.4/0.38 (b) are both 1.05x, at the floor; no "Nx better" wording
    assert ("| bkw2d (t = 5, no reference) | one draw (✓: <= 1.1) | **1.05 [1.05, 1.05] ✓** (6.6 s) | "
            "**1.05 [1.05, 1.05] ✓** (6.6 s) |") in text  # a tie (paired t: p = 1): both bold
    assert ("at the W1 floor (within 10% of one floor draw): a 1.05 [1.05, 1.05], b 1.05 [1.05, 1.05]; all tested pairs are "
            "indistinguishable at 2 seeds.") in text and "x better" not in text
    assert np.isclose(float(text.split("| *MC floor of a* | *")[1].split("*")[0]), 0.19)
