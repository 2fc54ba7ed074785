"""certificates.initial_rate and certificates.observed_rate: the exact initial covariance rate
dM/dt = 2C E|z|^(gamma+2) I - 2dC E[|z|^gamma z z^T] and the rates read off references and runs."""
import math

import numpy as np
import pytest
import torch
from hypothesis import given, strategies as st
from scipy import integrate, special

from certificates.initial_rate import (InitialRate, gaussian_components, gaussian_pair_moments, initial_rate,
                                       mixture_rate, radial_pair_moment, rate_error, sphere_rule)
from certificates.observed_rate import (covariance, difference_rate, grid_reference_rate, radial_reference_rate,
                                        reference_rate, sde_reference_rate, trajectory_rate, velocity_rate)
from problems import get_problem
from problems.cases.base import Problem
from problems.cases.mixtures import ProductMixture


def closed_form(cov: torch.Tensor, C: float) -> torch.Tensor:
    """gamma = 0: 4C (tr Sigma I - d Sigma)."""
    d = cov.shape[0]
    return 4 * C * (torch.trace(cov) * torch.eye(d, dtype=torch.float64) - d * cov)


def mixture_covariance(w, mu, S):
    m = w @ mu
    return (np.einsum("k,kij->ij", w, S) + np.einsum("k,ki,kj->ij", w, mu - m, mu - m))


def random_spd(rng, d, lo=0.3, hi=2.0):
    q, _ = np.linalg.qr(rng.normal(size=(d, d)))
    return (q * rng.uniform(lo, hi, d)) @ q.T


# ----------------------------------------------------------------------------------------- exact rate
def test_sphere_rule_integrates_moments_of_the_direction():
    for d, area in ((2, 2 * math.pi), (3, 4 * math.pi)):
        dirs, w = sphere_rule(d, 16)
        assert w.sum() == pytest.approx(area, rel=1e-14)
        np.testing.assert_allclose(np.einsum("m,mi,mj->ij", w, dirs, dirs), area / d * np.eye(d), atol=1e-13)
        np.testing.assert_allclose(np.linalg.norm(dirs, axis=1), 1.0, rtol=1e-14)


@pytest.mark.parametrize("d", [2, 3])
def test_gamma_zero_matches_the_closed_form_for_a_mixture(d):
    """gamma = 0: E|z|^2 = 2 tr Sigma and E[z z^T] = 2 Sigma, so dM/dt = 4C (tr Sigma I - d Sigma)."""
    rng = np.random.default_rng(d)
    w = np.array([0.2, 0.3, 0.5])
    mu = rng.normal(size=(3, d)) * 1.5
    S = np.stack([random_spd(rng, d) for _ in range(3)])
    got = mixture_rate(w, mu, S, 0.0, 0.3)
    cov = torch.from_numpy(mixture_covariance(w, mu, S))
    want = closed_form(cov, 0.3)
    assert float((got.rate - want).norm() / want.norm()) < 1e-11
    assert got.scale == pytest.approx(4 * 0.3 * float(torch.trace(cov)), rel=1e-12)


def test_gamma_zero_matches_the_closed_form_on_anisotropic2d():
    p = get_problem("anisotropic2d").replace(gamma=0.0)
    got = initial_rate(p)
    want = closed_form(p.initial_covariance(), p.C)
    assert float((got.rate - want).norm() / want.norm()) < 1e-12


