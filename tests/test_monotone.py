"""Issue 43 item 3: monotonicity checks per cell. The entropy estimate entropy_pushforward (-mean log f_t) never
decreases (H-theorem), the 3D Fisher information fisher_information (mean |s|^2 of the method's own score) never
increases (Guillen-Silvestre); a move the other way by more than MONOTONE_Z (se0 + se1) marks the cell in the
verdict (metrics.monotone, harness.report.monotone)."""
import math

import pandas as pd
import pytest
import torch
from hypothesis import given, settings, strategies as st

from metrics import specs
from metrics.monotone import MONOTONE, mean_and_se, violations
from problems import get_problem
from harness.report.monotone import MONOTONE_MARK, monotone_violations
from harness.report.thresholds import MONOTONE_Z
from harness.report.verdict import verdict_frame, verdict_lines

D = 3


def gaussian_snapshot(sigma: float, n: int, gen: torch.Generator, problem="bkw3d", own_score=True) -> specs.Snapshot:
    """A snapshot of n samples of N(0, sigma^2 I) in the problem's dimension with their exact density and score."""
    p = get_problem(problem)
    x = sigma * torch.randn(n, p.dim, generator=gen, dtype=torch.float64)
    log_f = -(x ** 2).sum(1) / (2 * sigma ** 2) - p.dim / 2 * math.log(2 * math.pi * sigma ** 2)
    return specs.Snapshot(0.0, x, -x / sigma ** 2, x, x, p, None, "", None, 0, None, torch.exp(log_f),
                          own_score=own_score)


def series(sigmas, n=2_000, seed=0, metric="entropy_pushforward"):
    """(t, values, se) of `metric` and its se metric over snapshots of N(0, sigma_k^2 I), one fresh sample each."""
    gen = torch.Generator().manual_seed(seed)
    se_name = next(q.se for q in MONOTONE if q.metric == metric)
    snaps = [gaussian_snapshot(s, n, gen) for s in sigmas]
    return (list(range(len(sigmas))), [specs.METRICS[metric].compute(s) for s in snaps],
            [specs.METRICS[se_name].compute(s) for s in snaps])


def test_mean_and_se_are_the_sample_mean_and_sd_over_root_n():
    v = torch.tensor([1.0, 2.0, 4.0, 7.0], dtype=torch.float64)
    mean, se = mean_and_se(v)
    assert mean == 3.5
    assert se == pytest.approx(math.sqrt(((2.5 ** 2 + 1.5 ** 2 + 0.5 ** 2 + 3.5 ** 2) / 3) / 4), rel=1e-14)
    assert math.isnan(mean_and_se(torch.tensor([2.0]))[1])


def test_entropy_and_fisher_metrics_match_their_formulas():
    """entropy_pushforward_se = sd(-log f) / sqrt(N); fisher_information = mean |s|^2 (= d / sigma^2 in law) and its
    se = sd(|s|^2) / sqrt(N), by hand in float64."""
    s = gaussian_snapshot(0.5, 1_000, torch.Generator().manual_seed(1))
    minus_log = -torch.log(s.density)
    assert specs.METRICS["entropy_pushforward_se"].compute(s) == pytest.approx(
        float(minus_log.std()) / math.sqrt(1_000), rel=1e-12)
    sq = (s.score ** 2).sum(1)
    assert specs.METRICS["fisher_information"].compute(s) == pytest.approx(float(sq.mean()), rel=1e-12)
    assert specs.METRICS["fisher_information"].compute(s) == pytest.approx(D / 0.25, rel=0.05)
    assert specs.METRICS["fisher_information_se"].compute(s) == pytest.approx(float(sq.std()) / math.sqrt(1_000),
                                                                             rel=1e-12)


def test_fisher_is_computed_only_in_3d_with_gamma_in_range_and_a_score_of_its_own_density():
    """The theorem is 3D, gamma in [-3, 1]: no Fisher row (so no check) in 2D, nor for a score that models f_t's
    (sbp's, pinn_pm_particle's network) instead of the particle law's own; the entropy applies in any dimension."""
    gen = torch.Generator().manual_seed(2)
    names = lambda s: {m.name for m in specs.applicable(s)}
    assert {"fisher_information", "fisher_information_se"} <= names(gaussian_snapshot(1.0, 50, gen, "bkw3d"))
    assert "fisher_information" not in names(gaussian_snapshot(1.0, 50, gen, "bkw2d"))
    assert "entropy_pushforward_se" in names(gaussian_snapshot(1.0, 50, gen, "bkw2d"))
    assert "fisher_information" not in names(gaussian_snapshot(1.0, 50, gen, "bkw3d", own_score=False))
    assert "fisher_information" in names(gaussian_snapshot(1.0, 50, gen, "rosenbluth3d"))  # gamma = -3: in range


