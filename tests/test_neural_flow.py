"""neural_flow: the RK4 characteristics of a velocity field (solvers.characteristics_rk4) against closed forms, and the
trained solver's contract (positive det J, carried density and score, checkpoints).

float64 throughout where the maths is verified; the velocity fields are hand-set callables, not trained nets."""
from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from problems import get_problem
from solvers import get_solver
from solvers.characteristics_rk4 import Carried, carry, time_nodes
from solvers.neural_flow_training import slabs_of, start_state

D64 = torch.float64


def _linear_field(b0: torch.Tensor, b1: torch.Tensor):
    """u(t, v) = B(t) v with B(t) = b0 + t b1 (d, d): (u, D) with D[i, k, j] = d u_j / d v_k = B[j, k]."""
    def field(x, t):
        b = b0 + t * b1
        return x @ b.T, b.T.expand(x.shape[0], *b.shape)
    return field


def _gaussian_state(x: torch.Tensor, cov: torch.Tensor) -> Carried:
    """Carried state of N(0, cov) at x (N, d): log density, score -cov^-1 x, log det 0."""
    d = x.shape[1]
    prec = torch.linalg.inv(cov)
    log_f = -0.5 * ((x @ prec) * x).sum(-1) - 0.5 * torch.logdet(cov) - d / 2 * math.log(2 * math.pi)
    return Carried(x, log_f, -(x @ prec), torch.zeros(x.shape[0], dtype=D64))


def _fundamental(b0, b1, t_end, steps=1000):
    """The flow matrix M(t) of dM/dt = B(t) M, M(0) = I, by RK4 with many steps (float64), for the closed form."""
    m = torch.eye(b0.shape[0], dtype=D64)
    h = t_end / steps
    for k in range(steps):
        t = k * h
        f = lambda tt, mm: (b0 + tt * b1) @ mm
        k1 = f(t, m); k2 = f(t + h / 2, m + h / 2 * k1); k3 = f(t + h / 2, m + h / 2 * k2); k4 = f(t + h, m + h * k3)
        m = m + h / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
    return m


@settings(max_examples=8, deadline=None)
@given(st.integers(2, 3), st.integers(0, 10_000))
def test_linear_velocity_carries_the_gaussian_closed_form(d, seed):
    """u = B(t) v moves N(0, S0) to N(0, M S0 M^T) with M the flow matrix: the carried log f, score and log det J equal
    the Gaussian's log density, -(M S0 M^T)^-1 x and log det M at the carried points, to 1e-8 (float64)."""
    g = torch.Generator().manual_seed(seed)
    b0 = 0.4 * torch.randn(d, d, generator=g, dtype=D64)
    b1 = 0.2 * torch.randn(d, d, generator=g, dtype=D64)
    a = torch.randn(d, d, generator=g, dtype=D64)
    cov0 = a @ a.T + 0.5 * torch.eye(d, dtype=D64)
    x0 = torch.randn(50, d, generator=g, dtype=D64) @ torch.linalg.cholesky(cov0).T
    t_end = 1.0
    out = carry(_linear_field(b0, b1), _gaussian_state(x0, cov0), time_nodes(0.0, [t_end], 0.01))[-1]
    m = _fundamental(b0, b1, t_end)
    exact = _gaussian_state(x0 @ m.T, m @ cov0 @ m.T)
    assert torch.allclose(out.x, exact.x, atol=1e-8, rtol=0)
    assert torch.allclose(out.log_f, exact.log_f, atol=1e-8, rtol=0)
    assert torch.allclose(out.score, exact.score, atol=1e-8, rtol=0)
    assert torch.allclose(out.log_det, torch.full_like(out.log_det, float(torch.logdet(m))), atol=1e-8, rtol=0)


