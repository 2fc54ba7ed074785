"""The W2 residual bound of a map of an f0 with a jump, through f0's mollification (certificates.a_posteriori.
mollified_w2_bound), its coupling map (Problem.mollified_start(eps).from_f0), the radial lower bound of the observed
W2 (radial_w2) and the neural_flow path (certificates.flow_path.carried_path)."""
import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st
from scipy import integrate

from certificates.a_posteriori import (MOLLIFY_WIDTHS, certify_flow, coupling_cost, holds_against, mollified_w2_bound,
                                       radial_w2, time_grid, w2_residual_series)
from certificates.flow_path import carried_path, network_path
from problems import get_problem

f64 = torch.float64


class _Identity(torch.nn.Module):
    def forward(self, v, t):
        return v + 0 * t


def _mollified_cdf(r, eta, eps):
    """G(r) of f0_eps's radius by adaptive quadrature (independent of the tabulated one)."""
    dens = lambda x: x * math.exp(-x * x / 2) / (1 + math.exp(-(x - eta) / eps))  # noqa: E731
    z = integrate.quad(dens, 0, 60, limit=400, epsabs=0, epsrel=1e-12)[0]
    return integrate.quad(dens, 0, r, limit=400, epsabs=0, epsrel=1e-12)[0] / z


@settings(max_examples=12, deadline=None)
@given(u=st.floats(1e-4, 1 - 1e-4), eps=st.sampled_from([0.025, 0.05, 0.2]))
def test_from_f0_sends_the_quantile_of_f0_to_the_same_quantile_of_f0_eps(u, eps):
    """For v at f0's radial quantile u (F(r) = 1 - exp(-(r^2 - eta^2)/2)), T(v) sits at f0_eps's quantile u (to the
    table's 1e-6), in the same direction: T#f0 = f0_eps."""
    p = get_problem("truncated2d")
    r = math.sqrt(p.eta**2 - 2 * math.log1p(-u))
    v = torch.tensor([[0.6 * r, -0.8 * r]], dtype=f64)
    w = p.mollified_start(eps).from_f0(v)
    rw = float(w.norm())
    assert _mollified_cdf(rw, p.eta, eps) == pytest.approx(u, abs=2e-6)
    assert torch.allclose(w / rw, v / r, atol=1e-14)


def test_from_f0_moves_a_sample_to_the_mollified_law():
    """20,000 samples of f0 mapped by T: the mass inside the hole |v| < eta is f0_eps's, G(eta) (0 for f0), within
    4 binomial s.e.; the coupling cost is small (< eps) and grows with eps."""
    p = get_problem("truncated2d")
    v = p.sample(20_000, 7)
    costs = []
    for eps in (0.05, 0.2):
        w = p.mollified_start(eps).from_f0(v)
        inside, g = float((w.norm(dim=1) < p.eta).double().mean()), _mollified_cdf(p.eta, p.eta, eps)
        assert abs(inside - g) < 4 * math.sqrt(g * (1 - g) / 20_000) and g > 0.01
        costs.append(coupling_cost(v, w)[0])
    assert 0 < costs[0] < 0.05 < costs[1] < 0.2


def test_coupling_cost_and_radial_w2_by_hand():
    x = torch.tensor([[0.0, 0.0], [3.0, 4.0]], dtype=f64)
    y = torch.tensor([[0.0, 1.0], [0.0, 0.0]], dtype=f64)
    c, se = coupling_cost(x, y)
    assert c == pytest.approx(math.sqrt((1 + 25) / 2), rel=1e-14)
    assert se == pytest.approx(float(torch.tensor([1.0, 25.0], dtype=f64).std()) / (2 * c * math.sqrt(2)), rel=1e-14)
    # radii (0, 5) against (1, 0): sorted (0, 5) vs (0, 1): sqrt((0 + 16) / 2)
    assert radial_w2(x, y) == pytest.approx(math.sqrt(8.0), rel=1e-14)


def test_the_identity_map_of_truncated2d_by_hand():
    """Phi = id: mu^eps_t = f0_eps, u = 0, so the bound is map_gap + start_gap + int ||U[f0_eps]|| = 2 c_eps + t R_eps
    with c_eps = (E|v - T v|^2)^{1/2} and R_eps the residual of the unmoved f0_eps (w2_residual_series on its
    states); minimised over the widths, each width's terms as written."""
    p = get_problem("truncated2d")
    path = network_path(_Identity(), p.initial_score, torch.device("cpu"), f64, problem=p)
    v0, big = p.sample(300, 3), p.sample(2_000, 4)
    grid = time_grid(p.t0, 2.5, [1.0, 2.5], 4)
    rows = mollified_w2_bound(path, p, v0, big, grid, [1.0, 2.5], widths=(0.05, 0.2))
    for t, row in zip([1.0, 2.5], rows):
        eps = row["eps"]
        start = p.mollified_start(eps)
        c = coupling_cost(big, start.from_f0(big))[0]
        states = path.with_start(eps).states(start.from_f0(v0), grid)
        bound = w2_residual_series(states, p.gamma, p.C, 0.0)[0][grid.index(t)]
        assert row["map_gap"] == pytest.approx(c, rel=1e-12) and row["start_gap"] == pytest.approx(c, rel=1e-12)
        assert row["bound"] == pytest.approx(2 * c + bound, rel=1e-12) and row["w2_initial"] == 0.0
        other = [e for e in (0.05, 0.2) if e != eps][0]
        alt = mollified_w2_bound(path, p, v0, big, grid, [t], widths=(other,))[0]
        assert row["bound"] <= alt["bound"]


