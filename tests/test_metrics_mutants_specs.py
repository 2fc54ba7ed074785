"""metrics.specs against values computed by hand (issue 43 item 5): every requirement of NEEDS on its boundary,
the domains, the field checks, the registry's functions and order, LiveView, and each default metric's compute
wired to the functions it names (with the arguments, streams and sizes it must pass: recorded by stand-ins) or
computed by hand from a cloud of N = 3 particles in d = 2 (N != d, so a reduction over the wrong axis shows)."""
import math
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from infra import seeds
from metrics import specs
from metrics.regions import REFERENCE_SAMPLES, hdr_mass_error, mass_within
from metrics.specs import METRICS, NEEDS, MetricSpec, NullLaw, Snapshot


def t64(x):
    return torch.tensor(x, dtype=torch.float64)


class Judged:
    """A stand-in judged problem: sample_at draws N(0, I_2) from the given seed and records (t, n, seed);
    density is exp(-|v|^2 / 2)."""

    def __init__(self):
        self.calls = []

    def sample_at(self, t, n, seed):
        self.calls.append((t, n, seed))
        return torch.randn(n, 2, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)

    def density(self, v, t):
        return torch.exp(-(v * v).sum(-1) / 2)

    def __repr__(self):
        return "Judged()"


def problem(**kw):
    base = dict(gamma=0.0, C=1.0, dim=2, states_moments=True, states_moment4=True, has_exact_solution=True,
                core_radius=0.9)
    return SimpleNamespace(**{**base, **kw})


X = t64([[1.0, 0.0], [0.0, 2.0], [3.0, 1.0]])


def snap(**kw):
    base = dict(t=0.5, x=X, score=None, density_x=X, initial=X, problem=problem(), judged=None, reference="exact",
                exact_x=None, seed=4)
    return Snapshot(**{**base, **kw})


# ------------------------------------------------------------------------------------------------------ NEEDS
def test_specs_needs_score_judged_flow_map():
    assert NEEDS["score"](snap(score=X)) and not NEEDS["score"](snap())
    assert NEEDS["judged"](snap(judged=Judged())) and not NEEDS["judged"](snap())
    assert NEEDS["flow_map"](snap(det_j=t64([1.0, 1.0, 1.0]))) and not NEEDS["flow_map"](snap())


@pytest.mark.parametrize("need, flag", [("maxwell", "states_moments"), ("moment4", "states_moment4")])
def test_specs_needs_maxwell_moments(need, flag):
    assert NEEDS[need](snap(problem=problem(gamma=0.0)))
    assert not NEEDS[need](snap(problem=problem(gamma=1.0)))
    assert not NEEDS[need](snap(problem=problem(gamma=-3.0)))
    assert not NEEDS[need](snap(problem=problem(gamma=0.0, **{flag: False})))
    assert not NEEDS[need](snap(problem=problem(gamma=1.0, **{flag: False})))


def test_specs_needs_exact():
    assert NEEDS["exact"](snap(exact_x=X))
    assert not NEEDS["exact"](snap(exact_x=None))
    assert not NEEDS["exact"](snap(exact_x=X, problem=problem(has_exact_solution=False)))
    assert not NEEDS["exact"](snap(exact_x=None, problem=problem(has_exact_solution=False)))


def test_specs_needs_w1_sizes_at_the_boundary():
    """Exact W1 up to W1_MAX_EXACT = 4,000 particles (inclusive), the subsampled one above; d = 2 columns."""
    at, above = torch.zeros(4_000, 2), torch.zeros(4_001, 2)
    assert specs.W1_MAX_EXACT == 4_000 and specs.W1_SUB == "w1_sub4000"
    assert NEEDS["w1_exact_size"](snap(x=at)) and not NEEDS["w1_exact_size"](snap(x=above))
    assert NEEDS["w1_subsampled_size"](snap(x=above)) and not NEEDS["w1_subsampled_size"](snap(x=at))
    assert NEEDS["w1_exact_size"](snap(x=torch.zeros(3, 5_000)))  # rows are particles, not columns
    assert not NEEDS["w1_subsampled_size"](snap(x=torch.zeros(3, 5_000)))


def test_specs_needs_core_region():
    assert NEEDS["core_region"](snap()) and not NEEDS["core_region"](snap(problem=problem(core_radius=None)))


