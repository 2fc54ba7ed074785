"""Issue 40: floors as distributions and the statistics every judging sentence rests on (harness.report.evidence,
metrics.floor_distribution, infra.rows.FloorDistribution). Each number is checked against a closed form, a hand
computation or scipy's own routine on the same data."""
import json
import math

import numpy as np
import pandas as pd
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import problems
from harness.report import evidence
from infra.rows import FloorDistribution
from metrics import floor_distribution as fd
from metrics.specs import METRICS, Snapshot, null_distribution
from metrics.wasserstein import w1_mc_floor


def test_floor_distribution_mean_se_and_json_round_trip():
    d = FloorDistribution(2.5, "w1", "w1_mc_floor", 1000, (0.1, 0.2, 0.3, 0.6), "exact")
    assert d.mean == pytest.approx(0.3, abs=1e-15) and d.pairs == 4
    assert d.se == pytest.approx(math.sqrt(((0.2 ** 2 + 0.1 ** 2 + 0 + 0.3 ** 2) / 3) / 4), rel=1e-12)
    assert FloorDistribution.from_json(json.loads(json.dumps(d.to_json()))) == d
    for bad, why in (({**d.to_json(), "values": []}, "values"), ({**d.to_json(), "values": [0.1, -1.0]}, "values"),
                     ({**d.to_json(), "values": [0.1, float("nan")]}, "values"), ({**d.to_json(), "n": 0}, "n = 0"),
                     ({**d.to_json(), "n": True}, "n = True"), ({"t": 1.0}, "not a floor distribution")):
        with pytest.raises(ValueError, match=why):
            FloorDistribution.from_json(bad)


def test_t_interval_is_students():
    from scipy import stats
    x = [1.0, 2.0, 4.0, 7.0]
    mean, lo, hi = evidence.t_interval(x)
    ref = stats.t.interval(0.95, 3, loc=np.mean(x), scale=stats.sem(x))
    assert (mean, lo, hi) == pytest.approx((3.5, *ref), rel=1e-12)
    assert evidence.t_interval([2.0])[0] == 2.0 and math.isnan(evidence.t_interval([2.0])[1])


def test_null_band_one_seed_is_the_draws_quantiles_and_k_seeds_shrink_like_sqrt_k():
    draws = np.random.default_rng(1).normal(1.0, 0.1, 400)
    assert evidence.null_band([draws]) == pytest.approx(tuple(np.quantile(draws, [0.025, 0.975])), abs=1e-15)
    lo, hi = evidence.null_band([draws] * 4)
    # the mean of 4 independent draws: about 1 ± 1.96 x 0.1 / 2 (the draws' own sd, not 0.1 exactly)
    half = 1.96 * draws.std() / 2
    assert (hi - lo) / 2 == pytest.approx(half, rel=0.05)
    assert evidence.null_band([draws] * 4) == (lo, hi)  # a named stream: the same band every time
    # different distributions per seed: the band of the mean is centred on the mean of the means
    lo2, hi2 = evidence.null_band([draws, draws + 1.0])
    assert (lo2 + hi2) / 2 == pytest.approx(1.5, abs=0.02)


def test_pair_test_is_paired_on_shared_seeds_and_welch_otherwise():
    from scipy import stats
    a = {0: 1.0, 1: 1.2, 2: 0.9, 3: 1.1}
    b = {0: 1.3, 1: 1.4, 2: 1.25, 3: 1.5}
    log = lambda d: np.log(list(d.values()))
    name, p = evidence.pair_test(a, b)
    assert name == "paired t over 4 seeds" and p == pytest.approx(stats.ttest_rel(log(a), log(b)).pvalue, rel=1e-12)
    c = {10: 1.3, 11: 1.4, 12: 1.25}
    name, p = evidence.pair_test(a, c)
    assert name == "Welch t" and p == pytest.approx(stats.ttest_ind(log(a), log(c), equal_var=False).pvalue, rel=1e-12)
    assert evidence.pair_test({0: 1.0}, {1: 2.0}) == ("", evidence.pair_test({0: 1.0}, {1: 2.0})[1])
    assert math.isnan(evidence.pair_test({0: 1.0}, {1: 2.0})[1])
    assert evidence.pair_test({0: 1.0, 1: 2.0}, {0: 1.0, 1: 2.0})[1] == 1.0  # identical: no difference
    assert evidence.pair_test({0: 1.0, 1: 2.0}, {0: 1.5, 1: 3.0})[1] < 1e-10  # a constant factor: no spread


