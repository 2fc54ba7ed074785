"""pairwise_collision (solvers/pairwise_collision.py, solvers/collisions.py): exact conservation per collision,
the collision rate against the Maxwell covariance relaxation exp(-4 C d t), the angle laws, seeds, refusals."""
import math

import pytest
import torch

import solvers
from infra import seeds
from problems import get_problem, make_generator, maxwell_covariance
from solvers.collisions import collision_step, collision_strength, deflect, nanbu_parameter
from solvers.pairwise_collision import PairwiseCollisionConfig

NAME = "pairwise_collision"


def solve(problem, n, dt, seed=0, initial=None):
    return solvers.get_solver(NAME)(PairwiseCollisionConfig(n=n, dt=dt)).solve(problem, seed=seed, initial=initial)


# ---------------------------------------------------------------------------- conservation
@pytest.mark.parametrize("name", ["bkw2d", "bkw3d", "rosenbluth3d"])
@pytest.mark.parametrize("n", [1_000, 1_001])  # 1,001: the odd particle's triplet too
def test_mass_momentum_and_energy_are_conserved_to_round_off(name, n):
    p = get_problem(name)
    short = p.replace(snapshot_times=(p.t0 + 12 * 0.1,))  # twelve steps of 0.1
    tr = solve(short, n, 0.1)
    v0, vt = tr.initial, tr.at(short.T)
    assert vt.shape == v0.shape and bool(torch.isfinite(vt).all())  # mass: the same N equal-weight particles
    scale = float(v0.norm(dim=1).sum())
    assert float((vt.sum(0) - v0.sum(0)).norm()) / scale < 1e-12
    e0, et = float((v0 * v0).sum()), float((vt * vt).sum())
    assert abs(et - e0) / e0 < 1e-12
    assert float((vt - v0).abs().max()) > 0.1  # the particles did move


# ---------------------------------------------------------------------------- the collision rate
def expected_decay(dim: int, n: int, h: float, steps: int, C: float) -> float:
    """The scheme's exact expected factor on the traceless part of the empirical covariance after `steps` steps
    of length h (gamma = 0, even n): a step multiplies it by r = 1 - d E[sin^2 chi] / (2 (d - 1) kappa),
    kappa = (n - 1)/n, with E[sin^2 chi] = (1 - exp(-4 s))/2 in 2D and 2 exp(-s)/A (Nanbu's A) in 3D, and
    s = 4 kappa (d - 1) C h computed here, not by the solver (a wrong rate in the solver must not move the bias)."""
    kappa = (n - 1) / n
    s = torch.tensor([4 * kappa * (dim - 1) * C * h], dtype=torch.float64)  # the derived rate, written out here
    if dim == 2:
        sin2 = (1 - torch.exp(-4 * s)) / 2
    else:
        sin2 = 2 * torch.exp(-s) / nanbu_parameter(s)
    return float(1 - dim * sin2 / (2 * (dim - 1) * kappa)) ** steps


