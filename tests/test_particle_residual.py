"""certificates.particle_residual: the W2 residual bound of blob and sbp through the mollified density of their
particles, rho_t = (1/N) sum_j N(x_j(t), h^2 I), transported by the kernel-weighted velocity u_h."""
import math

import pytest
import torch

from certificates.landau_residual import residual_mean
from certificates.particle_residual import (ParticlePath, certify_particles, mollified, particle_path_of,
                                            sample_mollified)
from problems import get_problem, make_generator
from problems.cases.characteristics import integrate_characteristics
from solvers.probe import PiecewiseLinearProbe

f64 = torch.float64


def _log_rho(y, x, h):
    d = x.shape[1]
    r2 = ((y[:, None, :] - x[None]) ** 2).sum(-1)
    return torch.logsumexp(-r2 / (2 * h * h), 1) - math.log(x.shape[0]) - d / 2 * math.log(2 * math.pi * h * h)


def test_mollified_score_is_grad_log_rho_and_its_velocity_transports_rho():
    """s_h = grad log rho (autograd), and with the particles moving as x + tau u, d rho / d tau at fixed y equals
    -div(rho u_h)(y) (the continuity equation the bound needs), both to 1e-7 relative (central differences)."""
    gen = make_generator(5)
    x, u = torch.randn(30, 2, generator=gen, dtype=f64), torch.randn(30, 2, generator=gen, dtype=f64)
    y = 1.5 * torch.randn(40, 2, generator=gen, dtype=f64)
    h = 0.4
    u_h, s_h = mollified(x, u, y, h)
    yg = y.clone().requires_grad_(True)
    grad = torch.autograd.grad(_log_rho(yg, x, h).sum(), yg)[0]
    assert torch.allclose(s_h, grad, rtol=1e-10, atol=1e-12)
    tau = 1e-5
    drho = (_log_rho(y, x + tau * u, h).exp() - _log_rho(y, x - tau * u, h).exp()) / (2 * tau)
    yg = y.clone().requires_grad_(True)
    flux = _log_rho(yg, x, h).exp()[:, None] * mollified(x, u, yg, h)[0]  # rho u_h, differentiable in y
    div = sum(torch.autograd.grad(flux[:, a].sum(), yg, retain_graph=True)[0][:, a] for a in range(2))
    assert torch.allclose(drho, -div, rtol=1e-7, atol=1e-10)


def test_sampling_the_mollified_density():
    """x_J + h xi: mean of x, covariance cov(x) + h^2 I (the 1/N covariance), within Monte Carlo at M = 200,000."""
    x = torch.tensor([[0.0, 0.0], [2.0, 0.0], [0.0, 1.0]], dtype=f64)
    y = sample_mollified(x, 0.5, 200_000, make_generator(1))
    xc = x - x.mean(0)
    assert torch.allclose(y.mean(0), x.mean(0), atol=0.01)
    assert torch.allclose(torch.cov(y.T), xc.T @ xc / 3 + 0.25 * torch.eye(2, dtype=f64), atol=0.02)


def test_the_symmetric_form_with_rho_s_own_score_is_the_by_parts_form():
    """With s = rho's own score both kernels estimate the same ||u - U[rho]||^2 (by parts is valid for a density):
    on 4,000 samples of rho the two unbiased means agree within 4 (se1 + se2); a wrong sign in the symmetric kernel
    would not; with a zero score model the symmetric residual is E|u_h|^2 exactly."""
    gen = make_generator(7)
    x = torch.randn(200, 2, generator=gen, dtype=f64)
    y = sample_mollified(x, 0.3, 4_000, gen)
    u = 0.2 * torch.randn(200, 2, generator=gen, dtype=f64)
    u_h, s_h = mollified(x, u, y, 0.3)
    a, sa = residual_mean(y, u_h, s_h, 0.0, 1 / 16)
    b, sb = residual_mean(y, u_h, s_h, 0.0, 1 / 16, symmetric=True)
    assert a > 0.05 and abs(a - b) <= 4 * (sa + sb)
    # with a score model s = 0 the symmetric kernel is 0, so the residual is exactly E|u_h|^2 (by parts it is not)
    zero = torch.zeros_like(s_h)
    assert residual_mean(y, u_h, zero, 0.0, 1 / 16, symmetric=True)[0] == pytest.approx(
        float((u_h * u_h).sum(-1).mean()), rel=1e-12)
    assert abs(residual_mean(y, u_h, zero, 0.0, 1 / 16)[0] - float((u_h * u_h).sum(-1).mean())) > 0.002


