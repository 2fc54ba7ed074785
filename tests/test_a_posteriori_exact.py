"""certificates.a_posteriori against values computed by hand (fast, float64): the time grid, the trapezoid and its
Richardson error, the W2 series with a known residual, the Gelbrich bound against its matrix formula, exact W2 of
two-point sets, the log-norm of fields whose symmetric gradient is known, the Gronwall recursion stepped by hand, the
KL identity of a dilation of N(0, I) (both sides in closed form per particle) and the rows certify_flow assembles."""
import math

import numpy as np
import pytest
import torch
from scipy import linalg

import certificates.a_posteriori as ap
from certificates.a_posteriori import (LOGNORM_RTOL, certify_flow, emd_w2, gelbrich_w2, gronwall_lognorm, kl_series,
                                       lognorm_series, quadrature_error, sym_grad_max_eig, time_grid,
                                       trapezoid_cumulative, w2_residual_series)
from certificates.flow_path import FlowPath, FlowState
from infra import seeds
from problems import get_problem, maxwell_covariance
from problems.cases.characteristics import integrate_characteristics

f64 = torch.float64


# ------------------------------------------------------------------------------------------ grid and quadrature
def test_time_grid_by_hand():
    assert time_grid(1.0, 3.0, [0.5, 1.0, 1.5, 2.2, 3.0], 4) == [1.0, 1.5, 2.0, 2.2, 2.5, 3.0]
    assert time_grid(0.0, 1.0, [1.0], 2) == [0.0, 0.5, 1.0]
    # t0 not a 12-digit number: a snapshot at t0 itself is not added again beside its rounded copy
    t0 = 1 / 3
    assert len(time_grid(t0, t0 + 1.0, [t0, t0 + 1.0], 4)) == 5 + 1  # the exact t0 + 1 beside its rounding, t0 not
    # a node 1e-13 off a snapshot (1000.1 + 3 h = 1000.6500000000001) is the snapshot at 12 digits
    assert time_grid(1000.1, 1001.2, [1000.65], 6)[3] == 1000.65 and len(time_grid(1000.1, 1001.2, [1000.65], 6)) == 7


def test_trapezoid_cumulative_on_an_uneven_grid():
    got = trapezoid_cumulative([0.0, 1.0, 3.0], [1.0, 3.0, 2.0])
    assert np.allclose(got, [0.0, 2.0, 7.0], rtol=0, atol=1e-15)


@pytest.mark.parametrize("n, expected", [(5, [0, 0.5, 1 / 3, 1.5, 2 / 3]), (4, [0, 0.5, 1 / 3, 1 / 3]), (2, [0, 0])])
def test_quadrature_error_by_hand(n, expected):
    """g = t^2 on t = 0..n-1: |fine - coarse| / 3, the coarse rule on the even nodes (plus the last one when n is
    even), interpolated linearly to the odd nodes. n = 5: fine (0, .5, 3, 9.5, 22), coarse (0, 2, 4, 14, 24);
    n = 4: fine (0, .5, 3, 9.5), coarse on (0, 2, 3) = (0, 4, 10.5) -> (0, 2, 4, 10.5); n = 2: the coarse rule is the
    fine one (one interval: its error estimate is 0)."""
    t = np.arange(n, dtype=float)
    assert np.allclose(quadrature_error(list(t), t ** 2), expected, rtol=0, atol=1e-14)


def test_w2_residual_series_with_a_known_residual(monkeypatch):
    """residual_norm stubbed to (x[0, 0], x[0, 1]) of each state: r = (1, 3, 2), se = (.1, .2, .4) on t = (0, 1, 3):
    bound = .5 + (0, 2, 7), mc_se = (0, .15, .75), quad_err = (0, .5/3, 2.5/3) (coarse rule on (0, 3): 4.5)."""
    calls = []

    def fake(x, u, s, gamma, C, symmetric=False):
        calls.append((gamma, C))
        return float(x[0, 0]), float(x[0, 1])

    monkeypatch.setattr(ap, "residual_norm", fake)
    one = torch.ones(1, dtype=f64)
    states = [FlowState(t, torch.tensor([[r, se]], dtype=f64), one, one, one)
              for t, r, se in ((0.0, 1.0, 0.1), (1.0, 3.0, 0.2), (3.0, 2.0, 0.4))]
    bound, se, qerr, r = w2_residual_series(states, -3.0, 0.25, 0.5)
    assert calls == [(-3.0, 0.25)] * 3
    assert np.allclose(bound, [0.5, 2.5, 7.5], rtol=0, atol=1e-14)
    assert np.allclose(se, [0.0, 0.15, 0.75], rtol=0, atol=1e-14)
    assert np.allclose(qerr, [0.0, 0.5 / 3, 2.5 / 3], rtol=0, atol=1e-14)
    assert np.allclose(r, [1.0, 3.0, 2.0], rtol=0, atol=0)