@pytest.mark.parametrize("name, sd", [("bkw2d", (1.6, 0.4)), ("bkw3d", (1.6, 1.0, 0.4))])
def test_covariance_relaxes_at_the_landau_rate(name, sd):
    """Anisotropic Gaussian particles under the problem's Maxwell kernel (bkw2d's own covariance is I at every t,
    so it cannot see the rate): the empirical covariance at t0 + 1 against the exact Sigma(t) =
    Sigma_inf + (Sigma0 - Sigma_inf) exp(-4 C d t) from the particles' own Sigma0. Tolerance = the scheme's O(dt)
    bias (its exact expected recursion, `expected_decay`) + 5 x the Monte Carlo bound
    E||noise||_F^2 <= 2 kappa (d - 1) C t E|u|^4 / N (a collision of strength s moves the pair's u u^T / 2 by a
    zero-mean amount of squared norm s |u|^4 to leading order; N/2 pairs a step, t/dt steps, Sigma = (1/N) sum).
    A factor 2 in the rate moves Sigma by 0.2 (2D) here, against a tolerance of 0.04."""
    p = get_problem(name)
    t, dt, n = 1.0, 0.05, 50_000
    d = p.dim
    gen = make_generator(123)
    v0 = torch.randn(n, d, generator=gen, dtype=torch.float64) * torch.tensor(sd, dtype=torch.float64).sqrt()
    short = p.replace(snapshot_times=(p.t0 + t,))
    got = torch.cov(solve(short, n, dt, initial=v0).at(short.T).T, correction=0)
    cov0 = torch.cov(v0.T, correction=0)
    want = maxwell_covariance(cov0, p.C, short.T, p.t0)
    iso = torch.trace(cov0) / d * torch.eye(d, dtype=torch.float64)
    bias = float((cov0 - iso).norm()) * abs(expected_decay(d, n, dt, round(t / dt), p.C) - math.exp(-4 * p.C * d * t))
    u = v0[torch.randperm(n, generator=gen)] - v0
    mc = math.sqrt(2 * (n - 1) / n * (d - 1) * p.C * t * float(((u * u).sum(1) ** 2).mean()) / n)
    err = float((got - want).norm())
    assert err <= bias + 5 * mc, (err, bias, mc)
    # and the relaxation happened: the traceless part shrank by exp(-4 C d t) = 0.61, not by 0.37 or 0.78
    shrink = float((got - iso).norm() / (cov0 - iso).norm())
    assert abs(shrink - math.exp(-4 * p.C * d * t)) < 0.05, shrink


# ---------------------------------------------------------------------------- the angle laws
def test_nanbu_parameter_solves_its_equation():
    s = torch.logspace(-9, 2, 400, dtype=torch.float64)
    a = nanbu_parameter(s)
    one_minus_l = 1 / a - 2 / torch.expm1(2 * a)  # 1 - (coth A - 1/A), accurate for A >= 0.01 (s <= 4.5)
    q = -torch.expm1(-s)
    ok = a >= 0.01
    assert int(ok.sum()) > 300
    assert float(((one_minus_l - q).abs() / q)[ok].max()) < 1e-12
    small = a[~ok]  # s large: L(A) = A/3 + O(A^3) = exp(-s)
    assert float(((small / 3 - torch.exp(-s[~ok])).abs() / torch.exp(-s[~ok])).max()) < 1e-4
    assert float(nanbu_parameter(torch.tensor([0.0, math.inf], dtype=torch.float64))[1]) == 0.0


@pytest.mark.parametrize("dim", [2, 3])
@pytest.mark.parametrize("s_value", [0.01, 0.3, 3.0])
def test_deflection_keeps_speed_and_has_mean_cosine_exp_minus_s(dim, s_value):
    n = 200_000
    gen = make_generator(7)
    u = torch.randn(n, dim, generator=gen, dtype=torch.float64)
    s = torch.full((n,), s_value, dtype=torch.float64)
    u2 = deflect(u, s, gen)
    assert float(((u2.norm(dim=1) - u.norm(dim=1)).abs() / u.norm(dim=1)).max()) < 1e-13
    cos = (u * u2).sum(1) / (u * u).sum(1)
    se = float(cos.std()) / math.sqrt(n)
    assert abs(float(cos.mean()) - math.exp(-s_value)) < 5 * se + 1e-12, (float(cos.mean()), se)
    if dim == 2:  # the exact circle Brownian motion: E cos 2 chi = exp(-4 s)
        cos2 = 2 * cos * cos - 1
        assert abs(float(cos2.mean()) - math.exp(-4 * s_value)) < 5 * float(cos2.std()) / math.sqrt(n)