def test_a_planted_falling_entropy_beyond_noise_is_flagged():
    """N(0, sigma^2 I) contracting by 10% per step: S = (d/2) log(2 pi e sigma^2) falls by 3 log(1/0.9) = 0.32 a
    step, far beyond 4 (se0 + se1) ~ 0.22 at N = 2,000: every step flagged (the H-theorem forbids it)."""
    t, h, se = series([1.0, 0.9, 0.81, 0.729])
    found = violations(t, h, se, MONOTONE_Z, "decreases")
    assert [(v.t0, v.t1) for v in found] == [(0, 1), (1, 2), (2, 3)]
    assert all(v.change == pytest.approx(3 * math.log(1 / 0.9), abs=0.1) for v in found)


def test_a_rising_entropy_and_one_falling_within_noise_are_not_flagged():
    assert violations(*series([0.729, 0.81, 0.9, 1.0]), MONOTONE_Z, "decreases") == []
    assert violations(*series([1.0, 1.0, 1.0, 1.0, 1.0], seed=3), MONOTONE_Z, "decreases") == []
    t, h, se = series([1.0, 0.999, 0.998])  # a fall of 0.003 a step, under its noise
    assert max(h[0] - h[1], h[1] - h[2]) < MONOTONE_Z * 2 * max(se)
    assert violations(t, h, se, MONOTONE_Z, "decreases") == []


def test_a_planted_rising_fisher_information_is_flagged_and_a_falling_one_is_not():
    t, i, se = series([1.0, 0.8, 0.64], metric="fisher_information")  # I = 3 / sigma^2 rises
    assert [(v.t0, v.t1) for v in violations(t, i, se, MONOTONE_Z, "increases")] == [(0, 1), (1, 2)]
    assert violations(*series([0.64, 0.8, 1.0], metric="fisher_information"), MONOTONE_Z, "increases") == []


def flow_series(scales, noise=0.0, n=1_000, seed=5):
    """(t, H, se, step_se) of a flow map x_i(t) = a_t V_i, V ~ N(0, I_3): f_t(x_i) = f0(V_i) / a_t^3, times
    exp(noise eps_i(t)) with eps_i(t) ~ N(0, 1) fresh at each t (a per-particle error of the density)."""
    gen = torch.Generator().manual_seed(seed)
    p = get_problem("bkw3d")
    v = torch.randn(n, 3, generator=gen, dtype=torch.float64)
    f0 = torch.exp(-(v ** 2).sum(1) / 2) / (2 * math.pi) ** 1.5
    snaps, before = [], None
    for k, a in enumerate(scales):
        dens = f0 / a ** 3 * torch.exp(noise * torch.randn(n, generator=gen, dtype=torch.float64))
        snaps.append(specs.Snapshot(float(k), a * v, None, a * v, v, p, None, "", None, 0, None, dens,
                                    previous_density=before))
        before = dens
    value = lambda name, s: specs.METRICS[name].compute(s) if specs.METRICS[name].applies(s) else math.nan
    return ([s.t for s in snaps], [value("entropy_pushforward", s) for s in snaps],
            [value("entropy_pushforward_se", s) for s in snaps],
            [value("entropy_pushforward_step_se", s) for s in snaps])


def test_the_paired_step_error_finds_a_small_fall_that_the_unpaired_bound_cannot():
    """A flow map contracting by 1% a step: the entropy falls by exactly 3 log(1/0.99) = 0.030 a step, every particle
    alike, so the paired step se is 0 and every step is flagged; the unpaired bound 4 (se0 + se1) ~ 0.3 misses it."""
    t, h, se, step = flow_series([1.0, 0.99, 0.98])
    assert step[0] != step[0] and step[1] == pytest.approx(0.0, abs=1e-12)
    assert h[0] - h[1] == pytest.approx(3 * math.log(1 / 0.99), rel=1e-9)
    assert [(v.t0, v.t1) for v in violations(t, h, se, MONOTONE_Z, "decreases", step)] == [(0, 1), (1, 2)]
    assert violations(t, h, se, MONOTONE_Z, "decreases") == []


def test_a_paired_fall_within_its_noise_is_not_flagged():
    """No contraction, a 5% per-particle density error drawn afresh each step: the entropy moves by noise only
    (about 0.002 against a paired step se of about 0.0022): never flagged."""
    t, h, se, step = flow_series([1.0] * 6, noise=0.05)
    assert all(0.001 < s < 0.004 for s in step[1:])
    assert violations(t, h, se, MONOTONE_Z, "decreases", step) == []