def test_holm_by_hand():
    assert evidence.holm([0.01, 0.04, 0.03, float("nan")])[:3] == pytest.approx([0.03, 0.06, 0.06])
    assert evidence.holm([0.5, 0.001]) == pytest.approx([0.5, 0.002])


def _rows(values: dict, floor_draws: list | None, one_floor: float | None = None):
    """A long table of one metric (w1) at t = 1 for solver s over seeds {seed: value}, and its floors table."""
    table, floors = [], []
    mean = float(np.mean(floor_draws)) if floor_draws else one_floor
    for seed, v in values.items():
        table += [dict(solver="s", problem="p", seed=seed, overrides="", t=1.0, metric="w1", value=v),
                  dict(solver="s", problem="p", seed=seed, overrides="", t=1.0, metric="w1_mc_floor", value=mean)]
        if floor_draws:
            floors.append(dict(solver="s", problem="p", seed=seed, overrides="", t=1.0, metric="w1", floor="w1_mc_floor",
                               n=100, pairs=len(floor_draws), mean=mean, se=0.0, reference="exact",
                               values=tuple(floor_draws)))
    return pd.DataFrame(table), pd.DataFrame(floors)


@pytest.mark.parametrize("value, place", [(1.0, "at"), (1.3, "above"), (0.7, "below")])
def test_row_evidence_places_a_row_against_its_band(value, place):
    draws = list(np.linspace(0.8, 1.2, 41))  # mean 1, band [0.81, 1.19] for one seed
    table, floors = _rows({0: value}, draws)
    ev = evidence.row_evidence(table, floors, "p", "s", "", 1.0, "w1", "w1_mc_floor")
    assert ev.place == place and ev.ratio == pytest.approx(value) and not ev.one_draw and ev.n == 100
    assert (ev.band_lo, ev.band_hi) == pytest.approx((0.81, 1.19))
    # a run without floor distributions: judged on its one floor draw, within AT_FLOOR (1.1)
    table, _ = _rows({0: value}, None, one_floor=1.0)
    old = evidence.row_evidence(table, None, "p", "s", "", 1.0, "w1", "w1_mc_floor")
    assert old.one_draw and old.place == ("at" if value <= 1.1 else "above") and math.isnan(old.band_lo)


def test_rankings_claim_only_what_holm_supports():
    def ev(name, ratios):
        return evidence.RowEvidence("p", name, "", 1.0, "w1", tuple(range(len(ratios))), (), (), tuple(ratios),
                                    float(np.mean(ratios)), math.nan, math.nan, 0.9, 1.1, "at", False, 100, 0.0)
    rows = {"a": ev("a", [1.0, 1.02, 0.98, 1.01, 0.99]), "b": ev("b", [1.01, 0.99, 1.0, 1.03, 0.97]),
            "c": ev("c", [1.5, 1.6, 1.45, 1.55, 1.52])}
    ranked = evidence.rankings(rows)
    significant = {(r.better, r.worse) for r in ranked if r.significant}
    assert significant == {("a", "c"), ("b", "c")}
    assert sorted(evidence.best_set(rows, ranked)) == ["a", "b"]
    single = {k: ev(k, [r.ratio]) for k, r in rows.items()}
    assert evidence.rankings(single) == [] and evidence.best_set(single, []) == []