def test_divergence_free_rotation_keeps_det_one_and_log_f():
    """u = w(t) J v with J the rotation generator (div u = 0): det J stays 1 and log f constant along every trajectory,
    the points turn by int w and the score turns with them (to 1e-10)."""
    rot = torch.tensor([[0.0, -1.0], [1.0, 0.0]], dtype=D64)

    def field(x, t):
        w = 1.0 + 0.5 * math.sin(t)
        b = w * rot
        return x @ b.T, b.T.expand(x.shape[0], 2, 2)

    x0 = torch.randn(40, 2, generator=torch.Generator().manual_seed(4), dtype=D64)
    cov0 = torch.tensor([[2.0, 0.3], [0.3, 0.5]], dtype=D64)
    start = _gaussian_state(x0, cov0)
    out = carry(field, start, time_nodes(0.0, [2.0], 0.01))[-1]
    assert torch.allclose(out.log_det, torch.zeros_like(out.log_det), atol=1e-12)
    assert torch.allclose(out.log_f, start.log_f, atol=1e-12)
    angle = 2.0 + 0.5 * (1 - math.cos(2.0))
    c, s = math.cos(angle), math.sin(angle)
    r = torch.tensor([[c, -s], [s, c]], dtype=D64)
    assert torch.allclose(out.x, x0 @ r.T, atol=1e-10)
    assert torch.allclose(out.score, start.score @ r.T, atol=1e-10)


def _nonlinear_field(x, t):
    """A nonlinear bounded field (tanh of an affine map plus a sine): (u, D) with D by autograd (create_graph)."""
    w = torch.tensor([[0.7, -0.4], [0.3, 0.5]], dtype=D64)
    u = torch.tanh(x @ w.T + 0.3 * t) + 0.3 * torch.sin(x.flip(-1)) * torch.tensor([1.0, -0.5], dtype=D64)
    d = torch.stack([torch.autograd.grad(u[:, j].sum(), x, create_graph=True)[0] for j in range(2)], dim=-1)
    return u, d


def test_carried_score_is_the_gradient_of_the_carried_log_density():
    """For a nonlinear field the carried score at X_t(v) equals grad_x log f_t(x) = J^-T grad_v (log f_t(X_t(v))),
    the latter by central differences in v of the carried log f and positions (h = 1e-5), to 1e-6."""
    v = torch.randn(12, 2, generator=torch.Generator().manual_seed(7), dtype=D64)
    cov0 = torch.eye(2, dtype=D64)
    nodes = time_nodes(0.0, [1.0], 0.02)
    end = lambda pts: carry(_nonlinear_field, _gaussian_state(pts, cov0), nodes)[-1]
    base = end(v)
    h = 1e-5
    grad_v_logf, jac = [], []
    for b in range(2):
        e = torch.zeros_like(v)
        e[:, b] = h
        plus, minus = end(v + e), end(v - e)
        grad_v_logf.append((plus.log_f - minus.log_f) / (2 * h))
        jac.append((plus.x - minus.x) / (2 * h))  # column b of J = dX / dv_b
    g = torch.stack(grad_v_logf, dim=-1)  # (N, d)
    j = torch.stack(jac, dim=-1)  # (N, d, d): J[i, a, b] = dX_a / dv_b
    score_fd = torch.linalg.solve(j.transpose(-1, -2), g.unsqueeze(-1)).squeeze(-1)
    assert torch.allclose(base.score, score_fd, atol=1e-6, rtol=0)
    assert torch.allclose(base.log_det, torch.logdet(j), atol=1e-6)


def test_time_nodes_pass_through_every_snapshot_and_grade_towards_t0():
    """The nodes hold t0 and every stop exactly, steps at most max_dt, and with grade 2 the first step is shorter."""
    nodes = time_nodes(0.0, (1.0, 2.5, 5.0), 0.3)
    assert nodes[0] == 0.0 and {1.0, 2.5, 5.0} <= set(nodes) and nodes[-1] == 5.0
    assert max(b - a for a, b in zip(nodes, nodes[1:])) <= 0.3 + 1e-12
    graded = time_nodes(0.0, (5.0,), 0.5, grade=2.0)
    assert graded[1] - graded[0] == pytest.approx(5.0 / 100)
    assert [s[0] for s in slabs_of(nodes, 2)][1:] == [s[-1] for s in slabs_of(nodes, 2)][:-1]