def test_specs_needs_pushforward_density():
    ok = t64([0.5, 2.0, 0.25])
    assert NEEDS["pushforward_density"](snap(density=ok))
    assert not NEEDS["pushforward_density"](snap())
    for bad in ([0.5, math.inf, 1.0], [0.5, 0.0, 1.0], [0.5, -1.0, 1.0], [0.5, math.nan, 1.0]):
        assert not NEEDS["pushforward_density"](snap(density=t64(bad))), bad


def test_specs_needs_own_score():
    assert NEEDS["own_score"](snap(own_score=True, score=X))
    assert not NEEDS["own_score"](snap(own_score=False, score=X))
    assert not NEEDS["own_score"](snap(own_score=True, score=None))


@pytest.mark.parametrize("dim, gamma, holds", [(3, -3.0, True), (3, 1.0, True), (3, 0.0, True), (3, -2.0, True),
                                               (3, -3.5, False), (3, 1.5, False), (2, 0.0, False), (4, 0.0, False),
                                               (3, 0.5, True), (3, -2.5, True)])
def test_specs_needs_fisher_monotone(dim, gamma, holds):
    assert NEEDS["fisher_monotone"](snap(problem=problem(dim=dim, gamma=gamma))) is holds


def test_specs_needs_previous_density():
    d = t64([0.5, 2.0, 0.25])
    assert NEEDS["previous_density"](snap(density=d, previous_density=t64([0.75, 1.0, 0.125])))
    assert not NEEDS["previous_density"](snap(density=d))
    assert not NEEDS["previous_density"](snap(previous_density=d))
    assert not NEEDS["previous_density"](snap(density=d, previous_density=t64([0.5, 2.0])))
    for bad in ([0.5, math.inf, 1.0], [0.5, 0.0, 1.0], [0.5, -2.0, 1.0]):
        assert not NEEDS["previous_density"](snap(density=d, previous_density=t64(bad))), bad


def test_specs_needs_previous_score():
    assert NEEDS["previous_score"](snap(score=X, previous_score=2 * X))
    assert not NEEDS["previous_score"](snap(score=X))
    assert not NEEDS["previous_score"](snap(previous_score=X))
    assert not NEEDS["previous_score"](snap(score=X, previous_score=X[:2]))


# ------------------------------------------------------------------------------------------- spec, registry
@pytest.mark.parametrize("domain, inside, outside", [
    ("non_negative", [0.0, 0.5, 2.0, math.inf, math.nan], [-1e-12, -1.0, -math.inf]),
    ("fraction", [0.0, 0.5, 1.0, math.nan], [-0.1, 1.1, math.inf]),
    ("real", [-5.0, 0.0, 7.0, math.nan, -math.inf], [])])
def test_specs_domains(domain, inside, outside):
    spec = MetricSpec("m", "", None, domain=domain)
    for v in inside:
        assert spec.out_of_domain(v) is None, v
    what = specs.DOMAINS[domain][1]
    for v in outside:
        assert spec.out_of_domain(v) == f"m = {v!r} is not {what}"


def test_specs_field_checks():
    assert specs._CHOICES == {"better": ("lower", "higher", ""), "scale": ("log", "linear"),
                              "show": ("per_time", "last", "floor", "parquet", "diagnosis"),
                              "reference": ("judged", "exact", ""), "absurd": ("floor", "relative", ""),
                              "roles": ("accuracy", "regression"), "domain": tuple(specs.DOMAINS)}
    assert set(specs.DOMAINS) == {"non_negative", "non_positive", "fraction", "real"}
    MetricSpec("m", "", None, roles=("accuracy", "regression"), better="higher", show="floor")
    with pytest.raises(ValueError, match=r"metric 'm': roles = 'speed' is not one of 'accuracy', 'regression'"):
        MetricSpec("m", "", None, roles=("accuracy", "speed"))
    with pytest.raises(ValueError, match=r"metric 'm': scale = 'lin' is not one of 'log', 'linear'"):
        MetricSpec("m", "", None, scale="lin")
    with pytest.raises(ValueError, match="absurd = 'floor' needs a floor"):
        MetricSpec("m", "", None, absurd="floor")
    MetricSpec("m", "", None, absurd="floor", floors=("f",))
    MetricSpec("m", "", None, absurd="relative")
    law = NullLaw(lambda s, r: [0.0] * r, lambda s: 1)
    with pytest.raises(ValueError, match="a null law needs a floor"):
        MetricSpec("m", "", None, null=law)
    MetricSpec("m", "", None, floors=("f",), null=law)
    MetricSpec("m", "", None, floors=("f",), null=NullLaw(law.draws, law.n, pairs=31))
    with pytest.raises(ValueError, match="at least 30 draws, got 29"):
        MetricSpec("m", "", None, floors=("f",), null=NullLaw(law.draws, law.n, pairs=29))