def test_product_mixture_components_are_the_density():
    p = ProductMixture(name="pm", dim=2, gamma=-3.0, C=0.1, t0=0.0, snapshot_times=(1.0,), kde_bandwidth=0.3,
                       paper_n=10, grid_box=((-3.0, 3.0),) * 2, grid_points=10,
                       components=(((0.4, -1.0, 0.5), (0.6, 1.0, 0.8)), ((1.0, 0.5, 0.7),)))
    w, mu, S = gaussian_components(p)
    v = torch.tensor([[0.3, -0.2], [1.5, 0.9], [-2.0, 0.1]], dtype=torch.float64)
    diff = v.numpy()[:, None] - mu[None]
    dens = (w * np.exp(-0.5 * np.einsum("nki,kij,nkj->nk", diff, np.linalg.inv(S), diff))
            / (2 * np.pi * np.sqrt(np.linalg.det(S)))).sum(1)
    np.testing.assert_allclose(dens, p.initial_density(v).numpy(), rtol=1e-13)
    assert w.sum() == pytest.approx(1.0, rel=1e-15)


def schwinger_moments(mean, cov, gamma):
    """(E|z|^(gamma+2), E[|z|^gamma z z^T]) for z ~ N(mean, cov), gamma in (-4, -2) u (-2, 0), by an independent
    route: |z|^(-2a) = (1/Gamma(a)) int_0^inf t^(a-1) e^(-t|z|^2) dt and the Gaussian integrals
    E[e^(-t|z|^2)] = c(t) = det(I + 2tS)^(-1/2) exp(-t m^T (I + 2tS)^(-1) m), E[z z^T e^(-t|z|^2)] =
    c(t) (S_t + m_t m_t^T), S_t = (S^-1 + 2t I)^-1, m_t = S_t S^-1 m; t = e^x, quad in x."""
    d = len(mean)
    inv = np.linalg.inv(cov)

    def parts(t):
        B = np.eye(d) + 2 * t * cov
        c = np.linalg.det(B) ** -0.5 * math.exp(-t * mean @ np.linalg.solve(B, mean))
        St = np.linalg.inv(inv + 2 * t * np.eye(d))
        mt = St @ inv @ mean
        return c, c * (St + np.outer(mt, mt))

    a1, a2 = -(gamma + 2) / 2, -gamma / 2
    # both tails decay like e^(-|x|/2) at the slowest (2D, a = 1/2): [-100, 100] leaves e^-50
    q = lambda fn: sum(integrate.quad(fn, lo, hi, epsabs=0, epsrel=1e-13, limit=400)[0]
                       for lo, hi in ((-100, -10), (-10, 0), (0, 10), (10, 100)))
    first = q(lambda x: math.exp(a1 * x) * parts(math.exp(x))[0]) / special.gamma(a1)
    second = np.array([[q(lambda x, i=i, j=j: math.exp(a2 * x) * parts(math.exp(x))[1][i, j])
                        for j in range(d)] for i in range(d)]) / special.gamma(a2)
    return first, second


@pytest.mark.parametrize("d", [2, 3])
def test_coulomb_gaussian_matches_an_independent_quadrature(d):
    """gamma = -3 on an anisotropic Gaussian with a mean: polar Gauss-Jacobi against the Schwinger-parameter
    integral."""
    rng = np.random.default_rng(10 + d)
    mean, cov = rng.normal(size=d), random_spd(rng, d, 0.4, 2.5)
    e1, e2 = gaussian_pair_moments(mean, cov, -3.0)
    f1, f2 = schwinger_moments(mean, cov, -3.0)
    assert e1 == pytest.approx(f1, rel=1e-10)
    np.testing.assert_allclose(e2, f2, rtol=0, atol=1e-10 * np.abs(f2).max())


def test_coulomb_3d_gaussian_matches_monte_carlo():
    """A third check where Monte Carlo has finite variance (3D: E|z|^-2 < inf): within 4 standard errors."""
    rng = np.random.default_rng(5)
    mean, cov = np.array([0.5, -0.3, 0.2]), random_spd(rng, 3)
    e1, e2 = gaussian_pair_moments(mean, cov, -3.0)
    z = rng.multivariate_normal(mean, cov, size=400_000)
    r = np.linalg.norm(z, axis=1)
    for sample, exact in ((1 / r, e1), (z[:, 0] * z[:, 1] / r**3, e2[0, 1]), (z[:, 2] ** 2 / r**3, e2[2, 2])):
        assert abs(sample.mean() - exact) < 4 * sample.std() / math.sqrt(sample.size)