finite = st.floats(-1e3, 1e3, allow_nan=False)


@given(st.lists(st.tuples(finite, st.floats(0, 10), st.one_of(st.just(math.nan), st.floats(0, 10))), min_size=2,
                max_size=8), st.floats(0, 6), st.sampled_from(["increases", "decreases"]))
def test_noise_rule_is_exactly_change_beyond_z_times_the_step_standard_error(points, z, never):
    """Property: the flagged steps k -> k+1 are exactly those with sign (v1 - v0) > z step_se_k+1 where the paired
    step se is known, else > z (se0 + se1), sign = +1 for 'increases' and -1 for 'decreases'; negating the values
    swaps the two directions."""
    t = list(range(len(points)))
    v, se, step = ([p[i] for p in points] for i in range(3))
    sign = 1 if never == "increases" else -1
    allowed = [z * (step[k + 1] if step[k + 1] == step[k + 1] else se[k] + se[k + 1]) for k in range(len(v) - 1)]
    want = [k for k in range(len(v) - 1) if sign * (v[k + 1] - v[k]) > allowed[k]]
    got = violations(t, v, se, z, never, step)
    assert [g.t0 for g in got] == want
    assert [g.allowed for g in got] == [allowed[k] for k in want]
    other = "decreases" if never == "increases" else "increases"
    assert [g.t0 for g in violations(t, [-x for x in v], se, z, other, step)] == want


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 2 ** 31 - 1), st.sampled_from(["increases", "decreases"]))
def test_noise_rule_flags_no_stationary_series_and_every_drift_of_twenty_standard_errors(seed, never):
    """Property over seeds: means of N = 400 fresh N(0, 1) draws per step (no trend) are never flagged at z =
    MONOTONE_Z; the same draws shifted by 20 se per step the forbidden way are flagged at every step."""
    gen = torch.Generator().manual_seed(seed)
    stats = [mean_and_se(torch.randn(400, generator=gen, dtype=torch.float64)) for _ in range(6)]
    t, m, se = list(range(6)), [s[0] for s in stats], [s[1] for s in stats]
    assert violations(t, m, se, MONOTONE_Z, never) == []
    sign = 1 if never == "increases" else -1
    drifted = [x + sign * 20 * k / math.sqrt(400) for k, x in enumerate(m)]
    assert len(violations(t, drifted, se, MONOTONE_Z, never)) == 5


def test_bad_arguments_are_refused_in_one_line():
    with pytest.raises(ValueError, match="never = 'up'"):
        violations([0, 1], [0, 1], [0, 0], 1.0, "up")
    with pytest.raises(ValueError, match="z = -1"):
        violations([0, 1], [0, 1], [0, 0], -1.0)


def cell_rows(solver, values, ses, metric="fisher_information", seed=0, w1=0.2):
    rows = []
    for t, (v, s) in enumerate(zip(values, ses)):
        rows += [dict(solver=solver, problem="bkw3d", seed=seed, overrides="", t=float(t), metric=metric, value=v,
                      reference=""),
                 dict(solver=solver, problem="bkw3d", seed=seed, overrides="", t=float(t), metric=metric + "_se",
                      value=s, reference=""),
                 dict(solver=solver, problem="bkw3d", seed=seed, overrides="", t=float(t), metric="w1", value=w1,
                      reference="exact"),
                 dict(solver=solver, problem="bkw3d", seed=seed, overrides="", t=float(t), metric="w1_mc_floor",
                      value=0.2, reference="exact")]
    return rows