# ------------------------------------------------------------------------------------------ W2 estimates
@pytest.mark.parametrize("shift", [0.0, 0.7])
def test_gelbrich_against_the_matrix_formula(shift):
    """|m_x - m|^2 + tr S_x + tr S - 2 tr (S^1/2 S_x S^1/2)^1/2 with scipy's sqrtm, S_x the (ddof 1) sample
    covariance, for covariances that do not commute."""
    gen = torch.Generator().manual_seed(8)
    x = torch.randn(50, 2, generator=gen, dtype=f64) @ torch.tensor([[1.0, 0.4], [0.0, 0.6]], dtype=f64)
    mean = torch.tensor([shift, -0.2], dtype=f64)
    cov = torch.tensor([[2.0, -0.5], [-0.5, 0.3]], dtype=f64)
    xn = x.numpy()
    sx, mx = np.cov(xn.T), xn.mean(0)
    root = linalg.sqrtm(cov.numpy()).real
    w2 = ((mx - mean.numpy()) ** 2).sum() + np.trace(sx) + np.trace(cov.numpy()) \
        - 2 * np.trace(linalg.sqrtm(root @ sx @ root).real)
    assert gelbrich_w2(x, mean, cov) == pytest.approx(math.sqrt(w2), rel=1e-10)
    # float32 samples are read in float64
    assert gelbrich_w2(x.float(), mean, cov) == pytest.approx(math.sqrt(w2), rel=1e-5)


def test_gelbrich_of_a_sample_with_the_target_moments_is_zero():
    """Four points with mean 0 and (ddof 1) covariance (4/3) diag(1, 4): against those moments W2 = 0 exactly."""
    x = torch.tensor([[1.0, 0.0], [-1.0, 0.0], [0.0, 2.0], [0.0, -2.0]], dtype=f64)
    cov = torch.diag(torch.tensor([2 / 3, 8 / 3], dtype=f64))
    assert gelbrich_w2(x, torch.zeros(2, dtype=f64), cov) == pytest.approx(0.0, abs=1e-7)
    # a shift by (3, 4) is seen exactly
    assert gelbrich_w2(x + torch.tensor([3.0, 4.0], dtype=f64), torch.zeros(2, dtype=f64), cov) == \
        pytest.approx(5.0, rel=1e-12)


def test_psd_sqrt_symmetrises_and_clips():
    a = torch.tensor([[4.0, 1.0], [-1.0, 9.0]], dtype=f64)  # symmetric part diag(4, 9)
    assert torch.allclose(ap._psd_sqrt(a), torch.diag(torch.tensor([2.0, 3.0], dtype=f64)), atol=1e-14)
    neg = torch.diag(torch.tensor([-1.0, 0.25], dtype=f64))
    assert torch.allclose(ap._psd_sqrt(neg), torch.diag(torch.tensor([0.0, 0.5], dtype=f64)), atol=1e-15)


def test_emd_w2_of_small_sets():
    x = torch.tensor([[0.0, 0.0], [1.0, 0.0]], dtype=f64)
    assert emd_w2(x, torch.tensor([[1.0, 1.0], [0.0, 1.0]], dtype=f64)) == pytest.approx(1.0, rel=1e-12)
    assert emd_w2(x, torch.zeros(1, 2, dtype=f64)) == pytest.approx(math.sqrt(0.5), rel=1e-12)
    y = torch.tensor([[3.0, 0.0], [0.0, 0.0], [4.0, 4.0]], dtype=f64)
    assert emd_w2(y, y.flip(0)) == pytest.approx(0.0, abs=1e-12)


# ------------------------------------------------------------------------------------------ log-norm Gronwall
def test_sym_grad_max_eig_3d():
    """F(x) = A x + (0, 0, x_3^2 / 2): sym grad = sym(A) + diag(0, 0, x_3); sym(A) = [[1, 1, 0], [1, .5, 0],
    [0, 0, -1]] has the largest eigenvalue (1.5 + sqrt(4.25)) / 2; at x_3 = 4 the largest is 3."""
    a = torch.tensor([[1.0, 2.0, 0.0], [0.0, 0.5, 0.3], [0.0, -0.3, -1.0]], dtype=f64)

    def field(x):
        return x @ a.T + torch.stack([0 * x[:, 0], 0 * x[:, 0], x[:, 2] ** 2 / 2], -1)

    x = torch.tensor([[0.3, -1.0, 0.0], [0.0, 2.0, 4.0]], dtype=f64)
    got = sym_grad_max_eig(field, x)
    assert torch.allclose(got, torch.tensor([(1.5 + math.sqrt(4.25)) / 2, 3.0], dtype=f64), rtol=0, atol=1e-13)