def test_anisotropic2d_rate_is_converged_and_sized():
    """Node doubling moves the rate by < 1e-12; the rate's only entry is off-diagonal (the covariance [[2,-1],[-1,2]]
    has equal variances), of the size of the Maxwell rate with the same C."""
    p = get_problem("anisotropic2d")
    r = initial_rate(p)
    r2 = initial_rate(p, n_radius=192, n_angle=256)
    assert float((r.rate - r2.rate).norm() / r2.rate.norm()) < 1e-12
    assert abs(float(r.rate[0, 0])) < 1e-14 and abs(float(r.rate[1, 1])) < 1e-14
    assert float(r.rate[0, 1]) == pytest.approx(0.011515988, rel=1e-7)


@given(st.integers(0, 2**32 - 1), st.sampled_from([2, 3]), st.sampled_from([-3.0, -2.5, -1.0, 0.0, 1.0]))
def test_trace_zero_and_rotation_equivariance(seed, d, gamma):
    """Energy is kept (tr dM/dt = 0) and the rate of the rotated law is the rotated rate (float64)."""
    rng = np.random.default_rng(seed)
    mean, cov = rng.normal(size=d), random_spd(rng, d)
    q, _ = np.linalg.qr(rng.normal(size=(d, d)))
    w = np.ones(1)
    a = mixture_rate(w, mean[None], cov[None], gamma, 0.7, n_angle=64 if d == 3 else None).rate.numpy()
    b = mixture_rate(w, (q @ mean)[None], (q @ cov @ q.T)[None], gamma, 0.7,
                     n_angle=64 if d == 3 else None).rate.numpy()
    scale = 2 * 0.7 * gaussian_pair_moments(mean, cov, gamma, n_angle=64 if d == 3 else None)[0]
    assert abs(np.trace(a)) < 1e-14 * scale
    np.testing.assert_allclose(b, q @ a @ q.T, atol=1e-8 * scale)


@given(st.integers(0, 2**32 - 1))
def test_gamma_zero_closed_form_for_random_covariances(seed):
    rng = np.random.default_rng(seed)
    cov = random_spd(rng, 2, 0.2, 3.0)
    got = mixture_rate(np.ones(1), rng.normal(size=(1, 2)), cov[None] / 2, 0.0, 1.0).rate
    want = closed_form(torch.from_numpy(cov / 2), 1.0)
    assert float((got - want).norm()) < 1e-12 * float(torch.trace(torch.from_numpy(cov)))


def test_radial_pair_moment_against_closed_moments_and_monte_carlo():
    """On the ring: p = 0 gives the mass 1, p = 2 gives E|v - w|^2 = 2 tr Sigma0, p = 1 agrees with Monte Carlo."""
    p = get_problem("rosenbluth3d")

    def dens(r):
        v = torch.zeros(r.size, 3, dtype=torch.float64)
        v[:, 0] = torch.from_numpy(r.reshape(-1))
        return p.initial_density(v).numpy().reshape(r.shape)

    r_max = p.sigma * (1 + 12 / math.sqrt(p.S))
    assert radial_pair_moment(dens, 0.0, r_max) == pytest.approx(1.0, rel=1e-12)
    assert radial_pair_moment(dens, 2.0, r_max) == pytest.approx(2 * float(torch.trace(p.initial_covariance())),
                                                                 rel=1e-12)
    z = (p.sample(200_000, 1) - p.sample(200_000, 2)).norm(dim=1)
    assert abs(radial_pair_moment(dens, 1.0, r_max) - float(z.mean())) < 4 * float(z.std()) / math.sqrt(z.numel())
    ring = initial_rate(p)
    assert float(ring.rate.abs().max()) == 0.0
    assert ring.scale == pytest.approx(2 * p.C * radial_pair_moment(dens, -1.0, r_max), rel=1e-14)