def test_the_verdict_marks_the_cell_whose_fisher_information_rises_and_says_why():
    """neural_flow's Fisher information rises 3.0 -> 3.5 with se 0.01 (allowed 0.08): flagged, its verdict cell
    carries MONOTONE_MARK and a sentence names it; pinn_pm_sc's falls, and a rise hidden by a fold (NaN) is not
    checked: unmarked."""
    table = pd.DataFrame(cell_rows("neural_flow", [3.0, 3.5, 3.4], [0.01] * 3)
                         + cell_rows("pinn_pm_sc", [3.0, 2.9, math.nan], [0.01] * 3)
                         + cell_rows("pinn_pm_sc", [3.0, math.nan, 9.0], [0.01] * 3, metric="entropy_pushforward"))
    found = monotone_violations(table)
    assert found[["solver", "quantity", "t0", "t1"]].values.tolist() == [["neural_flow", "fisher_information", 0.0, 1.0]]
    assert found.change.iloc[0] == pytest.approx(0.5) and found.allowed.iloc[0] == pytest.approx(MONOTONE_Z * 0.02)
    timings = pd.DataFrame([dict(solver=s, problem="bkw3d", seed=0, overrides="", solve_s=10.0)
                            for s in ("neural_flow", "pinn_pm_sc")])
    text = "\n".join(verdict_lines(verdict_frame(table, timings), None, found))
    assert f"| 1.00 ✓ {MONOTONE_MARK} (10 s) | 1.00 ✓ (10 s) |" in text
    assert (f"- {MONOTONE_MARK} neural_flow on bkw3d: fisher_information increases from 3 (t = 0) to 3.5 (t = 1) in "
            f"seed 0, by 0.5 > 0.08 ({MONOTONE_Z:g} standard errors of the step)") in text
    assert f"{MONOTONE_MARK}: a quantity the theory moves one way only" in text  # the legend, once marked
    clean = "\n".join(verdict_lines(verdict_frame(table, timings), None, monotone_violations(table.iloc[12:])))
    assert MONOTONE_MARK not in clean


def test_a_step_without_its_standard_errors_is_not_checked():
    """A record made before the se rows: a rise of 10 is not judged (no noise known), with the se rows it is."""
    rows = cell_rows("neural_flow", [3.0, 13.0], [0.01] * 2)
    assert len(monotone_violations(pd.DataFrame(rows))) == 1
    table = pd.DataFrame([r for r in rows if r["metric"] != "fisher_information_se"])
    assert monotone_violations(table).empty
    assert monotone_violations(pd.DataFrame(columns=table.columns)).empty


