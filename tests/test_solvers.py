"""Baseline solvers: registry, exact_flow as a reference, SBP's order in dt and N, conservation."""
import math

import numpy as np
import pytest
import torch
from scipy.integrate import solve_ivp

import metrics
import solvers
from problems import drift, get_problem, list_problems
from solvers.exact_flow import ExactFlowConfig
from solvers.sbp import SBPConfig


def test_registry():
    assert {"exact_flow", "sbp", "blob"} <= set(solvers.list_solvers())
    with pytest.raises(ValueError, match="unknown solver 'sbq'.*sbp"):
        solvers.get_solver("sbq")
    with pytest.raises(ValueError, match="already registered"):
        solvers.register_solver("sbp")(solvers.get_solver("sbp"))


def test_user_solver_registers_from_outside_the_package():
    @solvers.register_solver("_frozen_test_solver")
    class Frozen(solvers.Solver):
        def solve(self, problem, seed=0, device="cpu", initial=None, progress=False):
            v0 = problem.sample(10, seed)
            return solvers.Trajectory(self.name, problem.name, list(problem.snapshot_times),
                                      [v0] * len(problem.snapshot_times), [None] * 3, v0)
    tr = solvers.get_solver("_frozen_test_solver")().solve(get_problem("bkw2d"))
    assert tr.solver == "_frozen_test_solver" and torch.equal(tr.at(5.0), tr.initial)


def test_profiles_and_applicability():
    p = get_problem("bkw2d")
    assert solvers.get_solver("sbp").profile_config("paper", p).n == 22_500
    with pytest.raises(ValueError, match="unknown profile 'fast'.*smoke, quick, paper"):
        solvers.get_solver("sbp").profile_config("fast", p)
    ok, why = solvers.get_solver("exact_flow").applies_to(get_problem("rosenbluth3d"))
    assert not ok and "exact" in why


# ---------------------------------------------------------------------------- exact_flow
@pytest.mark.parametrize("name", ["bkw2d", "bkw3d"])
def test_exact_flow_reaches_the_monte_carlo_floor(name):
    p = get_problem(name)
    n, T = 1_000, p.T
    ratios = []
    for seed in range(3):
        tr = solvers.get_solver("exact_flow")(ExactFlowConfig(n=n)).solve(p, seed=seed)
        ratios.append(metrics.w1(tr.at(T), p.sample_at(T, n, seed + 500)) / metrics.w1_mc_floor(p, T, n, seed))
    assert np.mean(ratios) <= 1.2, ratios


@pytest.mark.parametrize("name", ["bkw2d", "bkw3d"])
def test_exact_flow_is_converged_in_its_tolerance(name):
    p = get_problem(name)
    loose = solvers.get_solver("exact_flow")(ExactFlowConfig(n=500)).solve(p, seed=1)
    tight = solvers.get_solver("exact_flow")(ExactFlowConfig(n=500, rtol=1e-12, atol=1e-14)).solve(p, seed=1)
    for t in p.snapshot_times:
        assert float((loose.at(t) - tight.at(t)).norm() / tight.at(t).norm()) < 1e-8


# ---------------------------------------------------------------------------- SBP, exact score
def particle_system_reference(p, v0, T):
    """The particle system (2.7) with the exact score, integrated by DOP853 to rtol 1e-12."""
    n, d = v0.shape

    def rhs(t, y):
        v = torch.from_numpy(y).view(n, d)
        return drift(v, p.score(v, t), p.gamma, p.C).reshape(-1).numpy()
    sol = solve_ivp(rhs, (p.t0, T), v0.reshape(-1).numpy(), method="DOP853", rtol=1e-12, atol=1e-13)
    return torch.from_numpy(sol.y[:, -1].copy()).view(n, d)


