"""certificates.observed_rate by hand (issue 43, item 5): float64 values a mutant of the module changes.

The grid helpers on a hand-made OFF-CENTRE density (so the mean terms of the covariance and of its rate matter), the
grid reference's two branches on a tiny Richardson pair R(16, 32) (the operator at t0 and the SSP-RK3 difference over
[t0, 2 t1] agree to O(t1^2)), the radial reference's 1/3 energy rate with the operator stubbed, and the difference /
velocity rates against closed forms.
"""
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from certificates import observed_rate as obs
from problems import get_problem
from problems.references import grid, radial

F64 = torch.float64


def _stub_solver():
    """Cells centred at x in {0.5, 1.5, 3.0} and y in {-1.0, 2.0} (uneven on purpose), h = 0.5: only axes and h are read."""
    return SimpleNamespace(axes=[torch.tensor([0.5, 1.5, 3.0], dtype=F64), torch.tensor([-1.0, 2.0], dtype=F64)], h=0.5)


F = torch.tensor([[1.0, 2.0], [3.0, 0.5], [0.25, 4.0]], dtype=F64)  # (3, 2): mass (10.75) h^2, mean off the origin
FDOT = torch.tensor([[1.5, -1.0], [2.0, -0.75], [-2.5, 0.75]], dtype=F64)  # sums to 0: mass kept


def _points_and_weights(f):
    X, Y = np.meshgrid([0.5, 1.5, 3.0], [-1.0, 2.0], indexing="ij")
    return np.stack([X.ravel(), Y.ravel()]), f.numpy().ravel()


def test_grid_covariance_of_an_off_centre_density_is_the_weighted_covariance():
    """Against numpy's weighted population covariance; by hand: mass 10.75 (times h^2), mean x = (1 * 0.5 + 2 * 0.5 +
    3 * 1.5 + 0.5 * 1.5 + 0.25 * 3 + 4 * 3) / 10.75 = 19.5 / 10.75."""
    got = obs._grid_covariance(_stub_solver(), F)
    pts, w = _points_and_weights(F)
    want = np.cov(pts, aweights=w, bias=True)
    assert got.shape == (2, 2) and got.dtype == F64
    np.testing.assert_allclose(got.numpy(), want, rtol=0, atol=1e-14)
    mx = 19.5 / 10.75
    var_x = (3 * (0.5 - mx) ** 2 + 3.5 * (1.5 - mx) ** 2 + 4.25 * (3.0 - mx) ** 2) / 10.75
    assert float(got[0, 0]) == pytest.approx(var_x, rel=1e-14)


def test_grid_moment_rate_is_the_derivative_of_the_grid_covariance():
    """With sum fdot = 0 the covariance of f + e fdot is quadratic in e, so its central difference is exact: the rate
    sum v v^T fdot h^2 - (mu' mu^T + mu mu'^T) (here mu = (1.81, 0.81), mu' off 0 too: every term counts)."""
    s = _stub_solver()
    got = obs._grid_moment_rate(s, F, FDOT)
    e = 0.25
    want = (obs._grid_covariance(s, F + e * FDOT) - obs._grid_covariance(s, F - e * FDOT)) / (2 * e)
    assert got.shape == (2, 2)
    torch.testing.assert_close(got, want, rtol=0, atol=1e-13)
    pts, w = _points_and_weights(F)
    wd = FDOT.numpy().ravel()
    mu, mud = pts @ w / w.sum(), pts @ wd / w.sum()
    by_hand = (pts * wd) @ pts.T / w.sum() - np.outer(mud, mu) - np.outer(mu, mud)
    np.testing.assert_allclose(got.numpy(), by_hand, rtol=0, atol=1e-14)
    assert abs(mu).min() > 0.8 and abs(mud).min() > 0.25


@pytest.fixture
def tiny(monkeypatch):
    """A 'tiny' grid resolution: the Richardson pair R(16, 32) on [-8, 8]^2 (a fraction of a second)."""
    monkeypatch.setitem(grid.RESOLUTION, "tiny", {"cells": 16, "half_width": 8.0})
    return get_problem("anisotropic2d")


def _tiny_pair(p):
    s8, s16 = (grid.make_solver(p, m, 8.0) for m in (16, 32))
    f8, f16 = grid.initial_grid(p, s8), grid.initial_grid(p, s16)
    return s8, s16, f8, f16