def test_specs_applies_and_is_floor():
    assert MetricSpec("m", "", lambda s: 0.0).applies(snap())
    assert not MetricSpec("m", "", None).applies(snap(score=X))
    assert MetricSpec("m", "", lambda s: 0.0, needs=("score",)).applies(snap(score=X))
    assert not MetricSpec("m", "", lambda s: 0.0, needs=("score",)).applies(snap())
    assert not MetricSpec("m", "", lambda s: 0.0, needs=("score", "judged")).applies(snap(score=X))
    assert MetricSpec("m", "", None, show="floor").is_floor
    assert not MetricSpec("m", "", None, show="last").is_floor


def test_specs_registry_functions(monkeypatch):
    """A private registry: register returns the spec, refuses a second name and an unknown need (naming the
    first unknown one); get_metric, applicable, with_show (by column, ties in registration order, default column
    100), with_role and mc_floor read it."""
    monkeypatch.setattr(specs, "METRICS", {})
    a = MetricSpec("a", "", lambda s: 1.0, show="last", floors=("a_floor", "a_bias"), roles=("accuracy",))
    assert specs.register_metric(a) is a
    b = specs.register_metric(MetricSpec("b", "", lambda s: 2.0, show="last", column=99, needs=("score",)))
    c = specs.register_metric(MetricSpec("c", "", lambda s: 3.0, show="last", column=100, roles=("regression",)))
    specs.register_metric(MetricSpec("d", "", lambda s: 3.0, show="last", column=101))
    specs.register_metric(MetricSpec("e", "", None, show="floor", roles=("accuracy", "regression")))
    assert list(specs.METRICS) == ["a", "b", "c", "d", "e"]
    with pytest.raises(ValueError, match="metric 'a' registered twice"):
        specs.register_metric(MetricSpec("a", "", None))
    with pytest.raises(ValueError, match="metric 'z' needs 'nope'; known requirements: score, maxwell"):
        specs.register_metric(MetricSpec("z", "", None, needs=("score", "nope", "other")))
    assert "z" not in specs.METRICS
    assert specs.get_metric("c") is c
    with pytest.raises(KeyError, match="unknown metric 'q'; registered: a, b, c, d, e"):
        specs.get_metric("q")
    assert specs.applicable(snap()) == [a, specs.METRICS["c"], specs.METRICS["d"]]
    assert specs.applicable(snap(score=X)) == [a, b, c, specs.METRICS["d"]]
    assert specs.with_show("last") == ["b", "a", "c", "d"]
    assert specs.with_show("floor") == ["e"]
    assert specs.with_role("accuracy") == ["a", "e"] and specs.with_role("regression") == ["c", "e"]
    assert specs.mc_floor("a") == "a_floor"
    assert specs.mc_floor("b") is None and specs.mc_floor("nope") is None


def test_specs_live_view():
    state = {"k": 1}
    view = specs.LiveView(lambda: dict(state))
    state["j"] = 2
    assert list(view) == ["k", "j"] and len(view) == 2 and "j" in view and "x" not in view
    assert view["j"] == 2 and list(view.items()) == [("k", 1), ("j", 2)]
    assert view.get("k") == 1 and view.get("x", 5) == 5 and view.get("x") is None
    assert repr(view) == "LiveView({'k': 1, 'j': 2})"
    assert len(specs.LiveView(lambda: (1, 2, 3))) == 3


