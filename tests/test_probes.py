"""The certificate probes on real cells: PathRecorder / PiecewiseLinearProbe on an sbp run with the exact
score, FlowProbe on a PINN-PM run, and the certificate rows each one yields (float64)."""
import math
import sys

import pytest
import torch

import certificates
import problems
import solvers
from harness.plan.cell import Cell
from harness.execute.run_cell import run_cell
from problems import drift
from solvers.probe import FlowProbe, PiecewiseLinearProbe
from harness.plan.profiles import PROFILES


@pytest.fixture(scope="module")
def exact_score_sbp():
    p = problems.get_problem("bkw2d")
    p = p.replace(snapshot_times=(p.t0 + 0.25, p.t0 + 0.5))
    cls = solvers.get_solver("sbp")
    cfg = cls.profile_config("smoke", p, n=200, dt=0.05, score="exact", dtype="float64")
    return p, cls(cfg).run(p, seed=0)


def test_the_stepper_probe_replays_the_steps_it_recorded(exact_score_sbp):
    p, traj = exact_score_sbp
    probe = traj.probe
    assert isinstance(probe, PiecewiseLinearProbe)
    assert len(probe.times) == traj.info["steps"] + 1 and probe.times[0] == p.t0 and probe.times[-1] == p.T
    for k in (0, 3, len(probe.models) - 1):  # at a step time the interpolant is the step's position ...
        assert torch.equal(probe.positions(probe.times[k]), probe.xs[k])
        # ... and on (t_k, t_k+1) its velocity is the Euler velocity U(x_k, s(x_k, t_k)) of that step
        x = probe.xs[k]
        u = drift(x, p.score(x, probe.times[k]), p.gamma, p.C)
        torch.testing.assert_close(probe.velocity(probe.times[k] + 1e-3), u, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(probe.positions(p.T), traj.particles[-1], rtol=0, atol=0)
    torch.testing.assert_close(probe.positions(p.t0), traj.initial, rtol=0, atol=0)


def test_the_certificates_of_an_exact_score_path(exact_score_sbp):
    p, traj = exact_score_sbp
    rows = certificates.certify(traj.probe, p, seed=0, n_lemma=5_000)
    by = {(r["certificate"], round(r["t"], 9)): r for r in rows}
    last = round(p.T, 9)
    assert {c for c, _ in by} == set(certificates.CERTIFICATES)
    # the score model is the exact score, so the score error on the path is zero, exactly
    assert by[("thm4_score", last)]["observed"] == 0.0
    # E(T): Euler with dt = 0.05 from the same particles (rms 0.011 measured), below Theorem 2's bound
    e = by[("thm2_trajectory", last)]
    assert 1e-10 < e["observed"] < 1e-3 and e["holds"] and e["bound"] >= e["observed"]
    # Lemma 2 is an identity for the exact score, up to its Monte Carlo error
    assert all(r["holds"] for (c, _), r in by.items() if c == "lemma2")
    for r in rows:
        if r["observed"] > 0:
            assert r["ratio"] == pytest.approx(r["bound"] / r["observed"], rel=1e-12)


def test_the_flow_probe_velocity_is_the_time_derivative_of_its_positions():
    p = problems.get_problem("bkw2d")
    cls = solvers.get_solver("pinn_pm_particle")
    cfg = cls.profile_config("smoke", p, dtype="float64", n_eval=64)
    traj = cls(cfg).run(p, seed=0)
    probe = traj.probe
    assert isinstance(probe, FlowProbe) and probe.grid()[0] == p.t0 and probe.grid()[-1] == p.T
    torch.testing.assert_close(probe.positions(p.t0), traj.initial, rtol=0, atol=1e-12)  # Phi(V, t0) = V
    t, h = 0.5 * (p.t0 + p.T), 1e-4
    central = (probe.positions(t + h) - probe.positions(t - h)) / (2 * h)
    torch.testing.assert_close(probe.velocity(t), central, rtol=1e-5, atol=1e-7)


def test_a_pinn_cell_records_one_row_per_certificate_and_time(tmp_path):
    """The rows of a PINN-PM cell, checked against numbers computed here by other means: the observed E(t) of
    Theorem 2 from the stored snapshot particles and the exact characteristics of the same initial particles,
    the observed KDE error of Theorem 6 from a direct Gaussian KDE sum, `holds` against those, and each bound
    against its log10 (the Gronwall bounds are computed in log space: inf exactly when they overflow)."""
    import numpy as np

    from harness.store import tables as store
    from infra import seeds
    from problems.cases.characteristics import integrate_characteristics
    cell = Cell("pinn_pm_particle", "bkw2d", 0)
    rec = run_cell(cell, PROFILES["smoke"], "cpu", run_dir=str(tmp_path))
    assert rec.ok and not rec.certificates_error
    p = problems.get_problem("bkw2d")
    snaps = sorted(round(t, 9) for t in p.snapshot_times if t > p.t0)
    rows = rec.certificates
    for name in ("thm4_score", "lemma2", "thm6_kde"):  # evaluated at the snapshots only
        assert sorted(round(r["t"], 9) for r in rows if r["certificate"] == name) == snaps
    assert all(math.isfinite(r["observed"]) for r in rows)
    by = {(r["certificate"], round(r["t"], 9)): r for r in rows}
    v0 = p.sample(rec.config["n_eval"], seeds.INITIAL_PARTICLES.seed(0))
    exact = integrate_characteristics(p, v0, snaps, 1e-10, 1e-12)
    grid, _ = p.eval_grid()
    with np.load(store.particles_path(tmp_path, cell.id)) as f:
        stored = {round(t, 9): torch.from_numpy(f[f"x{k}"]).double() for k, t in enumerate(f["times"].tolist())}
    h = p.kde_bandwidth
    for t, xe in zip(snaps, exact):
        x = stored[t]  # float32 in the file: ~1e-7 relative
        e = float(((x - xe) ** 2).sum(-1).mean())
        for name in ("thm2_trajectory", "thm2_trajectory_corrected"):
            r = by[(name, t)]
            assert r["observed"] == pytest.approx(e, rel=1e-4) and r["holds"] == (r["bound"] >= e), (name, t)
        fhat = torch.exp(-torch.cdist(grid, x) ** 2 / (2 * h * h)).mean(1) / (2 * math.pi * h * h)
        kde_err = float(((fhat - p.density(grid, t)) ** 2).sum()) * p.grid_cell_volume()
        r = by[("thm6_kde", t)]
        assert r["observed"] == pytest.approx(kde_err, rel=1e-4) and r["holds"] == (r["bound"] >= kde_err), t
    for r in rows:
        if r["bound"] == math.inf:
            assert r["log10_bound"] > math.log10(sys.float_info.max), r
        elif r["bound"] > 0:
            assert 10 ** r["log10_bound"] == pytest.approx(r["bound"], rel=1e-9), r