def test_gronwall_lognorm_two_steps_by_hand():
    """t = (0, .5, 1.5), l = (.2, .6, -.4), r = (1, 2, 3), b0 = .1: b1 = e^.3 .1 + .25 (e^.3 + 2),
    b2 = e^.6 b1 + .5 (2 e^.6 + 3) (the larger log-norm of each step's ends)."""
    grid = [0.0, 0.5, 1.5]
    l = np.array([[0.2, 0.0], [0.6, 0.0], [-0.4, 0.0]])
    r = np.array([[1.0, 0.0], [2.0, 1.0], [3.0, 0.0]])
    b = gronwall_lognorm(grid, l, r, np.array([0.1, 0.0]))
    b1 = math.exp(0.3) * 0.1 + 0.25 * (math.exp(0.3) + 2)
    b2 = math.exp(0.6) * b1 + 0.5 * (2 * math.exp(0.6) + 3)
    assert b.shape == (3, 2)
    assert np.allclose(b[:, 0], [0.1, b1, b2], rtol=1e-14, atol=0)
    assert np.allclose(b[:, 1], [0.0, 0.25, 0.75], rtol=1e-14, atol=0)  # l = 0: the plain trapezoid of r


class _CubicProblem:
    """U_f(x) = (-x_1^3 / 3, -10 x_2): sym grad = diag(-x_1^2, -10), largest eigenvalue -x_1^2 for |x_1| < 3."""

    def mean_field_drift(self, x, t):
        return torch.stack([-x[..., 0] ** 3 / 3, -10 * x[..., 1]], -1) + 0 * t


def test_lognorm_series_takes_the_segment_maximum():
    """Particles whose segment [X_1, Phi_1] crosses x_1 = 0 at theta = 0, .25, .5, .75, 1: the maximum over the five
    segment points of -x_1^2 is 0 for each, any other set of points gives < 0; e_i = |Phi_i - X_i|, residual
    |u_i - U_f(Phi_i)|, b from gronwall_lognorm."""
    xe = torch.tensor([[0.0, 0.0], [-0.5, 0.0], [-1.0, 0.0], [-1.5, 0.0], [-2.0, 0.0]], dtype=f64)
    x = xe + torch.tensor([[2.0, 0.0]], dtype=f64)
    x[0, 1] = 1.0  # e_0 = |(2, 1)| = sqrt 5
    stub = _CubicProblem()
    u = stub.mean_field_drift(x, 0.0) + torch.tensor([[0.3, 0.4]], dtype=f64)  # residual 0.5 everywhere
    one = torch.ones(5, dtype=f64)
    states = [FlowState(t, x, u, x, one) for t in (0.0, 1.0)]
    b, e, lognorm = lognorm_series(stub, states, [xe, xe])
    assert np.allclose(lognorm, 0.0, rtol=0, atol=1e-15) and lognorm.shape == (2, 5)
    assert np.allclose(e, [[math.sqrt(5), 2, 2, 2, 2]] * 2, rtol=1e-14)
    assert np.allclose(b[-1], e[0] + 0.5, rtol=1e-14)  # l = 0, r = .5 over one unit of time


class _Stationary:
    """f_t = f0 = N(0, I_2) at every t, and a stated field U_f(x) = -0.3 x (the identity's formula does not need U_f to
    be f's own)."""

    def initial_density(self, v):
        return torch.exp(-(v * v).sum(-1) / 2) / (2 * math.pi)

    def density(self, x, t):
        return self.initial_density(x)

    def score(self, x, t):
        return -x

    def mean_field_drift(self, x, t):
        return -0.3 * x


def test_kl_identity_of_a_dilation_by_hand():
    """Phi(v, t) = a v, a = 1.5 + t: det J = a^2, u = v, mu_t's score -v / a. Per particle
    kl_i = |v|^2 (a^2 - 1) / 2 - 2 log a, g_i = (u - U_f(x)) . (s - grad log f(x)) = |v|^2 (1 + 0.3 a) (a - 1 / a)."""
    gen = torch.Generator().manual_seed(6)
    v = torch.randn(30, 2, generator=gen, dtype=f64)
    grid = [0.0, 0.5, 1.5]
    states = [FlowState(t, (1.5 + t) * v, v.clone(), -v / (1.5 + t), torch.full((30,), (1.5 + t) ** 2, dtype=f64))
              for t in grid]
    got = kl_series(_Stationary(), states, v)
    v2 = (v * v).sum(-1).numpy()
    kl = np.stack([v2 * ((1.5 + t) ** 2 - 1) / 2 - 2 * math.log(1.5 + t) for t in grid])
    g = np.stack([v2 * (1 + 0.3 * (1.5 + t)) * ((1.5 + t) - 1 / (1.5 + t)) for t in grid])
    integral = np.stack([np.zeros(30), 0.25 * (g[0] + g[1]), 0.25 * (g[0] + g[1]) + 0.5 * (g[1] + g[2])])
    assert np.allclose(got["direct"], kl.mean(1), rtol=1e-12, atol=1e-14)
    assert np.allclose(got["rhs"], kl[0].mean() + integral.mean(1), rtol=1e-12, atol=1e-14)
    diff = kl - kl[0] - integral
    assert np.allclose(got["se"], diff.std(1, ddof=1) / math.sqrt(30), rtol=1e-10, atol=1e-15)
    gm = g.mean(1)
    coarse_end = 0.75 * (gm[0] + gm[2])  # the coarse rule on (0, 1.5)
    assert np.allclose(got["quad_err"], [0, abs(0.25 * (gm[0] + gm[1]) - coarse_end / 3) / 3,
                                         abs(integral.mean(1)[2] - coarse_end) / 3], rtol=1e-12, atol=1e-15)