# ------------------------------------------------------------------------------------------- the default set
def test_specs_default_registry_order_and_tables():
    names = ["kinetic_energy", "energy_drift", "momentum_drift", "entropy_dissipation", "cov_err", "moment4_err", "w1",
             "w1_mc_floor", "w1_sub4000", "w1_sub4000_mc_floor", "sliced_w1", "sliced_w1_mc_floor", "sliced_w2",
             "sliced_w2_mc_floor", "core_mass_err", "core_mass_mc_floor", "hdr_mass_err", "hdr_mass_mc_floor",
             "kde_l2", "kde_l2_bias_floor", "kde_l2_mc_floor", "trajectory_error", "rfd", "min_det_j",
             "fold_fraction", "entropy_pushforward", "entropy_pushforward_se", "fisher_information",
             "fisher_information_se", "entropy_pushforward_step_se", "fisher_information_step_se"]
    assert list(METRICS)[:len(names)] == names
    assert specs.with_show("last")[:7] == ["trajectory_error", "rfd", "cov_err", "moment4_err", "energy_drift",
                                           "momentum_drift", "core_mass_err"]
    assert specs.with_show("per_time")[:5] == ["w1", "w1_sub4000", "sliced_w1", "sliced_w2", "kde_l2"]
    assert specs.mc_floor("kde_l2") == "kde_l2_mc_floor"
    assert METRICS["core_mass_err"].null.pairs == specs.REGION_NULL_PAIRS == 200
    assert METRICS["hdr_mass_err"].null.pairs == 200 and METRICS["w1"].null.pairs == 30
    assert specs.KDE_NULL_MAX_N == 2_000


def test_specs_null_distribution_cached_and_not(monkeypatch):
    """A cached law goes through cached_values(name, judged, t, n, R, compute) and the distribution names the first
    floor; a law that is not cached is drawn directly."""
    calls = []

    def fake_cached(name, judged, t, n, pairs, compute):
        calls.append((name, judged, t, n, pairs))
        return tuple(compute())

    monkeypatch.setattr(specs, "cached_values", fake_cached)
    drawn = []
    law = NullLaw(lambda s, r: drawn.append(r) or [float(k) for k in range(r)], lambda s: 7, pairs=30)
    spec = MetricSpec("m", "", None, floors=("m_floor", "m_bias"), null=law)
    judged = Judged()
    s = snap(judged=judged, reference="sde")
    dist = specs.null_distribution(spec, s)
    assert calls == [("m", judged, 0.5, 7, 30)] and drawn == [30]
    assert (dist.metric, dist.floor, dist.n, dist.t, dist.reference) == ("m", "m_floor", 7, 0.5, "sde")
    assert dist.values == tuple(float(k) for k in range(30)) and dist.mean == 14.5
    uncached = MetricSpec("m", "", None, floors=("m_floor",), null=NullLaw(law.draws, law.n, pairs=30, cached=False))
    assert specs.null_distribution(uncached, s).mean == 14.5 and len(calls) == 1 and drawn == [30, 30]
    monkeypatch.setitem(specs.METRICS, "m", spec)
    assert specs.floor_of_null("m")(s) == 14.5


def test_specs_w1_metrics_pass_their_samples_and_streams(monkeypatch):
    rec = {}
    monkeypatch.setattr(specs, "w1", lambda x, ref: rec.setdefault("w1", (x, ref)) and 0.125)
    monkeypatch.setattr(specs, "w1_subsampled", lambda x, ref, m, repeats, seed: rec.setdefault(
        "sub", (x, ref, m, repeats, seed)) and (0.25, 0.5))
    monkeypatch.setattr(specs, "w1_mc_floor", lambda judged, t, n, r: (n, r))
    judged = Judged()
    s = snap(judged=judged)
    assert METRICS["w1"].compute(s) == 0.125
    assert judged.calls == [(0.5, 3, seeds.W1_REFERENCE.seed(4))]
    assert torch.equal(rec["w1"][0], X)
    assert torch.equal(rec["w1"][1], judged.sample_at(0.5, 3, seeds.W1_REFERENCE.seed(4)))
    assert METRICS["w1_sub4000"].compute(s) == 0.25
    x, ref, m, repeats, seed = rec["sub"]
    assert (m, repeats, seed) == (4_000, 3, seeds.W1_SUBSAMPLE.seed(4)) and ref.shape == (3, 2)
    assert METRICS["w1"].null.draws(s, 30) == [(3, r) for r in range(30)]
    assert METRICS["w1"].null.n(s) == 3
    assert METRICS["w1_sub4000"].null.draws(s, 30) == [(4_000, r) for r in range(30)]
    assert METRICS["w1_sub4000"].null.n(s) == 4_000