def test_truncated2d_mollified_start_is_normalised_and_its_score_is_its_gradient():
    """Truncated.mollified_start(eps): exp(log f0_eps) integrates to 1 (grid, 1e-4) and the closed-form score equals
    autograd's gradient of log f0_eps (1e-10); f0_eps -> f0 off the jump as eps -> 0."""
    p = get_problem("truncated2d")
    m = p.mollified_start(0.05)
    axis = torch.linspace(-6, 6, 601, dtype=D64)
    grid = torch.stack(torch.meshgrid(axis, axis, indexing="ij"), dim=-1).reshape(-1, 2)
    assert float(m.log_density(grid).exp().sum()) * float(axis[1] - axis[0]) ** 2 == pytest.approx(1.0, abs=1e-4)
    v = torch.tensor([[1.02, 0.1], [0.3, -0.9], [2.0, 1.0]], dtype=D64, requires_grad=True)
    auto = torch.autograd.grad(m.log_density(v).sum(), v)[0]
    assert torch.allclose(m.score(v), auto, atol=1e-10)
    far = torch.tensor([[2.0, 0.5]], dtype=D64)
    assert float(p.mollified_start(0.01).log_density(far).exp()) == pytest.approx(float(p.initial_density(far)),
                                                                                   rel=1e-6)
    assert get_problem("bkw2d").mollified_start(0.1) is None


def test_start_state_uses_the_mollified_score_only_where_declared():
    """start_state: bkw2d's own f0 (any eps), truncated2d's mollified score for eps > 0 and -v for eps = 0."""
    v = torch.tensor([[1.01, 0.0]], dtype=D64)
    p = get_problem("truncated2d")
    assert torch.allclose(start_state(p, v, 0.0).score, -v)
    assert float(start_state(p, v, 0.1).score[0, 0]) > 3.0  # the outward jump term (1 - sigmoid) / eps
    b = get_problem("bkw2d")
    assert torch.allclose(start_state(b, v, 0.1).score, b.initial_score(v))


def test_neural_flow_records_a_positive_det_j_and_its_carried_density(tmp_path):
    """The smoke solver on bkw2d: det J > 0 at every snapshot (exp of the carried log det), densities positive and
    finite, scores of the particles' shape; a second solve with the same workdir loads the checkpoints (trained_here 0)
    and returns the same particles bit for bit."""
    p = get_problem("bkw2d")
    cls = get_solver("neural_flow")
    cfg = cls.profile_config("smoke", p, iters=2, inner=2, n=32, n_eval=50, n_density=100, dt=1.25)
    first = cls(cfg).run(p, seed=0, workdir=str(tmp_path))
    assert first.info["trained_here"] == 1 and first.score_is_own is True  # the carried score: its own density's
    for x, s, det, dens in zip(first.particles, first.scores, first.det_j, first.densities):
        assert bool((det > 0).all()) and bool(torch.isfinite(dens).all()) and bool((dens > 0).all())
        assert s.shape == x.shape
    from solvers import neural_flow_training
    neural_flow_training._MEMO.clear()
    again = cls(cfg).run(p, seed=0, workdir=str(tmp_path))
    assert again.info["trained_here"] == 0
    assert all(torch.equal(a, b) for a, b in zip(first.particles, again.particles))


@pytest.mark.slow
def test_trained_neural_flow_on_bkw2d_smoke_is_within_twice_the_w1_floor():
    """bkw2d, smoke profile, seed 0: W1 of the carried particles to exact samples at T at most 2x the W1 floor (two
    exact samples of the same size)."""
    from metrics.wasserstein import w1, w1_mc_floor
    p = get_problem("bkw2d")
    cls = get_solver("neural_flow")
    traj = cls(cls.profile_config("smoke", p)).run(p, seed=0)
    x = traj.particles[-1]
    assert w1(x, p.sample_at(p.T, x.shape[0], 30_000)) <= 2 * w1_mc_floor(p, p.T, x.shape[0])