def test_truncated2d_rows_are_proved_through_the_mollification():
    """certify_flow of a map of truncated2d: w2_residual:proved with the mollified terms beside it (not the plain
    bound, whose residual misses the jump's singular flux), and an observed lower bound from the radii."""
    p = get_problem("truncated2d").replace(snapshot_times=(1.0,))

    class Scaled:  # a stand-in reference: f_t = the law of 1.2 v, v ~ f0 (radial W2 to f0: 0.2 (E|v|^2)^{1/2})
        @staticmethod
        def sample_at(t, m, seed):
            return 1.2 * p.sample(m, seed)

    path = network_path(_Identity(), p.initial_score, torch.device("cpu"), f64, problem=p)
    rows = certify_flow(path, p, Scaled, p.sample(200, 1), 0, intervals=4, m_obs=300, m_moments=4_000)
    row = [r for r in rows if r["certificate"].startswith("w2_residual")][0]
    assert row["certificate"] == "w2_residual:proved" and row["mollified_eps"] in MOLLIFY_WIDTHS
    assert row["bound"] > row["mollified_map_gap"] + row["mollified_start_gap"] > 0
    exact = 0.2 * math.sqrt(p.eta**2 + 2)
    assert row["radial"] == pytest.approx(exact, rel=0.05) and 0 < row["radial_floor"] < 0.03
    assert row["observed_lower"] == row["radial_lower"] == pytest.approx(row["radial"] - 2 * row["radial_floor"])
    assert row["holds"] == (row["bound"] + 3 * (row["mc_se"] + row["quad_err"]) >= row["observed_lower"])


def _smoke_flow(problem):
    from solvers.neural_flow import NeuralFlow
    from solvers.neural_flow_training import train_neural_flow
    cfg = NeuralFlow.Config(**{**NeuralFlow._profile("smoke", problem).__dict__})
    return cfg, train_neural_flow(problem, cfg, 0, torch.device("cpu"))


def test_carried_path_is_the_solvers_flow():
    """carried_path of a trained neural_flow (smoke, bkw2d): its grid lists every slab's nodes (a boundary twice),
    det > 0, u = the slab's network at x, and the positions at the snapshots are the solver's read-out to 1e-12;
    a grid of its own only."""
    from solvers.neural_flow import NeuralFlow
    p = get_problem("bkw2d")
    cfg, trained = _smoke_flow(p)
    path = carried_path(trained, p)
    assert path.grid == [t for slab in trained.slabs for t in slab] and len(path.grid) > len(set(path.grid))
    assert path.start_eps == 0.0 and path.with_start is None  # bkw2d declares no mollified start
    traj = NeuralFlow(cfg).solve(p, seed=0)
    from certificates.flow_path import flow_path_of
    found = flow_path_of(traj, p, cfg, 0, None)  # the cell's map: the same flow, reloaded from the in-process memo
    assert found.source == path.source and found.grid == path.grid
    states = path.states(traj.initial, path.grid)
    for t, x in zip(traj.times, traj.particles):
        assert torch.allclose(states[path.grid.index(t)].x, x, rtol=0, atol=1e-12)
    velocities = trained.slab_velocities(f64)
    k = len(trained.slabs[0])  # the first node of slab 2, listed after slab 1's end
    assert torch.equal(states[k].u, velocities[1](states[k].x, path.grid[k]))
    # the affine correction (the default) keeps the ensemble's momentum: the velocities sum to 0
    assert trained.conserve == "affine" and float(states[k].u.sum(0).abs().max()) < 1e-12
    assert all(bool((s.det > 0).all()) for s in states)
    pushed = path.push(traj.initial, [traj.times[-1]])[0]
    assert torch.allclose(pushed, traj.particles[-1], rtol=0, atol=1e-10)
    with pytest.raises(ValueError, match="own RK4 nodes"):
        path.states(traj.initial, sorted(set(path.grid)))
    # certified on its own grid: every row counts its intervals (a repeated node is a zero-width one)
    rows = certify_flow(path, p, p, traj.initial[:200], 0, m_obs=100, m_moments=300)
    w2 = [r for r in rows if r["certificate"].startswith("w2_residual")]
    assert [r["certificate"] for r in w2] == ["w2_residual:proved"] * len(p.snapshot_times)
    assert all(r["intervals"] == len(path.grid) - 1 and 0 < r["bound"] < 1 for r in w2)