def test_sbp_exact_score_is_first_order_in_dt():
    p = get_problem("bkw2d").replace(snapshot_times=(1.0,))
    v0 = p.sample(200, seed=3)
    ref = particle_system_reference(p, v0, 1.0)
    dts = [0.04, 0.02, 0.01, 0.005]
    errs = []
    for dt in dts:
        tr = solvers.get_solver("sbp")(SBPConfig(dt=dt, score="exact")).solve(p, initial=v0)
        errs.append(float((tr.at(1.0) - ref).norm()))
    slope = np.polyfit(np.log(dts), np.log(errs), 1)[0]
    assert 0.85 <= slope <= 1.15, (slope, errs)


def test_sbp_exact_score_distance_to_exact_flow_shrinks_like_inverse_sqrt_n():
    p = get_problem("bkw2d").replace(snapshot_times=(1.0,))
    ns = [100, 400, 1600, 6400]
    dist = []
    for n in ns:
        e = []
        for seed in range(3):
            v0 = p.sample(n, seed=seed)
            ref = solvers.get_solver("exact_flow")(ExactFlowConfig(n=n)).solve(p, initial=v0).at(1.0)
            got = solvers.get_solver("sbp")(SBPConfig(dt=0.002, score="exact")).solve(p, initial=v0).at(1.0)
            e.append(metrics.mean_squared_distance(got, ref))
        dist.append(math.sqrt(np.mean(e)))
    slope = np.polyfit(np.log(ns), np.log(dist), 1)[0]
    assert -0.65 <= slope <= -0.35, (slope, dist)


# ---------------------------------------------------------------------------- conservation
@pytest.mark.parametrize("solver", ["sbp", "blob"])
@pytest.mark.parametrize("name", list_problems())
def test_momentum_conserved_on_every_problem(solver, name):
    p = get_problem(name)
    cls = solvers.get_solver(solver)
    cfg = cls.profile_config("smoke", p, n=200)
    p_short = p.replace(snapshot_times=(p.t0 + 8 * cfg.dt,))  # eight Euler steps
    tr = cls(cfg).solve(p_short, seed=0)
    v0, vt = tr.initial, tr.at(p_short.T)
    assert metrics.momentum_drift(vt, v0) < 1e-10
    assert abs(metrics.energy_drift(vt, v0)) < 0.05  # reported, not conserved by Euler
    assert not torch.equal(vt, v0)


@pytest.mark.slow
def test_sbp_smoke_reaches_t40_on_anisotropic2d():
    p = get_problem("anisotropic2d")
    tr = solvers.get_solver("sbp")(solvers.get_solver("sbp").profile_config("smoke", p)).solve(p, seed=0)
    assert tr.times == [10.0, 20.0, 40.0]
    assert torch.isfinite(tr.at(40.0)).all() and metrics.momentum_drift(tr.at(40.0), tr.initial) < 1e-10
    # relaxation towards isotropy: the covariance's off-diagonal entry shrinks from -1
    c0, c40 = torch.cov(tr.initial.T), torch.cov(tr.at(40.0).T)
    assert abs(float(c40[0, 1])) < 0.8 * abs(float(c0[0, 1]))


def test_blob_score_matches_gaussian_score_for_many_particles():
    """For N(0, I) samples and small eps the blob score approaches the exact score -v."""
    from solvers.blob import blockwise_blob_score  # the formula itself (tests/test_blob_score.py: the compiled one)
    v = torch.randn(4000, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    inner = v.norm(dim=1) < 1.5
    assert metrics.rfd(blockwise_blob_score(v, 0.09)[inner], -v[inner], v[inner]) < 0.1


def test_trajectories_are_reproducible():
    p = get_problem("bkw2d").replace(snapshot_times=(0.5,))
    cls = solvers.get_solver("sbp")
    a = cls(cls.profile_config("smoke", p)).solve(p, seed=4)
    b = cls(cls.profile_config("smoke", p)).solve(p, seed=4)
    assert torch.equal(a.at(0.5), b.at(0.5))