@pytest.mark.parametrize("name", ["bkw2d", "bkw3d", "truncated2d"])
def test_isotropic_maxwell_problems_have_rate_zero_and_the_closed_scale(name):
    p = get_problem(name)
    r = initial_rate(p)
    assert float(r.rate.abs().max()) == 0.0
    assert r.scale == pytest.approx(4 * p.C * float(torch.trace(p.initial_covariance())), rel=1e-14)


def test_a_maxwell_problem_that_is_not_a_mixture_uses_the_closed_form_and_others_refuse():
    class Plain(Problem):  # the Problem base: neither a mixture nor isotropic
        def initial_covariance(self):
            return torch.tensor([[2.0, 0.5], [0.5, 1.0]], dtype=torch.float64)

        def initial_mean(self):
            return torch.zeros(2, dtype=torch.float64)

    kw = dict(name="plain", dim=2, C=0.25, t0=0.0, snapshot_times=(1.0,), kde_bandwidth=0.3, paper_n=10,
              grid_box=((-3.0, 3.0),) * 2, grid_points=10)
    r = initial_rate(Plain(gamma=0.0, **kw))
    want = closed_form(torch.tensor([[2.0, 0.5], [0.5, 1.0]], dtype=torch.float64), 0.25)
    assert torch.allclose(r.rate, want, rtol=0, atol=1e-15)
    assert r.scale == pytest.approx(4 * 0.25 * 3.0)
    with pytest.raises(NotImplementedError, match="plain"):
        initial_rate(Plain(gamma=-3.0, **kw))


def test_rate_error_is_relative_or_scaled_where_the_rate_is_zero():
    exact = InitialRate(torch.tensor([[0.0, 2.0], [2.0, 0.0]], dtype=torch.float64), 5.0, "t")
    est = torch.tensor([[0.0, 2.2], [2.2, 0.0]], dtype=torch.float64)
    assert rate_error(est, exact) == pytest.approx(0.1, rel=1e-14)
    zero = InitialRate(torch.zeros(2, 2, dtype=torch.float64), 5.0, "t")
    assert rate_error(torch.eye(2, dtype=torch.float64), zero) == pytest.approx(math.sqrt(2) / (5 * math.sqrt(2)))
    # a rate of round-off size (norm 5.7e-12, below 1e-12 x scale 5 x sqrt 2 = 7.1e-12) is 0: the scaled unit
    tiny = InitialRate(torch.tensor([[4e-12, 0.0], [0.0, -4e-12]], dtype=torch.float64), 5.0, "t")
    assert rate_error(torch.eye(2, dtype=torch.float64), tiny) == pytest.approx(0.2, rel=1e-10)
    # at the threshold itself (d = 1: norm 1e-12 = 1e-12 x scale 1 x sqrt 1) the scaled unit too
    edge = InitialRate(torch.tensor([[1e-12]], dtype=torch.float64), 1.0, "t")
    assert rate_error(torch.tensor([[0.5 + 1e-12]], dtype=torch.float64), edge) == pytest.approx(0.5, rel=1e-12)


def test_quadrature_refuses_a_divergent_moment():
    with pytest.raises(ValueError, match=r"gamma = -4.0: E\|z\|\^\(gamma\+2\) diverges in 2D \(needs gamma > -4\)"):
        gaussian_pair_moments(np.zeros(2), np.eye(2), -4.0)
    with pytest.raises(ValueError, match=r"diverges in 3D \(needs gamma > -5\)"):
        gaussian_pair_moments(np.zeros(3), np.eye(3), -5.5)