def test_collision_strength_is_the_derived_rate():
    u = torch.tensor([0.5, 1.0, 2.0, 0.0], dtype=torch.float64)
    n, dt, C = 10, 0.02, 1 / 24
    s = collision_strength(u, -3.0, C, 3, n, dt)
    want = 4 * (n - 1) / n * 2 * C * dt * u[:3] ** -3.0
    assert torch.allclose(s[:3], want, rtol=1e-15) and math.isinf(float(s[3]))
    maxwell = torch.full((4,), 4 * 0.9 * C * dt, dtype=torch.float64)
    assert torch.allclose(collision_strength(u, 0.0, C, 2, n, dt), maxwell)


def test_a_coincident_coulomb_pair_stays_put_and_finite():
    v = torch.tensor([[1.0, 2.0, 3.0], [1.0, 2.0, 3.0], [0.0, 0.0, 0.0]], dtype=torch.float64)
    out = collision_step(v, 0.1, -3.0, 1 / 24, make_generator(0))
    assert bool(torch.isfinite(out).all())
    assert torch.allclose(out.sum(0), v.sum(0), atol=1e-14)


# ---------------------------------------------------------------------------- seeds, refusals, registration
def test_one_seed_one_trajectory_and_two_seeds_two():
    p = get_problem("bkw2d").replace(snapshot_times=(0.5,))
    a, b, c = solve(p, 400, 0.1, seed=3), solve(p, 400, 0.1, seed=3), solve(p, 400, 0.1, seed=4)
    assert torch.equal(a.at(0.5), b.at(0.5)) and torch.equal(a.initial, b.initial)
    assert not torch.equal(a.at(0.5), c.at(0.5))
    same_start = solve(p, 400, 0.1, seed=4, initial=a.initial)  # the collisions differ too, not only the start
    assert not torch.equal(a.at(0.5), same_start.at(0.5))
    assert seeds.STREAMS[NAME].seed(3) == 160_003


@pytest.mark.parametrize("field, value, words", [("dt", 0.0, "dt = 0.0"), ("dt", -0.1, "dt = -0.1"),
                                                 ("dt", math.inf, "dt = inf"), ("dt", math.nan, "dt = nan"),
                                                 ("n", 1, "n = 1"), ("n", 0, "n = 0"), ("n", 2.5, "n = 2.5")])
def test_bad_dt_or_n_is_refused_in_one_line(field, value, words):
    cls = solvers.get_solver(NAME)
    p = get_problem("bkw2d")
    cfg = cls.profile_config("smoke", p, **{field: value})
    with pytest.raises(ValueError, match=f"pairwise_collision needs .*{words}") as info:
        cls(cfg).solve(p)
    assert "\n" not in str(info.value)


def test_three_particles_collide_as_one_triplet():
    p = get_problem("bkw3d").replace(snapshot_times=(6.0,))
    v0 = p.sample(3, 0)
    vt = solve(p, 3, 0.1, initial=v0).at(6.0)
    assert not torch.allclose(vt, v0) and torch.allclose(vt.sum(0), v0.sum(0), atol=1e-13)
    assert abs(float((vt * vt).sum() - (v0 * v0).sum())) < 1e-12


def test_registered_with_documented_profiles():
    cls = solvers.get_solver(NAME)
    p = get_problem("rosenbluth3d")
    assert NAME in solvers.list_solvers() and not cls.has_score and cls.dt_order is None
    assert cls.profile_config("smoke", p) == PairwiseCollisionConfig(n=300, dt=0.25)  # T - t0 = 20 > 10
    assert cls.profile_config("smoke", get_problem("gaussian_mixture3d")).dt == 0.25  # no stiff_dt (Euler's)
    assert cls.profile_config("quick", p) == PairwiseCollisionConfig(n=1_000, dt=0.02)
    assert cls.profile_config("paper", p) == PairwiseCollisionConfig(n=p.paper_n, dt=0.01)
    tr = cls(cls.profile_config("smoke", get_problem("bkw3d"))).solve(get_problem("bkw3d"))
    assert tr.times == [5.5, 5.75, 6.0] and torch.equal(tr.at(5.5), tr.initial) and tr.info["steps"] == 6