@pytest.mark.parametrize("p", [1, 2])
def test_specs_sliced_metrics_pass_their_samples_and_streams(p, monkeypatch):
    rec = []
    monkeypatch.setattr(specs, "sliced_wasserstein", lambda a, b, order, seed: rec.append((a, b, order, seed)) or 0.5)
    judged = Judged()
    s = snap(judged=judged)
    assert METRICS[f"sliced_w{p}"].compute(s) == 0.5
    a, b, order, seed = rec[0]
    assert torch.equal(a, X) and b.shape == (3, 2) and order == p and seed == seeds.SLICED_PROJECTIONS.seed(4)
    assert judged.calls == [(0.5, 3, seeds.W1_REFERENCE.seed(4))]
    rec.clear()
    judged.calls.clear()
    assert METRICS[f"sliced_w{p}"].null.draws(s, 30) == [0.5] * 30
    assert judged.calls[:4] == [(0.5, 3, seeds.W1_FLOOR_A.seed(0)), (0.5, 3, seeds.W1_FLOOR_B.seed(0)),
                                (0.5, 3, seeds.W1_FLOOR_A.seed(1)), (0.5, 3, seeds.W1_FLOOR_B.seed(1))]
    assert [r[2:] for r in rec[:2]] == [(p, seeds.SLICED_PROJECTIONS.seed(0)), (p, seeds.SLICED_PROJECTIONS.seed(1))]
    assert METRICS[f"sliced_w{p}"].null.n(s) == 3


def test_specs_kde_null_draws_at_most_2000_samples(monkeypatch):
    rec = []
    monkeypatch.setattr(specs, "kde_l2_null_draw", lambda judged, t, n, m, r: rec.append((n, m, r)) or 0.5)
    judged = Judged()
    assert METRICS["kde_l2"].null.draws(snap(judged=judged, density_x=torch.zeros(5, 2)), 30) == [0.5] * 30
    assert rec[:2] == [(5, 5, 0), (5, 5, 1)]
    rec.clear()
    big = snap(judged=judged, density_x=torch.zeros(2_001, 2))
    METRICS["kde_l2"].null.draws(big, 30)
    assert rec[:2] == [(2_001, 2_000, 0), (2_001, 2_000, 1)]
    assert METRICS["kde_l2"].null.n(big) == 2_001
    rec.clear()
    METRICS["kde_l2"].null.draws(snap(judged=judged, density_x=torch.zeros(2_000, 3)), 30)
    assert rec[0] == (2_000, 2_000, 0)


def test_specs_binomial_null_by_hand():
    rng = np.random.default_rng(11)
    want = np.abs(rng.binomial(40, 0.3, 50) / 40 - rng.binomial(REFERENCE_SAMPLES, 0.3, 50) / REFERENCE_SAMPLES)
    got = specs._binomial_null(0.3, 40, 11, 50)
    assert len(got) == 50 and np.array_equal(np.asarray(got), want)
    # a mass outside [0, 1] (rounding) is clipped: every count is then 0 or all, no error
    assert specs._binomial_null(-0.2, 40, 11, 5) == [0.0] * 5
    assert specs._binomial_null(1.3, 40, 11, 5) == [0.0] * 5


def test_specs_region_metrics_read_their_reference_and_streams():
    """core_mass_err: the particles' mass in the ball about the initial mean (1/3, 1) of radius 0.9 against the
    region stream's REFERENCE_SAMPLES sample; its null law is the binomial law of that mass from the region null
    stream (index 0), the hdr one's from index 1; hdr_mass_err is hdr_mass_error against the same sample."""
    judged = Judged()
    init = t64([[0.0, 1.0], [1.0, 1.0], [0.0, 1.0]])
    x = t64([[0.3, 0.9], [5.0, 5.0], [0.2, 1.2], [0.3, 1.0]])
    s = snap(judged=judged, x=x, initial=init)
    ref = Judged().sample_at(0.5, REFERENCE_SAMPLES, seeds.CORE_MASS_REFERENCE.seed(4))
    center = t64([1 / 3, 1.0])
    p = mass_within(ref, center, 0.9)
    assert METRICS["core_mass_err"].compute(s) == abs(0.75 - p)
    assert judged.calls == [(0.5, REFERENCE_SAMPLES, seeds.CORE_MASS_REFERENCE.seed(4))]
    assert METRICS["core_mass_err"].null.draws(s, 200) == specs._binomial_null(p, 4, seeds.REGION_NULL.seed(4), 200)
    err, mass = hdr_mass_error(x, ref, lambda v: judged.density(v, 0.5))
    assert METRICS["hdr_mass_err"].compute(s) == err
    assert METRICS["hdr_mass_err"].null.draws(s, 200) == specs._binomial_null(mass, 4, seeds.REGION_NULL.seed(4, 1),
                                                                              200)
    assert METRICS["core_mass_err"].null.n(s) == 4