def test_grid_reference_rate_at_t0_is_the_richardson_operator_rate(tiny):
    """The covariance rate sum v v^T Rdot h^2 / m - (mu' mu^T + mu mu'^T) of R = (4 f32 - Q f16) / 3 moving at
    Rdot = (4 L32 f32 - Q L16 f16) / 3, on the 32-cell grid (by numpy; the grid is centred at anisotropic2d's mean
    (-1, 0), so mu = (-1, 0) on it)."""
    s8, s16, f8, f16 = _tiny_pair(tiny)
    start = grid.richardson(f8, f16)
    fdot = grid.richardson(s8.rhs(f8), s16.rhs(f16))
    X, Y = np.meshgrid(s16.axes[0].numpy(), s16.axes[1].numpy(), indexing="ij")
    pts, w, wd = np.stack([X.ravel(), Y.ravel()]), start.numpy().ravel(), fdot.numpy().ravel()
    mu, mud = pts @ w / w.sum(), pts @ wd / w.sum()
    want = (pts * wd) @ pts.T / w.sum() - np.outer(mud, mu) - np.outer(mu, mud)
    got = obs.grid_reference_rate(tiny, "tiny")
    assert got.shape == (2, 2) and abs(want).max() > 1e-2 and abs(mu[0]) > 0.5
    np.testing.assert_allclose(got.numpy(), want, rtol=0, atol=1e-14)


def test_grid_reference_rate_by_time_steps_matches_the_operator(tiny):
    """t1 = 1e-3 and 4e-3: the second-order difference of the evolved pair's covariances (-3 S0 + 4 S1 - S2) / (2 t1)
    is the operator rate to 2.5e-8 relative (measured: the Richardson pair's mass drift, sum Rdot h^2 = 1.4e-10, not
    t1^2, sets it); and (t1 = 2e-3) by hand from the two evolved runs."""
    at_t0 = obs.grid_reference_rate(tiny, "tiny")
    scale = float(at_t0.abs().max())
    err = lambda r: float((r - at_t0).abs().max()) / scale
    e1, e4 = err(obs.grid_reference_rate(tiny, "tiny", t1=1e-3)), err(obs.grid_reference_rate(tiny, "tiny", t1=4e-3))
    assert e1 < 1e-6 and e4 < 1e-6
    s8, s16, f8, f16 = _tiny_pair(tiny)
    t1 = 2e-3
    runs = {m: s.evolve(f, tiny.t0, [t1, 2 * t1]) for m, s, f in ((16, s8, f8), (32, s16, f16))}
    S = [obs._grid_covariance(s16, grid.richardson(f8, f16))] + [
        obs._grid_covariance(s16, grid.richardson(runs[16][t], runs[32][t])) for t in (t1, 2 * t1)]
    torch.testing.assert_close(obs.grid_reference_rate(tiny, "tiny", t1=t1), (-3 * S[0] + 4 * S[1] - S[2]) / (2 * t1),
                               rtol=0, atol=1e-13 * scale)


def test_radial_reference_rate_is_a_third_of_the_energy_rate(monkeypatch):
    """With the operator stubbed to the identity (L f = f) the rate is (1/3) sum 4 pi V_i r_i^2 f0_i I = E|v|^2 / 3 I of
    the discrete initial profile: rosenbluth3d's is its trace / 3 to O(dr^2) (coarse: 200 cells of [0, 10])."""
    monkeypatch.setattr(radial.RadialSolver, "rhs", lambda self, f: f)
    p = get_problem("rosenbluth3d")
    got = obs.radial_reference_rate(p, "coarse")
    solver = radial.RadialSolver(p.C, 200, 10.0)
    f0 = radial.initial_profile(p, solver)
    e = float(4 * np.pi * (f0 * solver.volume * solver.r**2).sum())
    assert got.shape == (3, 3) and got.dtype == F64
    torch.testing.assert_close(got, e / 3 * torch.eye(3, dtype=F64), rtol=1e-14, atol=0)
    trace = float(torch.trace(p.initial_covariance()))
    assert e == pytest.approx(trace, rel=1e-3)


def test_difference_rate_refuses_unequal_lengths_and_names_them():
    S = torch.eye(2, dtype=F64)
    with pytest.raises(ValueError, match="got 3 times, 2 covariances"):
        obs.difference_rate([0.0, 0.1, 0.2], [S, S])
    with pytest.raises(ValueError, match="got 2 times, 3 covariances"):
        obs.difference_rate([0.0, 0.1], [S, S, S])
    with pytest.raises(ValueError, match="got 4 times, 4 covariances"):
        obs.difference_rate([0.0, 0.1, 0.2, 0.3], [S] * 4)


