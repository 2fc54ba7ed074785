"""The six problems: exact samplers, normalised densities, exact scores, BKW solves the PDE."""
import math

import numpy as np
import pytest
import torch
from scipy import integrate, stats

import problems
from problems import drift, get_problem, list_problems, relative_pde_residual

ALL = ["bkw2d", "bkw3d", "anisotropic2d", "rosenbluth3d", "gaussian_mixture3d", "truncated2d"]


def test_registry_lists_the_six_problems():
    assert list_problems() == ALL


def test_unknown_problem_names_the_valid_ones():
    with pytest.raises(ValueError, match="unknown problem 'bkw4d'.*bkw2d.*truncated2d"):
        get_problem("bkw4d")


def test_duplicate_registration_raises():
    with pytest.raises(ValueError, match="already registered"):
        problems.register_problem("bkw2d")(problems.bkw2d)


@pytest.mark.parametrize("name", ALL)
def test_sampler_moments_within_4_standard_errors(name):
    p = get_problem(name)
    n = 100_000
    x = p.sample(n, seed=11)
    mean, cov = p.initial_mean(), p.initial_covariance()
    se_mean = torch.sqrt(torch.diag(cov) / n)
    assert torch.all((x.mean(0) - mean).abs() <= 4 * se_mean), (x.mean(0), mean)
    xc = x - mean
    prods = xc[:, :, None] * xc[:, None, :]  # (n, d, d)
    se_cov = prods.std(0) / math.sqrt(n)
    assert torch.all((prods.mean(0) - cov).abs() <= 4 * se_cov), (prods.mean(0), cov)


def test_samples_are_reproducible_and_seed_dependent():
    p = get_problem("rosenbluth3d")
    assert torch.equal(p.sample(500, 3), p.sample(500, 3))
    assert not torch.equal(p.sample(500, 3), p.sample(500, 4))
    with pytest.raises(ValueError, match="seed"):
        p.sample(10, -1)


def radial_mass(density_of_r, d):
    """|S^{d-1}| int_0^inf r^{d-1} f(r) dr for a radial density given as a function of r."""
    area = 2 * math.pi ** (d / 2) / math.gamma(d / 2)
    val, _ = integrate.quad(lambda r: r ** (d - 1) * density_of_r(r), 0, math.inf, epsabs=0, epsrel=1e-12, limit=200)
    return area * val


def radial(p, t, r):
    v = torch.zeros(1, p.dim, dtype=torch.float64)
    v[0, 0] = r
    return float(p.density(v, t)[0])


@pytest.mark.parametrize("name", ["bkw2d", "bkw3d"])
def test_bkw_density_integrates_to_one(name):
    p = get_problem(name)
    for t in (p.t0,) + p.snapshot_times + (p.t0 + 30.0,):
        assert abs(radial_mass(lambda r: radial(p, t, r), p.dim) - 1) < 1e-6


@pytest.mark.parametrize("name", ["rosenbluth3d", "truncated2d"])
def test_radial_initial_densities_integrate_to_one(name):
    p = get_problem(name)
    f = lambda r: radial(p, p.t0, r)
    if name == "truncated2d":  # the indicator's jump: integrate from eta
        area = 2 * math.pi
        val, _ = integrate.quad(lambda r: r * f(r), p.eta * (1 + 1e-15), math.inf, epsrel=1e-12)
        assert abs(area * val - 1) < 1e-6
    else:
        assert abs(radial_mass(f, p.dim) - 1) < 1e-6


@pytest.mark.parametrize("name", ["anisotropic2d", "gaussian_mixture3d"])
def test_mixture_densities_integrate_to_one(name):
    p = get_problem(name)
    # trapezoid on a wide grid: the densities are Gaussian mixtures, so this is spectrally accurate
    axes = [torch.linspace(-12, 14, 401 if p.dim == 2 else 161, dtype=torch.float64)] * p.dim
    mesh = torch.stack(torch.meshgrid(*axes, indexing="ij"), -1).reshape(-1, p.dim)
    h = float(axes[0][1] - axes[0][0])
    mass = float(p.initial_density(mesh).sum()) * h**p.dim
    assert abs(mass - 1) < 1e-6


