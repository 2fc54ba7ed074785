"""Certificates: constants against brute force, the Gronwall integral against its closed form, exact
substitution gives zero observed errors and finite bounds, Lemma 2 for a trained network,
Theorem 6 for exact samples."""
import math

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

import problems
from certificates import applicable, certify
from certificates.constants import gaussian_kernel_norms, kernel_constants, log_gronwall
from certificates.evaluate import lemma2_terms, thm6_terms
from problems.equation.kernel import kernel_matrix
from problems.cases.characteristics import integrate_characteristics
from solvers.pinn_pm import PINNConfig
from solvers.pinn_training import train_pinn_pm


@given(st.floats(0.5, 5.0), st.sampled_from([2, 3]), st.integers(0, 10_000))
def test_kernel_constants_are_the_sup_and_a_lipschitz_bound(R, d, seed):
    C = 1 / 16
    lam2, l_a = kernel_constants(0.0, C, R)
    g = torch.Generator().manual_seed(seed)
    z = torch.randn(4000, d, generator=g, dtype=torch.float64)
    z = 2 * R * z / z.norm(dim=1, keepdim=True) * torch.rand(4000, 1, generator=g, dtype=torch.float64) ** (1 / d)
    norms = torch.linalg.matrix_norm(kernel_matrix(z, 0.0, C), ord=2)
    assert float(norms.max()) <= lam2 * (1 + 1e-12)
    on_sphere = 2 * R * z / z.norm(dim=1, keepdim=True)
    assert float(torch.linalg.matrix_norm(kernel_matrix(on_sphere, 0.0, C), ord=2).max()) == pytest.approx(lam2)
    w = z + 1e-3 * torch.randn(4000, d, generator=g, dtype=torch.float64)
    w = w * torch.clamp(2 * R / w.norm(dim=1, keepdim=True), max=1.0)
    diff = torch.linalg.matrix_norm(kernel_matrix(z, 0.0, C) - kernel_matrix(w, 0.0, C), ord=2)
    ratio = diff / (z - w).norm(dim=1)
    assert float(ratio.max()) <= l_a * (1 + 1e-6)
    assert float(ratio.max()) >= 0.5 * l_a  # the constant is not wildly loose (direction-dependent)


def test_kernel_constants_refuse_a_non_lipschitz_kernel():
    with pytest.raises(ValueError, match="gamma = 0 only, got gamma = -3"):
        kernel_constants(-3.0, 1.0, 1.0)
    assert applicable(problems.get_problem("anisotropic2d"))[0] is False
    assert applicable(problems.get_problem("bkw3d")) == (True, "")


@pytest.mark.parametrize("a,g", [(0.7, 2.0), (40.0, 1e-3), (1500.0, 1.0)])
def test_log_gronwall_matches_the_closed_form(a, g):
    times = [k * 2.0 / 4000 for k in range(4001)]
    logy = log_gronwall(times, [a] * len(times), [g] * len(times))
    for n in (400, 4000):
        t = times[n]
        exact = math.log(g / a) + a * t + math.log1p(-math.exp(-a * t))  # log(g/a (e^{a t} - 1))
        assert logy[n] == pytest.approx(exact, rel=1e-3, abs=0.02)
    assert logy[0] == float("-inf")


def test_gaussian_kernel_norms_by_quadrature():
    for d in (2, 3):
        k2, gk2 = gaussian_kernel_norms(d)
        x = torch.linspace(-8, 8, 801, dtype=torch.float64)
        h = float(x[1] - x[0])
        k1 = torch.exp(-x**2 / 2) / math.sqrt(2 * math.pi)
        one = float((k1**2).sum() * h)  # int K1^2
        xk = float((x**2 * k1**2).sum() * h)  # int x^2 K1^2
        assert k2 == pytest.approx(one**d, rel=1e-10)
        assert gk2 == pytest.approx(d * xk * one ** (d - 1), rel=1e-10)


class ExactProbe:
    """Exact characteristics, exact velocity U[f](x) and exact score: a solver with no error at all."""

    def __init__(self, problem, n, seed, intervals=16):
        self.p = problem
        horizon = max(problem.snapshot_times)
        self.ts = sorted({problem.t0 + k * (horizon - problem.t0) / intervals for k in range(intervals + 1)}
                         | set(problem.snapshot_times))
        self.xs = dict(zip(self.ts, integrate_characteristics(problem, problem.sample(n, seed), self.ts, 1e-10, 1e-12)))

    def grid(self):
        return self.ts

    def positions(self, t):
        return self.xs[min(self.xs, key=lambda s: abs(s - t))]

    def velocity(self, t):
        return self.p.mean_field_drift(self.positions(t), t)

    def score(self, x, t):
        return self.p.score(x, t)


@pytest.mark.parametrize("name", ["bkw2d", "bkw3d"])
@pytest.mark.slow
def test_exact_substitution_observes_zero_and_bounds_are_finite(name):
    p = problems.get_problem(name)
    rows = certify(ExactProbe(p, 400, 0), p, seed=0, n_lemma=4000)
    names = {r["certificate"] for r in rows}
    assert names == {"lemma2", "thm2_trajectory", "thm2_trajectory_corrected", "thm4_score", "thm5_w1", "thm6_kde"}
    for r in rows:
        assert math.isfinite(r["log10_bound"]) or r["certificate"] == "lemma2", r
        assert r["bound"] >= 0 or r["certificate"] == "lemma2", r
        if r["certificate"] in ("thm2_trajectory", "thm2_trajectory_corrected", "thm4_score"):
            assert r["observed"] == 0.0, r  # E(t) and delta_2N are exactly zero
            assert r["holds"]
        if r["certificate"] == "lemma2":
            assert r["bound"] == 0.0 and r["observed"] == 0.0
        if r["certificate"] == "thm5_w1":
            assert r["holds"] and r["observed"] > 0  # W1 to f_t of N exact particles: Monte Carlo only


@pytest.mark.slow
def test_lemma2_holds_for_a_trained_network_within_three_standard_errors():
    p = problems.get_problem("bkw2d")
    cfg = PINNConfig(n=200, n_times=4, iters=60, lr=2e-3, flow_arch=(16, 1, 8, 1, 32, 2),
                     score_arch=(16, 1, 8, 1, 32, 2), dtype="float64", log_every=20, checkpoint_every=60)
    trained = train_pinn_pm(p, cfg, 5, torch.device("cpu"))
    for t in (1.0, 2.5, 5.0):
        def score(x):
            return trained.score(x, torch.full((1,), t, dtype=torch.float64))
        rhs, lhs, se = lemma2_terms(score, p, t, 40_000, seed=11)
        assert lhs > 0.05  # a real, imperfect network (not the exact score)
        assert abs(rhs - lhs) <= 3 * se, (t, rhs, lhs, se)


@pytest.mark.parametrize("name", ["bkw2d", "bkw3d"])
def test_theorem6_holds_for_exact_samples(name):
    p = problems.get_problem(name)
    t = p.snapshot_times[-1]
    for n in (200, 2_000, 20_000):
        for eps in (0.1, 0.15, 0.3):
            bound, observed = thm6_terms(p.sample_at(t, n, seed=n), 0.0, p, t, eps)
            assert 0 < observed <= bound, (n, eps, observed, bound)
