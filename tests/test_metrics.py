"""Metrics: W1 against closed forms, KDE and its floors, RFD, trajectory error, weak-form checks."""
import math

import numpy as np
import pytest
import torch
from hypothesis import given, strategies as st
from hypothesis.extra.numpy import arrays
from scipy import integrate, stats

import metrics
from problems import drift, get_problem


# ------------------------------------------------------------------------------------- W1
def test_w1_two_diracs():
    assert metrics.w1(torch.tensor([[0.0, 0.0]]), torch.tensor([[3.0, 4.0]])) == pytest.approx(5.0, abs=1e-12)


def test_w1_translate_gives_shift_norm():
    x = torch.randn(300, 3, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    c = torch.tensor([0.3, -1.2, 2.0], dtype=torch.float64)
    assert metrics.w1(x, x + c) == pytest.approx(float(c.norm()), rel=1e-10)


def test_w1_matches_scipy_in_1d():
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=400), rng.gamma(2.0, size=250)
    assert metrics.w1(x, y) == pytest.approx(stats.wasserstein_distance(x, y), rel=1e-9)


clouds = st.integers(2, 25).flatmap(
    lambda n: st.tuples(arrays("float64", (n, 2), elements=st.floats(-3, 3)),
                        arrays("float64", (n, 2), elements=st.floats(-3, 3))))


@given(clouds, st.tuples(st.floats(-5, 5), st.floats(-5, 5)), st.randoms())
def test_w1_properties(xy, shift, rnd):
    x, y = xy
    d = metrics.w1(x, y)
    assert metrics.w1(y, x) == pytest.approx(d, abs=1e-9)
    assert metrics.w1(x, x) == pytest.approx(0.0, abs=1e-12)
    perm = list(range(len(x)))
    rnd.shuffle(perm)
    assert metrics.w1(x[perm], y) == pytest.approx(d, abs=1e-9)
    s = np.array(shift)
    assert metrics.w1(x + s, y + s) == pytest.approx(d, abs=1e-8)


def test_w1_refuses_oversize_clouds_and_subsampling_is_explicit():
    x = np.zeros((11, 2))
    with pytest.raises(ValueError, match="w1_subsampled"):
        metrics.w1(x, x, max_points=10)
    mean, se = metrics.w1_subsampled(np.ones((50, 2)), np.zeros((50, 2)), m=20, repeats=3)
    assert mean == pytest.approx(math.sqrt(2)) and se == pytest.approx(0.0, abs=1e-12)


def test_w1_mc_floor_falls_with_n():
    p = get_problem("bkw2d")
    small, large = metrics.w1_mc_floor(p, 1.0, 250), metrics.w1_mc_floor(p, 1.0, 2000)
    assert 0 < large < small


# ------------------------------------------------------------------------------------- KDE
def test_kde_matches_direct_sum():
    g = torch.Generator().manual_seed(2)
    for d in (1, 2, 3):
        x = torch.randn(97, d, generator=g, dtype=torch.float64)
        axes = [torch.linspace(-2, 2, 5 + k, dtype=torch.float64) for k in range(d)]
        grid = torch.stack(torch.meshgrid(*axes, indexing="ij"), -1).reshape(-1, d)
        h = 0.4
        direct = torch.exp(-((grid[:, None] - x[None]) ** 2).sum(-1) / (2 * h * h)).mean(1) / (2 * math.pi * h * h) ** (d / 2)
        assert torch.allclose(metrics.kde_on_axes(x, axes, h).reshape(-1), direct, rtol=1e-12, atol=1e-15)


def test_smoothed_density_is_exact_for_a_gaussian():
    """K_h * N(0, K I) = N(0, (K + h^2) I): the bandwidth-0.15 smoothing of BKW's Gaussian part."""
    p = get_problem("bkw2d")
    pts, _ = p.eval_grid()
    K = 0.8
    gauss = lambda v, t: torch.exp(-(v * v).sum(-1) / (2 * K)) / (2 * math.pi * K)
    p_gauss = type("G", (), {"density": staticmethod(gauss)})()
    h = 0.15
    expect = torch.exp(-(pts * pts).sum(-1) / (2 * (K + h * h))) / (2 * math.pi * (K + h * h))
    assert torch.allclose(metrics.smoothed_density(p_gauss, pts, 0.0, h), expect, rtol=1e-11)


def test_kde_floors_on_bkw2d_match_the_design_numbers():
    """Bias floor 0.0263 at t = 1 and 0.0139 at t = 5 (0.026, 0.014 as computed independently for the project's design card); KDE of 25,600
    exact samples about 0.05: we allow 0.04-0.065 (seeds 0-4 measured 0.042-0.052)."""
    p = get_problem("bkw2d")
    assert metrics.kde_l2_bias_floor(p, 1.0) == pytest.approx(0.026, abs=0.001)
    assert metrics.kde_l2_bias_floor(p, 5.0) == pytest.approx(0.014, abs=0.001)
    mc = metrics.kde_l2_mc_floor(p, 1.0, 25_600, seed=0)
    assert 0.04 < mc < 0.065


def test_kde_of_exact_samples_converges_to_the_bias_floor():
    p = get_problem("bkw2d")
    bias = metrics.kde_l2_bias_floor(p, 1.0)
    errs = [metrics.kde_l2_mc_floor(p, 1.0, n, seed=1) for n in (4_000, 64_000, 512_000)]
    assert errs[0] > errs[1] > errs[2] > bias
    # the excess over the bias floor is variance-like: it shrinks by more than 2x per 16x particles
    assert (errs[2] - bias) < 0.5 * (errs[1] - bias) < 0.25 * (errs[0] - bias)
    assert errs[2] - bias < 0.01