def autograd_score(p, v, t):
    v = v.clone().requires_grad_(True)
    (g,) = torch.autograd.grad(torch.log(p.density(v, t)).sum(), v)
    return g


@pytest.mark.parametrize("name", ALL)
def test_scores_equal_autograd_of_log_density(name):
    p = get_problem(name)
    v = p.sample(2000, seed=5)
    times = (p.t0,) + (p.snapshot_times if p.has_exact_solution else ())
    for t in times:
        ref = autograd_score(p, v, t)
        assert torch.allclose(p.score(v, t), ref, rtol=1e-10, atol=1e-10), (name, t)


@pytest.mark.parametrize("name", ["bkw2d", "bkw3d"])
def test_bkw_solves_the_pde(name):
    p = get_problem(name)
    pts, _ = p.eval_grid()
    pts = pts[::5]
    for t in p.snapshot_times:
        assert relative_pde_residual(p, pts, t) < 1e-3


@pytest.mark.parametrize("name", ["bkw2d", "bkw3d"])
def test_wrong_collision_constant_fails_the_pde(name):
    """The paper's Table 1 pairing (C = 1 with the same K(t)) is not a solution."""
    p = get_problem(name)
    wrong = p.replace(C=1.0, K_rate=p.rate)
    pts, _ = p.eval_grid()
    pts = pts[::5]
    assert relative_pde_residual(wrong, pts, p.snapshot_times[0]) > 1.0
    # and a C off by only 10% is caught too
    assert relative_pde_residual(p.replace(C=1.1 * p.C, K_rate=p.rate), pts, p.snapshot_times[0]) > 0.05


def radius_cdf(p, t):
    """Exact CDF of |v| under f(., t) by quadrature on a fine grid."""
    r = np.linspace(0, 12, 24001)
    area = 2 * math.pi ** (p.dim / 2) / math.gamma(p.dim / 2)
    v = torch.zeros(r.size, p.dim, dtype=torch.float64)
    v[:, 0] = torch.from_numpy(r)
    pdf = area * r ** (p.dim - 1) * p.density(v, t).numpy()
    cdf = integrate.cumulative_trapezoid(pdf, r, initial=0)
    return lambda x: np.interp(x, r, cdf)


@pytest.mark.parametrize("name", ["bkw2d", "bkw3d"])
def test_sample_at_matches_density(name):
    p = get_problem(name)
    for t in p.snapshot_times:
        x = p.sample_at(t, 20_000, seed=2).norm(dim=1).numpy()
        assert stats.kstest(x, radius_cdf(p, t)).pvalue > 1e-3, t
    # the test has power: samples at t0 against the density at T are rejected
    x = p.sample_at(p.t0 + 40, 20_000, seed=2).norm(dim=1).numpy()
    assert stats.kstest(x, radius_cdf(p, p.t0)).pvalue < 1e-6


def test_mean_field_drift_is_the_limit_of_the_particle_drift():
    """U[f](v_i) vs the particle drift of exact samples with the exact score: O(N^-1/2)."""
    p = get_problem("bkw2d")
    t = 1.0
    errs = []
    for n in (4_000, 256_000):
        v = p.sample_at(t, n, seed=3)
        emp = drift(v, p.score(v, t), 0.0, p.C)
        exact = p.mean_field_drift(v, t)
        errs.append(float((emp - exact).norm() / exact.norm()))
    assert errs[1] < 0.05
    assert errs[0] / errs[1] > 4  # sqrt(64) = 8 expected; 4 leaves room for noise


def test_exact_references_raise_where_absent():
    p = get_problem("anisotropic2d")
    with pytest.raises(problems.NoExactReference):
        p.density(torch.zeros(1, 2, dtype=torch.float64), 10.0)
    assert torch.equal(p.density(torch.zeros(1, 2, dtype=torch.float64), 0.0),
                       p.initial_density(torch.zeros(1, 2, dtype=torch.float64)))


def test_bkw3d_refuses_a_start_where_f_is_not_a_density():
    with pytest.raises(ValueError, match="not a density"):
        get_problem("bkw3d", t0=5.0)