# ----------------------------------------------------------------------------------------- observed rates
def test_difference_rates_are_exact_on_quadratic_paths():
    A, B, Q = (torch.tensor(x, dtype=torch.float64) for x in ([[2.0, 1.0], [1.0, 3.0]], [[0.5, -1.0], [-1.0, 0.2]],
                                                               [[0.3, 0.1], [0.1, -0.4]]))
    S = lambda t: A + B * t + Q * t * t
    h = 0.1
    assert torch.allclose(difference_rate([1.0, 1 + h, 1 + 2 * h], [S(0), S(h), S(2 * h)]), B, atol=1e-13)
    assert torch.allclose(difference_rate([1.0, 1 + h], [S(0), S(h)]), B + Q * h, atol=1e-13)
    with pytest.raises(ValueError, match="equally spaced"):
        difference_rate([0.0, 0.1, 0.3], [S(0)] * 3)
    with pytest.raises(ValueError, match="increase"):
        difference_rate([0.0, 0.0], [S(0)] * 2)
    with pytest.raises(ValueError, match="two or three"):
        difference_rate([0.0], [S(0)])


def test_velocity_rate_is_the_derivative_of_the_covariance_of_moving_particles():
    """Particles v + t u: the covariance is quadratic in t, so the three-point difference is exact."""
    g = torch.Generator().manual_seed(0)
    v = torch.randn(500, 3, generator=g, dtype=torch.float64) * torch.tensor([1.0, 2.0, 0.5], dtype=torch.float64)
    u = torch.randn(500, 3, generator=g, dtype=torch.float64) + v[:, [1, 2, 0]]
    h = 0.05
    via_traj = trajectory_rate(v, [h, 2 * h], [v + h * u, v + 2 * h * u], 0.0)
    assert torch.allclose(velocity_rate(v, u), via_traj, atol=1e-12)
    assert torch.allclose(covariance(v), torch.cov(v.T, correction=0), atol=1e-13)


def test_grid_reference_rate_coarse_is_within_its_resolution():
    """anisotropic2d's grid reference at the coarse resolution (R(32, 64)): 1.7e-3 from the exact rate (fine: 1.3e-5,
    the slow test below)."""
    p = get_problem("anisotropic2d")
    err = rate_error(grid_reference_rate(p, "coarse"), initial_rate(p))
    assert 1e-4 < err < 3e-3


@pytest.mark.slow
def test_grid_reference_rate_fine_and_by_time_steps():
    """The fine reference R(128, 256): its operator at t0 and its SSP-RK3 steps over [0, 0.1] both within 1e-4."""
    p = get_problem("anisotropic2d")
    exact = initial_rate(p)
    assert rate_error(grid_reference_rate(p, "fine"), exact) < 1e-4
    assert rate_error(grid_reference_rate(p, "fine", t1=0.05), exact) < 1e-4


def test_other_references_rates():
    ring = get_problem("rosenbluth3d")
    r = radial_reference_rate(ring, "coarse")
    assert float(r.abs().max()) < 1e-15 * initial_rate(ring).scale
    gm = get_problem("truncated2d").replace(C=0.5)
    assert torch.allclose(sde_reference_rate(gm), torch.zeros(2, 2, dtype=torch.float64), atol=1e-12)
    ani = get_problem("anisotropic2d").replace(gamma=0.0)  # a Maxwell mixture: the SDE's closed-form rate
    want = closed_form(ani.initial_covariance(), ani.C)
    kind, got = reference_rate(ani, "coarse")
    assert kind == "sde" and float((got - want).norm() / want.norm()) < 1e-8
    assert reference_rate(get_problem("bkw2d"))[0] == "exact"


@pytest.mark.parametrize("m, S, rel", [(np.array([24.0, -20.0, 25.0]), np.diag([1.0, 0.5, 2.0]), 1e-12),
                                       (np.array([40.0, 0.0, 0.0]), np.diag([4.0, 1.0, 1.0]), 1e-12),
                                       (np.array([0.0, 0.0, 70.0]), np.eye(3), 1e-5)])