def test_difference_rate_by_hand_with_a_long_step():
    """h = 2 (so h != 1 / h and 2 h != 2 / h): two points (S1 - S0) / 2; three (-3 S0 + 4 S1 - S2) / 4 by hand; the
    spacing tolerance is 1e-9 max(1, h) = 2e-9 at h = 2 (1.5e-9 off accepted, 2.5e-9 refused)."""
    S0, S1, S2 = (torch.tensor(x, dtype=F64) for x in ([[1.0, 2.0], [2.0, 5.0]], [[3.0, 1.0], [1.0, 4.0]],
                                                     [[7.0, -1.0], [-1.0, 2.0]]))
    assert torch.equal(obs.difference_rate([1.0, 3.0], [S0, S1]), torch.tensor([[1.0, -0.5], [-0.5, -0.5]], dtype=F64))
    want = torch.tensor([[(-3 + 12 - 7) / 4, (-6 + 4 + 1) / 4], [(-6 + 4 + 1) / 4, (-15 + 16 - 2) / 4]], dtype=F64)
    assert torch.equal(obs.difference_rate([1.0, 3.0, 5.0], [S0, S1, S2]), want)
    assert torch.allclose(obs.difference_rate([1.0, 3.0, 5.0 + 1.5e-9], [S0, S1, S2]), want, rtol=1e-12)
    with pytest.raises(ValueError, match="equally spaced"):
        obs.difference_rate([1.0, 3.0, 5.0 + 2.5e-9], [S0, S1, S2])
    with pytest.raises(ValueError, match="equally spaced"):
        obs.difference_rate([1.0, 3.0, 5.0 - 2.5e-9], [S0, S1, S2])
    with pytest.raises(ValueError, match="increase"):
        obs.difference_rate([1.0, 0.5], [S0, S1])


def test_velocity_and_trajectory_rates_in_closed_form():
    """Three particles, rigid motion u = A (v - vbar) + c: dSigma/dt = A Sigma + Sigma A^T, independent of c; and
    trajectory_rate of v + t u at t0 = 2 with one snapshot: (Sigma(h) - Sigma(0)) / h = A S + S A^T + h A S A^T."""
    v = torch.tensor([[1.0, 0.0], [3.0, 2.0], [2.0, 7.0]], dtype=F64)
    A = torch.tensor([[0.5, -1.0], [2.0, 0.25]], dtype=F64)
    u = (v - v.mean(0)) @ A.T + torch.tensor([5.0, -3.0], dtype=F64)
    S = obs.covariance(v)
    np.testing.assert_allclose(S.numpy(), np.cov(v.numpy().T, bias=True), rtol=0, atol=1e-14)
    torch.testing.assert_close(obs.velocity_rate(v, u), A @ S + S @ A.T, rtol=0, atol=1e-13)
    h = 0.5
    got = obs.trajectory_rate(v, [2.0 + h], [v + h * u], 2.0)
    torch.testing.assert_close(got, A @ S + S @ A.T + h * A @ S @ A.T, rtol=0, atol=1e-13)


def test_a_spacing_exactly_at_the_tolerance_is_accepted():
    """h = 2^-32 and t2 = 2h + 1e-9: (t2 - t1) - h is exactly 1e-9 max(1, h) in float64 (every difference is exact at
    this scale), and the check is strict (> refuses), so the three times are accepted."""
    h = 2.0**-32
    t = [0.0, h, 2 * h + 1e-9]
    assert (t[2] - t[1]) - h == 1e-9
    S = [torch.eye(2, dtype=F64) * k for k in (1.0, 2.0, 4.0)]
    assert torch.equal(obs.difference_rate(t, S), torch.eye(2, dtype=F64) * (-3 + 8 - 4) / (2 * h))


def test_reference_rate_dispatches_grid_and_radial(tiny):
    """anisotropic2d (gamma = -3) is a grid problem, rosenbluth3d a radial one: the (kind, rate) pair of each is the
    kind's own rate at the asked resolution."""
    kind, rate = obs.reference_rate(tiny, "tiny")
    assert kind == "grid" and torch.equal(rate, obs.grid_reference_rate(tiny, "tiny"))
    ring = get_problem("rosenbluth3d")
    kind, rate = obs.reference_rate(ring, "coarse")
    assert kind == "radial" and torch.equal(rate, obs.radial_reference_rate(ring, "coarse")) and rate.shape == (3, 3)