class _Shift(torch.nn.Module):
    """Phi(v, t) = v + (0.3 + 0.1 t, 0): u = (0.1, 0), J = I, W2(mu_0^eps, f0_eps) = 0.3 exactly at t0 = 0 (and more
    at any later node)."""

    def forward(self, v, t):
        return v + torch.stack([0.3 + 0.1 * t.reshape(()), 0 * t.reshape(())]).to(v.dtype)


def test_every_term_of_the_mollified_bound_of_a_shifted_map():
    """Phi = v + c(t): w2_initial = |c(t0)| = 0.3 (Phi_0 moves every particle by it), map_gap = start_gap (a shift moves
    both couplings alike), residual_integral = bound - map_gap - start_gap - w2_initial is the residual series of the
    restarted path from 0, and mc_se adds the series' s.e. and the two couplings' s.e."""
    import dataclasses
    p = get_problem("truncated2d")
    path = network_path(_Shift(), p.initial_score, torch.device("cpu"), f64, problem=p)
    v0, big = p.sample(200, 5), p.sample(1_500, 6)
    grid = time_grid(p.t0, 1.0, [1.0], 2)
    row = mollified_w2_bound(path, p, v0, big, grid, [1.0], widths=(0.1,))[0]
    start = p.mollified_start(0.1)
    gap, gap_se = coupling_cost(big, start.from_f0(big))
    bound, se, _, _ = w2_residual_series(path.with_start(0.1).states(start.from_f0(v0), grid), p.gamma, p.C, 0.0)
    assert row["w2_initial"] == pytest.approx(0.3, rel=1e-12)
    assert row["map_gap"] == pytest.approx(gap, rel=1e-12) and row["start_gap"] == pytest.approx(gap, rel=1e-12)
    assert row["residual_integral"] == pytest.approx(bound[-1], rel=1e-12)
    assert row["bound"] == pytest.approx(2 * gap + 0.3 + bound[-1], rel=1e-12)
    assert row["mc_se"] == pytest.approx(se[-1] + 2 * gap_se, rel=1e-12) and gap_se > 0
    # a path whose score already starts from a mollification of width 0.05 is evaluated at that width only
    own = dataclasses.replace(path, start_eps=0.05)
    assert mollified_w2_bound(own, p, v0, big, grid, [1.0], widths=(0.1, 0.2))[0]["eps"] == 0.05


def test_coupling_cost_below_one_and_at_zero():
    """The s.e. divides by 2c: c < 1 and c = 0 (identical samples: 0, not NaN)."""
    x = torch.tensor([[0.0, 0.0], [0.1, 0.0], [0.0, 0.3]], dtype=f64)
    y = torch.zeros_like(x)
    c, se = coupling_cost(x, y)
    sq = torch.tensor([0.0, 0.01, 0.09], dtype=f64)
    assert c == pytest.approx(math.sqrt(0.1 / 3), rel=1e-14)
    assert se == pytest.approx(float(sq.std()) / (2 * c * math.sqrt(3)), rel=1e-12)
    assert coupling_cost(x, x) == (0.0, 0.0)


def test_a_map_that_cannot_restart_keeps_the_plain_bound_labelled_conditional():
    """truncated2d and a FlowPath without with_start (no mollified path to take): the plain residual bound, not a
    certificate ('conditional'), no mollified terms."""
    import dataclasses
    p = get_problem("truncated2d").replace(snapshot_times=(1.0,))
    path = dataclasses.replace(network_path(_Identity(), p.initial_score, torch.device("cpu"), f64, problem=p),
                               with_start=None)
    rows = certify_flow(path, p, None, p.sample(100, 1), 0, intervals=2, m_moments=300)
    assert [r["certificate"] for r in rows] == ["w2_residual:conditional"]
    assert not any(k.startswith("mollified_") for k in rows[0])


def test_holds_against_is_the_three_se_rule():
    """bound + 3 (mc_se + quad_err) >= lower, at the edge both ways (binary fractions: exact in float)."""
    assert holds_against(0.25, 0.0625, 0.0625, 0.625)
    assert not holds_against(0.25, 0.0625, 0.0625, 0.625 + 2**-40)
    assert holds_against(1.0, 0.0, 0.0, 1.0) and not holds_against(1.0, 0.0, 0.0, 1.0 + 2**-40)


def test_carried_path_of_truncated2d_restarts_from_other_widths():
    """neural_flow on truncated2d (smoke) carries its score from the mollified start of its own width: the path says
    so (start_eps) and can restart at another width, whose carried score at t0 is that width's."""
    p = get_problem("truncated2d")
    cfg, trained = _smoke_flow(p)
    path = carried_path(trained, p, cfg.mollify_eps)
    assert cfg.mollify_eps == 0.05 and path.start_eps == 0.05 and path.with_start is not None
    other = path.with_start(0.2)
    v = p.sample(50, 9)
    s0 = other.states(v, other.grid)[0].s
    assert other.start_eps == 0.2 and torch.allclose(s0, p.mollified_start(0.2).score(v), atol=1e-12)