def test_w1_floor_is_the_mean_of_30_cached_pairs_and_its_draws_are_the_old_single_floors(tmp_path, monkeypatch):
    """The w1 floor of a snapshot is the mean of FLOOR_PAIRS exact-sample W1s, draw r being w1_mc_floor at seed r; a
    second evaluation reads the disk cache (no draw computed again), even in a fresh process (memo cleared)."""
    monkeypatch.setenv("LANDAU_REFERENCE_CACHE", str(tmp_path))
    fd.clear_memo()
    p = problems.get_problem("bkw2d")
    x = p.sample_at(1.0, 60, 5)
    snap = Snapshot(1.0, x, None, x, x, p, p, "exact", None, 0)
    spec = METRICS["w1"]
    dist = null_distribution(spec, snap)
    assert dist.pairs == fd.FLOOR_PAIRS == 30 and dist.n == 60 and dist.floor == "w1_mc_floor"
    assert list(dist.values[:3]) == [w1_mc_floor(p, 1.0, 60, r) for r in range(3)]
    assert METRICS["w1_mc_floor"].compute(snap) == pytest.approx(float(np.mean(dist.values)), rel=1e-15)
    files = list((tmp_path / "floors").glob("*.json"))
    assert len(files) == 1
    fd.clear_memo()
    stored = json.loads(files[0].read_text())
    stored["values"] = [v * 2 for v in stored["values"]]  # a planted cache entry is what a second process reads
    files[0].write_text(json.dumps(stored))
    assert null_distribution(spec, snap).mean == pytest.approx(2 * dist.mean, rel=1e-12)
    fd.clear_memo()
    files[0].write_text("{not json")  # damaged: recomputed
    assert null_distribution(spec, snap).mean == pytest.approx(dist.mean, rel=1e-12)
    fd.clear_memo()


def test_a_fifo_or_link_in_the_floor_cache_is_never_read(tmp_path, monkeypatch):
    import os
    monkeypatch.setenv("LANDAU_REFERENCE_CACHE", str(tmp_path))
    fd.clear_memo()
    calls = []
    values = fd.cached_values("m", "problem", 1.0, 10, 30, lambda: calls.append(1) or [0.5] * 30)
    path = next((tmp_path / "floors").glob("*.json"))
    path.unlink()
    os.mkfifo(path)  # a FIFO at the cache name: a blocking read would hang
    fd.clear_memo()
    assert fd._read_regular(path) is None
    target = tmp_path / "outside.json"
    target.write_text(json.dumps({"key": "x", "values": [9.0] * 30}))
    path.unlink()
    path.symlink_to(target)
    assert fd._read_regular(path) is None
    assert fd.cached_values("m", "problem", 1.0, 10, 30, lambda: calls.append(1) or [0.5] * 30) == values
    assert len(calls) == 2 and target.read_text().startswith('{"key": "x"')  # the link was replaced, not written through
    assert not path.is_symlink()
    path.unlink()
    os.mkfifo(path)  # and a FIFO is replaced by the write, never opened for writing
    fd.clear_memo()
    assert fd.cached_values("m", "problem", 1.0, 10, 30, lambda: calls.append(1) or [0.5] * 30) == values
    assert len(calls) == 3 and path.is_file()
    fd.clear_memo()


def test_a_null_law_needs_a_floor_and_at_least_30_draws():
    from metrics.specs import MetricSpec, NullLaw
    law = NullLaw(lambda s, r: [0.0] * r, lambda s: 1)
    with pytest.raises(ValueError, match="needs a floor"):
        MetricSpec("m", "", lambda s: 0.0, null=law)
    with pytest.raises(ValueError, match="at least 30 draws"):
        MetricSpec("m", "", lambda s: 0.0, floors=("m_floor",), null=NullLaw(law.draws, law.n, pairs=29))