# ------------------------------------------------------------------------------------------ certify_flow rows
def _residual_by_call(monkeypatch, scale=0.2):
    """residual_norm stubbed: call k (the states in grid order) returns (scale k^2, 0.01 (k + 1))."""
    calls = []

    def fake(x, u, s, gamma, C, symmetric=False):
        calls.append(len(calls))
        k = calls[-1]
        return scale * k * k, 0.01 * (k + 1)

    monkeypatch.setattr(ap, "residual_norm", fake)


def _expected_series(grid, scale=0.2):
    k = np.arange(len(grid), dtype=float)
    r, se = scale * k * k, 0.01 * (k + 1)
    h = np.diff(grid)
    return (np.concatenate([[0], np.cumsum(0.5 * h * (r[1:] + r[:-1]))]),
            np.concatenate([[0], np.cumsum(0.5 * h * (se[1:] + se[:-1]))]), r)


def _memo_characteristics(monkeypatch):
    """integrate_characteristics memoised on (v0, times) for this test (certify_flow imports it at call time):
    the same DOP853 solution, computed once."""
    import problems.cases.characteristics as ch
    plain, memo = ch.integrate_characteristics, {}

    def cached(problem, v0, times, rtol, atol):
        key = (tuple(v0.reshape(-1).tolist()), tuple(sorted(times)), rtol, atol)
        if key not in memo:
            memo[key] = plain(problem, v0, times, rtol, atol)
        return [x.clone() for x in memo[key]]

    monkeypatch.setattr(ch, "integrate_characteristics", cached)
    return cached


def _shifted(problem, eps, c, integrate=integrate_characteristics) -> FlowPath:
    """X(v, t) + eps (t - t0 + 1/2) c: W2 to f_t by the identity coupling is eps (t - t0 + 1/2) |c| exactly."""
    c = torch.as_tensor(c, dtype=f64)

    def a(t):
        return eps * (t - problem.t0 + 0.5) * c

    def push(v, times):
        return [x + a(t) for t, x in zip(sorted(times), integrate(problem, v.to(f64), sorted(times), 1e-10, 1e-12))]

    def states(v, times):
        out = []
        for t, x in zip(sorted(times), integrate(problem, v.to(f64), sorted(times), 1e-10, 1e-12)):
            det = problem.initial_density(v.to(f64)) / problem.density(x, t)
            out.append(FlowState(t, x + a(t), problem.mean_field_drift(x, t) + eps * c, problem.score(x, t), det))
        return out

    return FlowPath("shifted", states, push)