@pytest.mark.parametrize("own", [True, False])
def test_evaluate_hands_the_trajectorys_score_is_own_to_every_snapshot(own, monkeypatch):
    """harness.execute.evaluate builds each Snapshot with own_score = Trajectory.score_is_own (the flag that lets
    fisher_information apply), and on a 2D problem the entropy's se row is recorded while Fisher is not."""
    from harness.execute.evaluate import evaluate
    from harness.plan.plugins import load_plugins
    from pathlib import Path
    from solvers import Trajectory
    load_plugins([str(Path(__file__).with_name("harness_plugin.py"))])
    problem = get_problem("tiny2d")
    seen, applicable = [], specs.applicable
    monkeypatch.setattr(specs, "applicable", lambda s: seen.append(s.own_score) or applicable(s))
    v = torch.randn(40, 2, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    dens = torch.exp(-(v ** 2).sum(1) / 2) / (2 * math.pi)
    times = list(problem.snapshot_times)
    traj = Trajectory("own", problem.name, times, [v] * 2, [-v] * 2, v, densities=[dens] * 2, score_is_own=own)
    dens1 = dens * torch.exp(0.1 * v[:, 0])
    traj = Trajectory("own", problem.name, times, [v] * 2, [-v] * 2, v, densities=[dens, dens1], score_is_own=own)
    rows = evaluate(traj, problem, 0, "coarse")
    assert seen == [own, own]
    got = {(r["t"], r["metric"]): r["value"] for r in rows}
    assert (times[0], "entropy_pushforward_se") in got and "fisher_information" not in {m for _, m in got}
    assert (times[0], "entropy_pushforward_step_se") not in got  # no step into the first snapshot
    assert got[times[1], "entropy_pushforward_step_se"] == pytest.approx(float((0.1 * v[:, 0]).std()) / math.sqrt(40),
                                                                          rel=1e-12)


def test_the_report_judges_a_step_by_its_paired_standard_error_where_recorded():
    """A Fisher rise of 0.05 with se 0.05 at both ends (unpaired allowance 0.4): not flagged; with its recorded paired
    step se 0.005 (allowance 0.02): flagged."""
    rows = cell_rows("neural_flow", [3.0, 3.05], [0.05] * 2)
    assert monotone_violations(pd.DataFrame(rows)).empty
    rows.append(dict(solver="neural_flow", problem="bkw3d", seed=0, overrides="", t=1.0,
                     metric="fisher_information_step_se", value=0.005, reference=""))
    found = monotone_violations(pd.DataFrame(rows))
    assert found[["t0", "t1"]].values.tolist() == [[0.0, 1.0]]
    assert found.allowed.iloc[0] == pytest.approx(MONOTONE_Z * 0.005)


def test_the_fisher_step_error_is_the_paired_sd_over_root_n():
    gen = torch.Generator().manual_seed(6)
    s = gaussian_snapshot(1.0, 500, gen)
    prev = s.score * (1 + 0.1 * torch.randn(500, 1, generator=gen, dtype=torch.float64))
    paired = specs.Snapshot(1.0, s.x, s.score, s.x, s.x, s.problem, None, "", None, 0, None, s.density,
                            own_score=True, previous_score=prev)
    want = float(((s.score ** 2).sum(1) - (prev ** 2).sum(1)).std()) / math.sqrt(500)
    assert specs.METRICS["fisher_information_step_se"].compute(paired) == pytest.approx(want, rel=1e-12)
    assert "fisher_information_step_se" not in {m.name for m in specs.applicable(s)}  # no previous snapshot


def exact_flow_series(name: str, quantity: str):
    """(t, value, se, step_se) of `quantity` along the exact characteristics x_i(t) of `name` from V ~ f0 (N = 1,000,
    sample seed 0), with the exact density and score at x_i(t) standing for a flow map's own."""
    from problems.cases.characteristics import integrate_characteristics
    p = get_problem(name)
    v = p.sample(1_000, 0).to(torch.float64)
    ts = sorted(p.snapshot_times)
    snaps, before = [], (None, None)
    for t, x in zip(ts, integrate_characteristics(p, v, ts, 1e-10, 1e-12)):
        d, s = p.density(x, t), p.score(x, t)
        snaps.append(specs.Snapshot(t, x, s, x, v, p, None, "", None, 0, None, d, own_score=True,
                                    previous_density=before[0], previous_score=before[1]))
        before = (d, s)
    val = lambda m, s: specs.METRICS[m].compute(s) if specs.METRICS[m].applies(s) else math.nan
    return (ts,) + tuple([val(m, s) for s in snaps] for m in (quantity, quantity + "_se", quantity + "_step_se"))


@pytest.mark.parametrize("name,quantity,never", [("bkw3d", "entropy_pushforward", "decreases"),
                                                 ("bkw3d", "fisher_information", "increases"),
                                                 ("bkw2d", "entropy_pushforward", "decreases")])
def test_the_exact_bkw_flow_is_never_flagged_and_its_time_reversal_always_is(name, quantity, never):
    """The exact solution obeys both theorems: no step flagged. Played backwards (the same values and paired errors
    in reverse time) every step is flagged: the paired step se (0.001-0.04) is far below the exact steps (entropy
    +0.012-0.032, Fisher information -0.15-0.25), while the unpaired allowance 4 (se0 + se1) would miss the entropy's."""
    t, value, se, step = exact_flow_series(name, quantity)
    assert violations(t, value, se, MONOTONE_Z, never, step) == []
    back = [math.nan] + step[:0:-1]  # the step into reversed snapshot k is the original step between them
    flagged = violations(t, value[::-1], se[::-1], MONOTONE_Z, never, back)
    assert len(flagged) == len(t) - 1
    if quantity == "entropy_pushforward":
        assert violations(t, value[::-1], se[::-1], MONOTONE_Z, never) == []


def test_summary_md_marks_the_cell_and_hides_a_folded_step_from_the_check():
    """render_summary (the whole summary.md) runs the check on the fold-masked table: the rising neural_flow cell is
    marked and named; pinn_pm_sc, whose Fisher information jumps only after its map folds (fold_fraction > 0 at
    t = 2, so the value there is hidden), is not."""
    from harness.report.summary import render_summary
    rows = (cell_rows("neural_flow", [3.0, 3.5, 3.4], [0.01] * 3)
            + cell_rows("pinn_pm_sc", [3.0, 2.9, 9.0], [0.01] * 3)
            + [dict(solver="pinn_pm_sc", problem="bkw3d", seed=0, overrides="", t=float(t), metric=m, value=v,
                    reference="") for t, frac in ((0, 0.0), (1, 0.0), (2, 0.1))
               for m, v in (("fold_fraction", frac), ("min_det_j", 0.5 - frac * 10))])
    timings = pd.DataFrame([dict(solver=s, problem="bkw3d", seed=0, overrides="", solve_s=10.0)
                            for s in ("neural_flow", "pinn_pm_sc")])
    text = render_summary(pd.DataFrame(rows), timings, pd.DataFrame(), {})
    assert f"| 1.00 ✓ {MONOTONE_MARK} (10 s) | 1.00 ✓ (10 s) |" in text
    assert f"{MONOTONE_MARK} neural_flow on bkw3d: fisher_information increases" in text
    assert f"{MONOTONE_MARK} pinn_pm_sc" not in text