def _exact_path(p, n, shift):
    """A PiecewiseLinearProbe along the exact characteristics of n f0 samples on 40 steps, positions translated by
    shift (t - t0) while the velocities are those of the untranslated path (shift != 0: a planted defect)."""
    times = [p.t0 + k * (max(p.snapshot_times) - p.t0) / 40 for k in range(41)]
    xs = integrate_characteristics(p, p.sample(n, 3), times, 1e-9, 1e-11)
    moved = [x + shift * (t - p.t0) for x, t in zip(xs, times)]
    probe = PiecewiseLinearProbe(times, moved, [None] * 40)
    probe.velocity = lambda t, probe=probe, xs=xs: PiecewiseLinearProbe(times, xs, [None] * 40).velocity(t)
    return ParticlePath("blob_density", probe, 0.3, False)


@pytest.mark.slow
def test_a_planted_violation_is_flagged_and_the_exact_path_holds():
    """The exact characteristics (N = 400, h = 0.3) on bkw2d: every row holds, the bound is above the observed
    estimate and its residual integral is positive (mollification is a defect of rho, not of f); translated by
    0.6 t (1, 0) with the velocity reported without the shift, the Gelbrich lower bound sees the 3.0 shift at
    t = 5 and the row fails."""
    p = get_problem("bkw2d")
    rows = certify_particles(_exact_path(p, 400, 0.0), p, p, 0, intervals=8, m_obs=400, m_moments=4_000)
    assert [r["certificate"] for r in rows] == ["w2_residual:blob_density"] * 3
    assert all(r["holds"] and r["proved"] == 1.0 and r["bound"] >= r["observed"] for r in rows)
    assert all(r["residual_integral"] > 3 * r["mc_se"] for r in rows)
    shift = torch.tensor([0.6, 0.0], dtype=f64)
    last = certify_particles(_exact_path(p, 400, shift), p, p, 0, intervals=8, m_obs=400, m_moments=4_000)[-1]
    assert last["observed_lower"] > 2.0 > last["bound"] + 3 * (last["mc_se"] + last["quad_err"])
    assert not last["holds"]


@pytest.mark.slow
def test_blob_and_sbp_cells_expose_their_paths():
    """A blob run keeps its step path (positions at the snapshots = its snapshot particles, velocity at t0 = its
    first Euler step), labelled blob_density with h = its bandwidth; an sbp run's probe gives sbp_score with the
    problem's KDE bandwidth and its learned score; another solver gives None."""
    import solvers
    p = get_problem("bkw2d").replace(snapshot_times=(0.0, 0.1, 0.2))
    blob = solvers.get_solver("blob")
    traj = blob(blob.profile_config("smoke", p, n=60)).run(p, seed=0)
    pp = particle_path_of(traj, p)
    assert pp.label == "blob_density" and pp.bandwidth == traj.info["bandwidth"] and not pp.learned_score
    for t in (0.1, 0.2):
        assert torch.equal(pp.path.positions(t), traj.at(t))
    step = pp.path.times[1] - pp.path.times[0]
    assert torch.allclose(pp.path.velocity(0.0), (pp.path.xs[1] - traj.initial.to(f64)) / step, rtol=1e-12)
    sbp = solvers.get_solver("sbp")
    traj = sbp(sbp.profile_config("smoke", p, n=60)).run(p, seed=0)
    pp = particle_path_of(traj, p)
    assert pp.label == "sbp_score" and pp.bandwidth == p.kde_bandwidth and pp.learned_score
    assert pp.path.score(traj.at(0.1), 0.1).shape == (60, 2)
    traj = solvers.get_solver("exact_flow")(solvers.get_solver("exact_flow").profile_config("smoke", p)).run(p, seed=0)
    assert particle_path_of(traj, p) is None


@pytest.mark.slow
def test_a_blob_cell_carries_its_rows_and_their_cost():
    """run_cell on blob / bkw2d (smoke, N = 100): one w2_residual:blob_density row per snapshot after t0, with a
    finite bound, mc_se and observed, proved = 1 (gamma = 0), and the seconds they took in info.a_posteriori_s."""
    from harness.execute.run_cell import run_cell
    from harness.plan.cell import Cell
    from harness.plan.profiles import PROFILES
    rec = run_cell(Cell("blob", "bkw2d", 0, (("n", 100),)), PROFILES["smoke"], "cpu")
    rows = [r for r in rec.certificates if r["certificate"].startswith("w2_residual")]
    assert rec.status == "ok" and [r["t"] for r in rows] == [1.0, 2.5, 5.0]
    assert all(r["certificate"] == "w2_residual:blob_density" and r["proved"] == 1.0 for r in rows)
    assert all(math.isfinite(r["bound"]) and r["mc_se"] > 0 and math.isfinite(r["observed"]) for r in rows)
    assert rec.info["a_posteriori_s"] > 0