def test_certify_flow_rows_on_an_exact_problem(monkeypatch):
    """bkw2d, the characteristics shifted by eps (t + 1/2) c, |c| = 1, eps = 1, the residual stubbed: every field
    of every row from its definition (W2 bound, coupling, Gelbrich lower bound with its floor, KL and log-norm rows
    from kl_series / lognorm_series on the same states)."""
    _residual_by_call(monkeypatch)
    integrate = _memo_characteristics(monkeypatch)
    p = get_problem("bkw2d").replace(snapshot_times=(0.0, 1.0, 2.5))
    path = _shifted(p, 1.0, [0.6, 0.8], integrate)
    v0 = p.sample(24, 4)
    rows = certify_flow(path, p, p, v0, 3, intervals=4, m_moments=150)
    grid = [0.0, 0.625, 1.0, 1.25, 1.875, 2.5]
    assert [(r["t"], r["certificate"]) for r in rows] == [
        (1.0, "w2_residual:proved"), (2.5, "w2_residual:proved"), (1.0, "kl_identity"), (2.5, "kl_identity"),
        (1.0, "lognorm_trajectory"), (2.5, "lognorm_trajectory")]
    integral, se, r = _expected_series(grid)
    qerr = quadrature_error(grid, r)
    big = p.sample(150, seeds.AP_FRESH.seed(3, 1))
    floor = gelbrich_w2(p.sample(150, seeds.AP_FRESH.seed(3, 2)), p.initial_mean(), p.initial_covariance())
    holds = []
    pushed_big = path.push(big, [1.0, 2.5])
    for i, (row, t) in enumerate(zip(rows[:2], (1.0, 2.5))):
        k = grid.index(t)
        c = row  # the constants are flattened beside the fields
        assert c["w2_initial"] == pytest.approx(0.5, rel=1e-12)
        assert row["bound"] == pytest.approx(0.5 + integral[k], rel=1e-12)
        assert c["residual_integral"] == pytest.approx(integral[k], rel=1e-10)
        assert row["mc_se"] == pytest.approx(se[k], rel=1e-12) and c["quad_err"] == pytest.approx(qerr[k], rel=1e-12)
        assert qerr[k] > 0 and c["intervals"] == 4 and c["m_coupling"] == 150
        assert row["observed"] == pytest.approx(t + 0.5, rel=1e-9) and c["coupling"] == row["observed"]
        gel = gelbrich_w2(pushed_big[i], p.initial_mean(), maxwell_covariance(p.initial_covariance(), p.C, t, p.t0))
        assert c["gelbrich"] == pytest.approx(gel, rel=1e-12) and c["gelbrich_floor"] == pytest.approx(floor, rel=1e-12)
        assert c["observed_lower"] == pytest.approx(max(gel - 2 * floor, 0.0), rel=1e-12)
        assert row["holds"] == (row["bound"] + 3 * (se[k] + qerr[k]) >= c["observed_lower"])
        holds.append(row["holds"])
    assert holds == [False, True]  # bound .5 + .25 below ~1.5 at t = 1; .5 + 4.7 above ~3 at t = 2.5
    states = path.states(v0, grid)
    kl = kl_series(p, states, v0)
    for row, t in zip(rows[2:4], (1.0, 2.5)):
        k = grid.index(t)
        assert row["bound"] == pytest.approx(kl["rhs"][k], rel=1e-12)
        assert row["observed"] == pytest.approx(kl["direct"][k], rel=1e-12)
        assert row["mc_se"] == pytest.approx(kl["se"][k], rel=1e-12)
        assert row["quad_err"] == pytest.approx(kl["quad_err"][k], rel=1e-12) and row["intervals"] == 4
        assert row["holds"] == bool(abs(kl["rhs"][k] - kl["direct"][k]) <= 3 * kl["se"][k] + kl["quad_err"][k])
    b, e, lognorm = lognorm_series(p, states, integrate(p, v0.to(f64), grid, 1e-10, 1e-12))
    for row, t in zip(rows[4:], (1.0, 2.5)):
        k = grid.index(t)
        assert row["bound"] == pytest.approx(float(np.sqrt((b[k] ** 2).mean())), rel=1e-12)
        assert row["observed"] == pytest.approx(t + 0.5, rel=1e-9)
        assert {key: row[key] for key in ("violating_particles", "intervals", "lognorm_max", "lognorm_mean")} == {
            "violating_particles": int((b[k] < e[k] * (1 - LOGNORM_RTOL)).sum()), "intervals": 4,
            "lognorm_max": pytest.approx(float(lognorm[:k + 1].max()), rel=1e-12),
            "lognorm_mean": pytest.approx(float(lognorm[:k + 1].mean()), rel=1e-12)}


class _Dilation:
    """A stub map Phi(v, t) = (1 + t/10) v (det stated by `det(t)`), residual stubbed."""

    def __init__(self, det=lambda t: 1.0):
        self.det = det

    def path(self):
        def states(v, times):
            return [FlowState(t, (1 + t / 10) * v.to(f64), v.to(f64) / 10, -v.to(f64),
                              torch.full((v.shape[0],), self.det(t), dtype=f64)) for t in times]

        return FlowPath("dilation", states, lambda v, times: [(1 + t / 10) * v.to(f64) for t in sorted(times)])


class _Judged:
    """A stand-in reference: sample_at(t, m, seed) = (1 + t/20) N(0, I) draws from `seed`, or with `problem` its f0
    draws dilated by (1 + t/10) (the law of _Dilation's push-forward); records its calls."""

    def __init__(self, problem=None):
        self.calls, self.problem = [], problem

    def sample_at(self, t, m, seed):
        self.calls.append((t, m, seed))
        if self.problem is not None:
            return (1 + t / 10) * self.problem.sample(m, seed).to(f64)
        return (1 + t / 20) * torch.randn(m, 3, generator=torch.Generator().manual_seed(seed), dtype=f64)