def test_specs_hdr_mass_is_computed_once_per_snapshot(monkeypatch):
    calls = []
    monkeypatch.setattr(specs, "hdr_mass_error", lambda x, ref, f: calls.append(x) or (0.25, 0.5))
    monkeypatch.setattr(specs, "_HDR_LAST", [None, None])
    s1, s2 = snap(judged=Judged()), snap(judged=Judged(), x=2 * X)
    assert specs._hdr_mass(s1) == (0.25, 0.5) and specs._hdr_mass(s1) == (0.25, 0.5)
    assert METRICS["hdr_mass_err"].compute(s1) == 0.25
    assert len(calls) == 1
    assert specs._hdr_mass(s2) == (0.25, 0.5) and len(calls) == 2


def test_specs_flow_map_metrics_by_hand():
    """det J = (2, 0, -1, 0.5): min -1; det J <= 0 at two of four (zero counts as a fold)."""
    s = snap(det_j=t64([2.0, 0.0, -1.0, 0.5]))
    assert METRICS["min_det_j"].compute(s) == -1.0
    assert METRICS["fold_fraction"].compute(s) == 0.5
    assert METRICS["fold_fraction"].compute(snap(det_j=t64([0.5, 1.0]))) == 0.0


def test_specs_entropy_metrics_by_hand():
    """f = (e, e^2, e^-3) at three particles: -mean log f = (-1 - 2 + 3) / 3 = 0; the values -log f = (-1, -2, 3)
    have sd sqrt(7) (mean 0, squares 1 + 4 + 9 = 14 over 2), se sqrt(7 / 3). The step from f' = (1, e, e): the
    values log f' - log f = (-1, -1, 4), mean 2 / 3, sd sqrt(((5/3)^2 2 + (10/3)^2) / 2) = sqrt(25 / 3)."""
    f = torch.exp(t64([1.0, 2.0, -3.0]))
    s = snap(density=f, previous_density=torch.exp(t64([0.0, 1.0, 1.0])))
    assert METRICS["entropy_pushforward"].compute(s) == pytest.approx(0.0, abs=1e-15)
    assert METRICS["entropy_pushforward_se"].compute(s) == pytest.approx(math.sqrt(7 / 3), rel=1e-14)
    assert METRICS["entropy_pushforward_step_se"].compute(s) == pytest.approx(math.sqrt(25 / 3) / math.sqrt(3),
                                                                              rel=1e-14)
    g = torch.exp(t64([1.0, 1.0, 1.0]))
    assert METRICS["entropy_pushforward"].compute(snap(density=g)) == pytest.approx(-1.0, rel=1e-15)


def test_specs_fisher_metrics_by_hand():
    """Scores (1, 0), (0, 2), (3, 1): |s|^2 = 1, 4, 10, mean 5, sd sqrt((16 + 1 + 25) / 2) = sqrt(21), se sqrt(7).
    Previous scores (2, 1), (0, 1), (1, -1): |s'|^2 = 5, 1, 2; the step values -4, 3, 8: sd sqrt(109 / 3) (mean 7/3,
    deviations -19/3, 2/3, 17/3: (361 + 4 + 289) / 9 / 2), se sqrt(109 / 9)."""
    prob3 = problem(dim=3)
    s = snap(score=X, own_score=True, problem=prob3, previous_score=t64([[2.0, 1.0], [0.0, 1.0], [1.0, -1.0]]))
    assert specs._fisher_values(s).tolist() == [1.0, 4.0, 10.0]
    assert METRICS["fisher_information"].compute(s) == 5.0
    assert METRICS["fisher_information_se"].compute(s) == pytest.approx(math.sqrt(7), rel=1e-14)
    assert METRICS["fisher_information_step_se"].compute(s) == pytest.approx(math.sqrt(109 / 9), rel=1e-14)