def test_evaluate_attaches_the_distributions_and_the_floor_rows_are_their_means(tmp_path, monkeypatch):
    """A cell's evaluation: every metric with a null law gets its FloorDistribution, and its floor row's value is
    exactly that distribution's mean (also the region masses, whose draws come from the binomial law)."""
    from harness.execute.evaluate import evaluate
    from solvers import Trajectory
    monkeypatch.setenv("LANDAU_REFERENCE_CACHE", str(tmp_path))
    fd.clear_memo()
    exact = problems.get_problem("bkw2d")
    x0 = exact.sample(80, 0)
    traj = Trajectory(solver="hand", problem="bkw2d", times=[1.0], particles=[exact.sample_at(1.0, 80, 1)],
                      scores=[None], initial=x0)
    floors = []
    rows = evaluate(traj, exact, 0, "coarse", floors=floors)
    by = {(r["metric"]): r["value"] for r in rows}
    dists = {f["metric"]: FloorDistribution.from_json(f) for f in floors}
    assert set(dists) >= {"w1", "kde_l2", "hdr_mass_err"}
    for metric, d in dists.items():
        assert by[d.floor] == d.mean, metric
    assert dists["hdr_mass_err"].pairs == 200 and dists["w1"].pairs == 30
    fd.clear_memo()


def _ev(name, ratios, seeds=None, metric="w1", n=1000):
    seeds = tuple(range(len(ratios))) if seeds is None else tuple(seeds)
    finite = [r for r in ratios if math.isfinite(r)]
    return evidence.RowEvidence("p", name, "", 1.0, metric, seeds, (), (), tuple(ratios), float(np.mean(finite)),
                                math.nan, math.nan, 0.9, 1.1, "at", False, n, 0.0)


def test_the_better_side_comes_from_the_seeds_the_test_used():
    """Review: A's mean over all its seeds is lower (three failed-looking low seeds), but on the 3 seeds B has, A is
    worse by 0.2 every time: the paired test says B is better."""
    a = _ev("A", [1.20, 1.22, 1.19, 0.5, 0.5, 0.5])
    b = _ev("B", [1.00, 1.01, 0.99])
    (r,) = evidence.rankings({"A": a, "B": b})
    assert (r.better, r.worse, r.test) == ("B", "A", "paired t over 3 seeds") and r.significant


def test_bold_is_every_row_no_significant_test_beats_and_never_a_one_seed_row():
    rng = np.random.default_rng(3)
    rows = {"A": _ev("A", [0.6, 1.4, 0.7, 1.3, 1.0]), "C": _ev("C", list(1.0 + 0.01 * rng.standard_normal(5))),
            "B": _ev("B", list(1.1 + 0.01 * rng.standard_normal(5)))}
    ranked = evidence.rankings(rows)
    assert {(r.better, r.worse) for r in ranked if r.significant} == {("C", "B")}
    # the smallest mean (C, 0.998) and the rows no test separates from it (A, too noisy); not B
    assert evidence.best_set(rows, ranked) == ["C", "A"]
    rows["D"] = _ev("D", [0.5], seeds=[9])
    assert "D" not in evidence.best_set(rows, evidence.rankings(rows))


def test_rows_at_another_n_or_w1_variant_are_not_ranked():
    a = _ev("A", [1.0, 1.01, 0.99, 1.0], n=1000)
    b = _ev("B", [1.5, 1.51, 1.49, 1.5], n=4000, metric="w1_sub4000")
    c = _ev("C", [1.5, 1.51, 1.49, 1.5], n=2000)
    assert evidence.rankings({"A": a, "B": b, "C": c}) == []
    assert not evidence.comparable(a, c) and not evidence.comparable(a, b)


def test_a_row_with_a_seed_without_floor_distribution_claims_no_band():
    draws = list(np.linspace(0.8, 1.2, 41))
    table, floors = _rows({0: 1.08, 1: 1.05, 2: 1.07}, draws)
    floors = floors[floors.seed != 2]  # seed 2's floor distribution is missing
    ev = evidence.row_evidence(table, floors, "p", "s", "", 1.0, "w1", "w1_mc_floor")
    assert ev.one_draw and math.isnan(ev.band_lo) and ev.place == "at" and ev.k == 3
    assert evidence.pair_test({0: 1.0, 1: float("nan"), 2: 1.1}, {0: 1.2, 1: 1.3, 2: 1.25})[0] == "paired t over 2 seeds"