def test_certify_flow_observed_w2_against_a_reference(monkeypatch):
    """gaussian_mixture3d (no exact solution): observed = sqrt(max(raw^2 - floor^2, 0)) with raw = W2(pushed fresh f0
    samples, reference draw 2i), floor = W2(draw 2i + 1, draw 2i), from the streams AP_FRESH (0) and AP_REFERENCE."""
    _residual_by_call(monkeypatch, scale=0.0)
    p = get_problem("gaussian_mixture3d").replace(snapshot_times=(2.5, 15.0))
    judged = _Judged()
    v0 = p.sample(12, 1)
    rows = certify_flow(_Dilation().path(), p, judged, v0, 2, intervals=2, m_obs=30, m_moments=100)
    ref_seed = seeds.AP_REFERENCE.seed
    assert judged.calls == [(2.5, 30, ref_seed(2, 0)), (2.5, 30, ref_seed(2, 1)), (2.5, 100, ref_seed(2, 50)),
                            (2.5, 100, ref_seed(2, 51)), (15.0, 30, ref_seed(2, 2)), (15.0, 30, ref_seed(2, 3)),
                            (15.0, 100, ref_seed(2, 52)), (15.0, 100, ref_seed(2, 53))]
    big = p.sample(100, seeds.AP_FRESH.seed(2, 1))
    fresh = p.sample(30, seeds.AP_FRESH.seed(2))
    assert [r["certificate"] for r in rows] == ["w2_residual:proved"] * 2
    for i, (row, t) in enumerate(zip(rows, (2.5, 15.0))):
        ref = judged.sample_at(t, 30, seeds.AP_REFERENCE.seed(2, 2 * i))
        ref2 = judged.sample_at(t, 30, seeds.AP_REFERENCE.seed(2, 2 * i + 1))
        raw, floor = emd_w2((1 + t / 10) * fresh, ref), emd_w2(ref2, ref)
        c = row
        assert c["observed_emd"] == pytest.approx(raw, rel=1e-12) and c["floor_emd"] == pytest.approx(floor, rel=1e-12)
        assert c["m_obs"] == 30 and row["bound"] == pytest.approx(0.0, abs=1e-15)
        assert row["observed"] == pytest.approx(math.sqrt(max(raw * raw - floor * floor, 0.0)), rel=1e-12)
        assert row["observed"] > 0
        # the radial lower bound: the pushed f0 samples' radii against the reference's (draws 50 + 2i, 51 + 2i)
        big_ref = judged.sample_at(t, 100, ref_seed(2, 50 + 2 * i))
        radial = float(((torch.sort(((1 + t / 10) * big).norm(dim=1))[0] - torch.sort(big_ref.norm(dim=1))[0]) ** 2
                        ).mean().sqrt())
        floor2 = float(((torch.sort(judged.sample_at(t, 100, ref_seed(2, 51 + 2 * i)).norm(dim=1))[0]
                         - torch.sort(big_ref.norm(dim=1))[0]) ** 2).mean().sqrt())
        assert c["radial"] == pytest.approx(radial, rel=1e-12) and c["radial_floor"] == pytest.approx(floor2, rel=1e-12)
        assert c["radial_lower"] == pytest.approx(max(radial - 2 * floor2, 0.0), abs=1e-15)
        assert c["observed_lower"] == pytest.approx(max(c["radial_lower"], c["gelbrich"] - 2 * c["gelbrich_floor"]))
    # the reference has the pushed law: raw and floor are two estimates of the same sampling floor, debiased to
    # sqrt(max(raw^2 - floor^2, 0)) < 1
    same = certify_flow(_Dilation().path(), p, _Judged(p), v0, 2, intervals=2, m_obs=30, m_moments=100)
    for row in same:
        want = math.sqrt(max(row["observed_emd"] ** 2 - row["floor_emd"] ** 2, 0.0))
        assert row["observed"] == pytest.approx(want, rel=1e-12, abs=1e-15) and row["observed"] < 0.9


def test_certify_flow_without_a_reference_and_for_coulomb(monkeypatch):
    """judged None: observed NaN and no W2 constants; anisotropic2d (gamma = -3): conditional, no Gelbrich bound,
    lower bound 0, so holds for any bound."""
    _residual_by_call(monkeypatch)
    p = get_problem("anisotropic2d").replace(snapshot_times=(10.0,))
    rows = certify_flow(_Dilation().path(), p, None, p.sample(9, 1), 0, intervals=2, m_moments=50)
    assert len(rows) == 1 and rows[0]["certificate"] == "w2_residual:conditional"
    assert math.isnan(rows[0]["observed"]) and rows[0]["holds"]
    assert set(rows[0]) == {"t", "certificate", "bound", "observed", "ratio", "holds", "log10_bound", "on_snapshot",
                            "mc_se", "w2_initial", "residual_integral", "quad_err", "intervals", "observed_lower"}
    assert rows[0]["observed_lower"] == 0.0
    # w2_initial: (mean |Phi(v, t0) - v|^2)^(1/2) = 0 for this map; bound = the trapezoid of 0.2 k^2 on (0, 5, 10)
    assert rows[0]["w2_initial"] == 0.0 and rows[0]["bound"] == pytest.approx(2.5 * 0.2 + 2.5 * 1.0)
    # no lower bound for Coulomb: a bound of 0 (+ 3 s.e. of 0.15) holds
    monkeypatch.setattr(ap, "residual_norm", lambda *a: (0.0, 0.01))
    rows = certify_flow(_Dilation().path(), p, None, p.sample(9, 1), 0, intervals=2, m_moments=50)
    assert rows[0]["bound"] == 0.0 and rows[0]["mc_se"] == pytest.approx(0.1) and rows[0]["holds"]