# ------------------------------------------------------------------------------------- errors
@given(st.floats(0.01, 100), st.integers(0, 1000))
def test_rfd_zero_for_exact_and_scale_invariant(c, seed):
    p = get_problem("bkw2d")
    v = p.sample_at(2.5, 200, seed)
    s = lambda x: p.score(x, 2.5)
    assert metrics.rfd(s, s, v) == 0.0
    noisy = s(v) + 0.1 * torch.sin(v)
    assert metrics.rfd(c * noisy, c * s(v), v) == pytest.approx(metrics.rfd(noisy, s, v), rel=1e-10)


def test_trajectory_error_zero_on_identical_and_relative():
    v = torch.randn(100, 3, dtype=torch.float64)
    assert metrics.trajectory_error(v, v) == 0.0
    assert metrics.trajectory_error(2 * v, v) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="same initial set"):
        metrics.trajectory_error(v[:5], v)


# ------------------------------------------------------------------------------------- invariants
def test_covariance_rate_under_the_particle_drift_matches_the_closure():
    """For N(0, Sigma) samples with the exact score, (1/N) sum (U v^T + v U^T) estimates
    d Sigma/dt = -4 C d (Sigma - tr(Sigma)/d I): within 4 Monte Carlo standard errors."""
    d, C, n = 3, 1 / 24, 200_000
    Sigma = torch.tensor([[2.0, 0.3, 0.0], [0.3, 1.0, -0.2], [0.0, -0.2, 0.5]], dtype=torch.float64)
    L = torch.linalg.cholesky(Sigma)
    v = torch.randn(n, d, generator=torch.Generator().manual_seed(4), dtype=torch.float64) @ L.T
    s = -v @ torch.linalg.inv(Sigma)
    u = drift(v, s, 0.0, C)
    terms = u[:, :, None] * v[:, None, :] + v[:, :, None] * u[:, None, :]
    rate, se = terms.mean(0), terms.std(0) / math.sqrt(n)
    expect = -4 * C * d * (Sigma - torch.trace(Sigma) / d * torch.eye(d, dtype=torch.float64))
    assert torch.all((rate - expect).abs() <= 4 * se + 1e-12), (rate, expect, se)
    # and the closed form Sigma(t) has exactly this derivative at t0
    h = 1e-6
    p = get_problem("gaussian_mixture3d")
    num = (metrics.exact_covariance(p, h) - metrics.exact_covariance(p, -h)) / (2 * h)
    cov0 = p.initial_covariance()
    assert torch.allclose(num, -4 * p.C * 3 * (cov0 - torch.trace(cov0) / 3 * torch.eye(3, dtype=torch.float64)), atol=1e-8)


def bkw_entropy(p, t):
    area = 2 * math.pi ** (p.dim / 2) / math.gamma(p.dim / 2)

    def integrand(r):
        v = torch.zeros(1, p.dim, dtype=torch.float64)
        v[0, 0] = r
        f = float(p.density(v, t)[0])
        return area * r ** (p.dim - 1) * f * math.log(f) if f > 0 else 0.0
    return integrate.quad(integrand, 0, 30, epsabs=0, epsrel=1e-12, limit=400)[0]


@pytest.mark.parametrize("name,t", [("bkw2d", 1.0), ("bkw3d", 5.75)])
def test_entropy_dissipation_matches_quadrature(name, t):
    p = get_problem(name)
    h = 1e-3
    exact = (bkw_entropy(p, t + h) - bkw_entropy(p, t - h)) / (2 * h)
    n = 200_000
    vals = []
    for seed in range(4):
        v = p.sample_at(t, n // 4, seed)
        vals.append(metrics.entropy_dissipation(v, p.score(v, t), 0.0, p.C))
    est, se = np.mean(vals), np.std(vals, ddof=1) / 2
    assert exact < 0
    assert abs(est - exact) < 4 * se + 1e-6 * abs(exact), (est, exact, se)


def test_invariants_of_known_clouds():
    v = torch.tensor([[1.0, 0.0], [-1.0, 2.0]], dtype=torch.float64)
    assert torch.equal(metrics.momentum(v), torch.tensor([0.0, 1.0], dtype=torch.float64))
    assert metrics.kinetic_energy(v) == pytest.approx(0.5 * (1 + 5) / 2)
    assert metrics.energy_drift(2 * v, v) == pytest.approx(3.0)


# ------------------------------------------------------------------------------------- moments
@pytest.mark.parametrize("name", ["bkw2d", "bkw3d"])
def test_fourth_moment_closure_reproduces_bkw(name):
    """The closed 4th-moment ODE, integrated from t0, hits BKW's exact E|v|^4 at every snapshot."""
    p = get_problem(name)
    for t in p.snapshot_times:
        assert metrics.exact_fourth_moment(p, t) == pytest.approx(p.central_moment4(t), rel=1e-10)


@pytest.mark.parametrize("name", ["gaussian_mixture3d", "truncated2d", "bkw2d"])
def test_initial_fourth_moments_match_samples(name):
    p = get_problem(name)
    x = p.sample(200_000, 9) - p.initial_mean()
    r4 = (x * x).sum(1) ** 2
    assert abs(float(r4.mean()) - p.initial_central_moment4()) < 4 * float(r4.std()) / math.sqrt(len(r4))


def test_cov_err_zero_on_exact_covariance_and_rejects_coulomb():
    p = get_problem("truncated2d")
    assert metrics.cov_err(p.sample(100_000, 0), p, 0.0) < 0.02
    from problems import NoExactReference
    with pytest.raises(NoExactReference):
        metrics.cov_err(torch.zeros(3, 2), get_problem("anisotropic2d"), 1.0)