def test_a_far_mean_needs_the_shift_of_the_ray_exponent(m, S, rel):
    """gamma = 0, z ~ N(m, S) far from 0: |m|^2 / 2 = 800.5 and 2450 (e^800 overflows unless the ray's maximum
    b^2 / (2a) is taken out, e^2450 even with a third of it out), and a mean along the wide axis of S (the bump's
    peak at r = b / a = 40 on that ray, far past 12 / sqrt(a)): E|z|^2 = |m|^2 + tr S and E[z z^T] = m m^T + S
    (128 radial, 384 angular nodes: to 1e-12, and 4e-6 where the bump is 1/70 rad wide)."""
    e1, e2 = gaussian_pair_moments(m, S, 0.0, 128, 384)
    assert e1 == pytest.approx(m @ m + np.trace(S), rel=rel)
    np.testing.assert_allclose(e2, np.outer(m, m) + S, rtol=0, atol=rel * e1)


def test_sphere_rule_sizes():
    """2D: n directions; 3D: n / 2 Gauss-Legendre nodes in cos theta (at least 2) times n in phi; the defaults
    N_ANGLE = {2: 128, 3: 192} of the module's accuracy note; other dimensions refused."""
    assert sphere_rule(2)[0].shape == (128, 2) and sphere_rule(3)[0].shape == (96 * 192, 3)
    assert sphere_rule(2, 10)[0].shape == (10, 2) and sphere_rule(3, 10)[0].shape == (50, 3)
    assert sphere_rule(3, 3)[0].shape == (6, 3)
    with pytest.raises(ValueError, match="dimension 4"):
        sphere_rule(4, 8)


def test_the_closed_form_of_a_3d_maxwell_problem_by_hand_and_a_3d_coulomb_refusal():
    """Sigma0 = diag(3, 1, 2), C = 0.5: 4C (tr Sigma I - d Sigma) = 2 (6 I - 3 diag(3, 1, 2)) = diag(-6, 6, 0), scale
    4C tr = 12; gamma = -3 on the same (neither a mixture nor a ring): NotImplementedError naming it."""
    class Plain3(Problem):
        def initial_covariance(self):
            return torch.diag(torch.tensor([3.0, 1.0, 2.0], dtype=torch.float64))

        def initial_mean(self):
            return torch.zeros(3, dtype=torch.float64)

    kw = dict(name="plain3", dim=3, C=0.5, t0=0.0, snapshot_times=(1.0,), kde_bandwidth=0.3, paper_n=10,
              grid_box=((-3.0, 3.0),) * 3, grid_points=10)
    r = initial_rate(Plain3(gamma=0.0, **kw))
    assert torch.equal(r.rate, torch.diag(torch.tensor([-6.0, 6.0, 0.0], dtype=torch.float64)))
    assert r.scale == 12.0 and r.method == "gamma = 0 closed form 4C (tr Sigma I - d Sigma)"
    with pytest.raises(NotImplementedError, match="plain3: no exact initial rate"):
        initial_rate(Plain3(gamma=-3.0, **kw))


def test_difference_rate_spacing_tolerance():
    """Three times are equally spaced within 1e-9 max(1, h): 5e-10 off is accepted at h = 0.1, 1.5e-9 refused; at
    h = 10 the tolerance is 1e-8 (5e-9 accepted)."""
    S = [torch.eye(2, dtype=torch.float64) * k for k in (1.0, 2.0, 3.0)]
    assert torch.allclose(difference_rate([0.0, 0.1, 0.2 + 5e-10], S), torch.eye(2, dtype=torch.float64) * 10,
                          rtol=1e-6)
    with pytest.raises(ValueError, match="equally spaced"):
        difference_rate([0.0, 0.1, 0.2 + 1.5e-9], S)
    assert torch.allclose(difference_rate([0.0, 10.0, 20.0 + 5e-9], S), torch.eye(2, dtype=torch.float64) / 10,
                          rtol=1e-6)