def test_a_coulomb_row_can_fail_through_the_radial_lower_bound(monkeypatch):
    """anisotropic2d (gamma = -3, no Gelbrich bound) against a reference twice as wide as the pushed law: the radial
    lower bound (about (E|v|^2)^{1/2} there) exceeds a stubbed bound of 0 + 3 s.e.: holds is False."""
    monkeypatch.setattr(ap, "residual_norm", lambda *a: (0.0, 0.001))
    p = get_problem("anisotropic2d").replace(snapshot_times=(10.0,))

    class Wide:
        @staticmethod
        def sample_at(t, m, seed):
            return 2 * (1 + t / 10) * p.sample(m, seed).to(f64)

    rows = certify_flow(_Dilation().path(), p, Wide, p.sample(9, 1), 0, intervals=2, m_obs=40, m_moments=400)
    row = rows[0]
    assert "gelbrich" not in row and row["observed_lower"] == row["radial_lower"] > 0.5
    assert row["bound"] == 0.0 and not row["holds"]


def test_certify_flow_w2_initial_is_the_root_mean_square_offset(monkeypatch):
    """A map with Phi(v, t0) = v + (3, 4) on every particle: w2_initial = 5."""
    _residual_by_call(monkeypatch, scale=0.0)
    p = get_problem("anisotropic2d").replace(snapshot_times=(10.0,))
    shift = torch.tensor([3.0, 4.0], dtype=f64)
    states = lambda v, times: [FlowState(t, v.to(f64) + shift, v, v, torch.ones(v.shape[0], dtype=f64)) for t in times]
    path = FlowPath("offset", states, lambda v, times: [v.to(f64) + shift for _ in times])
    rows = certify_flow(path, p, None, p.sample(7, 1), 0, intervals=2, m_moments=20)
    assert rows[0]["w2_initial"] == pytest.approx(5.0, rel=1e-14) and rows[0]["bound"] == \
        pytest.approx(5.0, rel=1e-14)


def test_certify_flow_marks_the_fold_from_the_first_time_det_reaches_zero(monkeypatch):
    """det J = 1 - 2t: 0 at t = 1/2 (a grid node): the rows at 1/2 and 1 are not a transport (NaN bound), the row at
    1/4 is; the KL row only where the map is a transport; the log-norm rows at every snapshot."""
    _residual_by_call(monkeypatch)
    p = get_problem("bkw2d").replace(snapshot_times=(0.25, 0.5, 1.0))
    rows = certify_flow(_Dilation(lambda t: 1 - 2 * t).path(), p, None, p.sample(10, 1), 0, intervals=4,
                        m_moments=40)
    assert [(r["t"], r["certificate"]) for r in rows] == [
        (0.25, "w2_residual:proved"), (0.5, "w2_residual:not_a_transport"), (1.0, "w2_residual:not_a_transport"),
        (0.25, "kl_identity"), (0.25, "lognorm_trajectory"), (0.5, "lognorm_trajectory"), (1.0, "lognorm_trajectory")]
    assert all(math.isnan(r["bound"]) and r["holds"] for r in rows[1:3]) and rows[0]["bound"] > 0


def test_certify_flow_without_snapshots_after_t0():
    p = get_problem("bkw2d").replace(snapshot_times=(0.0,))
    assert certify_flow(_Dilation().path(), p, None, p.sample(5, 1), 0) == []


def test_certify_flow_row_arithmetic_with_stubbed_series(monkeypatch):
    """Every series stubbed with chosen numbers (bkw2d, snapshots 1 and 2 on the grid (0, 1, 2)): the W2 rows hold at
    a tie bound + 3 (mc_se + quad_err) = lower and fail below it; the KL rows hold at |rhs - direct| = 3 se +
    quad_err and fail past it; the log-norm rows count the particles with b < e (1 - 1e-3) (one of 0.9995, 0.99 and
    0.999 itself against e = 1; none of 1.2, 1 and 1.5) and take the log-norm's max and mean up to the snapshot."""
    import problems.cases.characteristics as ch
    monkeypatch.setattr(ch, "integrate_characteristics", lambda p, v, times, rtol, atol: [v.clone() for _ in times])
    residuals = iter([(0.0, 0.125), (0.75, 0.125), (0.75, 0.125)])  # the grid (0, 1, 2) in order
    monkeypatch.setattr(ap, "residual_norm", lambda *a: next(residuals))
    gels = iter([0.25, 1.375, 2.75])  # the f0 floor first, then one Gelbrich bound per snapshot
    monkeypatch.setattr(ap, "gelbrich_w2", lambda *a: next(gels))
    kl = {"rhs": np.array([0.0, 1.0, 1.0]), "direct": np.array([0.0, 0.5, 0.4]), "se": np.array([0.0, 0.125, 0.125]),
          "quad_err": np.array([0.0, 0.125, 0.125])}
    monkeypatch.setattr(ap, "kl_series", lambda *a: kl)
    b = np.array([[0.0, 0.0, 0.0, 0.0], [1.0, 0.9995, 0.99, 1 - 1e-3], [1.2, 1.0, 1.5, 1.0]])
    e = np.array([[0.0, 0.0, 0.0, 0.0], [1.0, 1.0, 1.0, 1.0], [1.0, 1.0, 1.0, 1.0]])
    lognorm = np.array([[0.5, -1.0, 0.0, 0.0], [0.25, 0.0, 0.0, 0.0], [3.0, 0.0, 0.0, 0.0]])
    monkeypatch.setattr(ap, "lognorm_series", lambda *a: (b, e, lognorm))
    p = get_problem("bkw2d").replace(snapshot_times=(1.0, 2.0))
    rows = certify_flow(_Dilation().path(), p, p, p.sample(3, 1), 0, intervals=2, m_moments=10)
    w2, kls, logs = rows[:2], rows[2:4], rows[4:]
    # bound (.375, 1.125), quad_err (0, |1.125 - .75| / 3): at t = 1 .375 + 3 (.125 + 0) = .75 < .875 fails, at t = 2
    # 1.125 + 3 (.25 + .125) = 2.25 = lower holds (the tie)
    assert [r["bound"] for r in w2] == [0.375, 1.125] and [r["mc_se"] for r in w2] == [0.125, 0.25]
    assert [r["quad_err"] for r in w2] == [0.0, 0.125] and [r["observed_lower"] for r in w2] == [0.875, 2.25]
    assert [r["gelbrich"] for r in w2] == [1.375, 2.75] and w2[0]["gelbrich_floor"] == 0.25
    assert [r["holds"] for r in w2] == [False, True]
    assert [(r["bound"], r["observed"], r["mc_se"], r["quad_err"]) for r in kls] == [(1.0, 0.5, 0.125, 0.125),
                                                                                   (1.0, 0.4, 0.125, 0.125)]
    assert [r["holds"] for r in kls] == [True, False]
    assert [r["violating_particles"] for r in logs] == [1, 0]
    assert [r["bound"] for r in logs] == pytest.approx([math.sqrt((1 + 0.9995 ** 2 + 0.99 ** 2 + 0.999 ** 2) / 4),
                                                        math.sqrt((1.44 + 1 + 2.25 + 1) / 4)], rel=1e-14)
    assert [r["observed"] for r in logs] == [1.0, 1.0]
    assert [r["lognorm_max"] for r in logs] == [0.5, 3.0]
    assert [r["lognorm_mean"] for r in logs] == pytest.approx([-0.25 / 8, 2.75 / 12], rel=1e-14)


def test_certify_flow_defaults_are_the_documented_sizes(monkeypatch):
    """The harness calls certify_flow with its defaults: docs/certificates.md states 32 intervals, 1,000 pushed and
    1,000 reference points for the EMD and 10,000 fresh f0 samples for the moments (gaussian_mixture3d: no exact
    solution, gamma = 0)."""
    _residual_by_call(monkeypatch, scale=0.0)
    pushes = []
    dil = _Dilation().path()

    def push(v, times):
        pushes.append((v.shape[0], list(times)))
        return dil.push(v, times)

    path = FlowPath("dilation", dil.states, push)
    p = get_problem("gaussian_mixture3d").replace(snapshot_times=(2.5,))
    judged = _Judged()
    rows = certify_flow(path, p, judged, p.sample(16, 1), 0)
    assert pushes == [(10_000, [2.5]), (1_000, [2.5])]
    assert [c[1] for c in judged.calls] == [1_000, 1_000, 10_000, 10_000]  # EMD pair, radial lower bound pair
    assert rows[0]["intervals"] == 32 and rows[0]["m_obs"] == 1_000
