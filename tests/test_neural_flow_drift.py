"""neural_flow's named options (solvers.neural_flow_drift): the by-parts Maxwell drift against the pair form
(problems.drift) and the affine conservation correction of a velocity field. float64 throughout."""
from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from problems import drift, get_problem
from solvers import get_solver
from solvers.characteristics_rk4 import Carried, rates
from solvers.neural_flow_drift import by_parts_drift, corrected_field, corrected_velocity, landau_drift

D64 = torch.float64


def _random_gaussian(d: int, seed: int):
    """A random mean (d,) and covariance (d, d) from a seeded local generator."""
    g = torch.Generator().manual_seed(seed)
    a = torch.randn(d, d, generator=g, dtype=D64)
    return 0.5 * torch.randn(d, generator=g, dtype=D64), a @ a.T + 0.5 * torch.eye(d, dtype=D64), g


@settings(max_examples=10, deadline=None)
@given(st.integers(2, 3), st.integers(4, 40), st.integers(0, 10_000), st.floats(0.01, 1.0))
def test_by_parts_equals_the_pair_drift_where_the_empirical_stein_identities_hold(d, half, seed, c):
    """A sample symmetric about its mean (v and 2m - v) with the sample-Gaussian score s = -Sigma_N^-1 (v - m_N) meets
    the empirical Stein identities up to degree 2, so the two estimators agree to round-off (1e-12 relative)."""
    m, cov, g = _random_gaussian(d, seed)
    y = torch.randn(half, d, generator=g, dtype=D64) @ torch.linalg.cholesky(cov).T
    v = torch.cat([y, -y]) + m
    vc = v - v.mean(0)
    s = -vc @ torch.linalg.inv(vc.T @ vc / v.shape[0])
    pairs, parts = drift(v, s, 0.0, c), by_parts_drift(v, s, c)
    assert torch.allclose(parts, pairs, atol=1e-12 * float(pairs.abs().max()), rtol=0)


def test_by_parts_estimates_the_same_drift_as_the_pair_form_on_a_gaussian_with_exact_scores():
    """N(m, S) in 3D with its exact score, N = 40,000: both estimators are within 3 Monte Carlo standard errors of the
    exact Gaussian drift U(v) = -C[(|v-m|^2 + tr S) I - (v-m)(v-m)^T - S] S^-1 (m - v)... at fixed probe points
    (the population formula with exact moments), for both the by-parts and the pair estimator."""
    d, c = 3, 1 / 24
    m, cov, _ = _random_gaussian(d, 11)
    g = torch.Generator().manual_seed(12)
    n, reps = 4_000, 10
    prec = torch.linalg.inv(cov)
    probe = m + torch.tensor([[0.0, 0.0, 0.0], [1.0, -0.5, 0.3], [-1.2, 0.4, 0.9]], dtype=D64)
    sp = -(probe - m) @ prec
    pc = probe - m
    exact = -c * (((pc * pc).sum(-1, keepdim=True) + torch.trace(cov)) * sp - pc * (pc * sp).sum(-1, keepdim=True)
                  - sp @ cov) - (d - 1) * c * pc
    est_parts, est_pairs = [], []
    for _ in range(reps):
        x = m + torch.randn(n, d, generator=g, dtype=D64) @ torch.linalg.cholesky(cov).T
        v = torch.cat([probe, x])
        s = -(v - m) @ prec
        est_parts.append(by_parts_drift(v, s, c)[:3])
        est_pairs.append(drift(v, s, 0.0, c)[:3])
    for est in (torch.stack(est_parts), torch.stack(est_pairs)):
        err = (est.mean(0) - exact).abs()
        se = est.std(0) / reps ** 0.5
        assert bool((err <= 3 * se + 1e-12).all()), (err, se)
    # and the by-parts estimator is not the pair form: with scores off the Gaussian's they differ
    x = m + torch.randn(200, d, generator=g, dtype=D64) @ torch.linalg.cholesky(cov).T
    s = torch.randn(200, d, generator=g, dtype=D64)
    assert float((by_parts_drift(x, s, c) - drift(x, s, 0.0, c)).abs().max()) > 1e-3


def test_by_parts_is_refused_for_gamma_other_than_zero():
    """landau_drift names the estimator and gamma it refuses; the solver's refusal is one line."""
    v = torch.zeros(4, 2, dtype=D64)
    with pytest.raises(ValueError, match="gamma = 0"):
        landau_drift(v, v, -3.0, 1.0, "by_parts")
    with pytest.raises(ValueError, match="valid: pairs, by_parts"):
        landau_drift(v, v, 0.0, 1.0, "moments")
    cls = get_solver("neural_flow")
    p = get_problem("rosenbluth3d")
    why = cls.refusal(cls.profile_config("smoke", p, drift_estimator="by_parts"), p)
    assert why is not None and "gamma" in why and "\n" not in why


def _field(x, t):
    """A nonlinear field (u, D) with D[i, k, j] = d u_j / d x_k by autograd (create_graph)."""
    w = torch.tensor([[0.7, -0.4, 0.2], [0.3, 0.5, -0.6], [0.1, 0.2, 0.4]], dtype=D64)
    u = torch.tanh(x @ w.T + 0.3 * t) + 0.3 * torch.sin(x.flip(-1)) + 0.2 * x * (x * x).sum(-1, keepdim=True).sqrt()
    d = torch.stack([torch.autograd.grad(u[:, j].sum(), x, create_graph=True)[0] for j in range(3)], dim=-1)
    return u, d


def test_affine_correction_conserves_momentum_and_energy_and_keeps_grad_div():
    """u' = u - a - lambda (x - m) over the ensemble: sum u' = 0 and sum x . u' = 0 (1e-12 relative), u' equals the
    corrected_velocity's, the score rate differs from the uncorrected one by lambda s only (grad div u unchanged:
    -(D - lambda I) s - grad div u), and the log f rate by d lambda."""
    g = torch.Generator().manual_seed(5)
    x = torch.randn(300, 3, generator=g, dtype=D64) + torch.tensor([0.5, -1.0, 0.2], dtype=D64)
    s = torch.randn(300, 3, generator=g, dtype=D64)
    state = Carried(x, torch.zeros(300, dtype=D64), s, torch.zeros(300, dtype=D64))
    plain, fixed = rates(_field, state, 0.4), rates(corrected_field(_field), state, 0.4)
    u = fixed.x
    scale = float(plain.x.abs().sum())
    assert float(u.sum(0).abs().max()) <= 1e-12 * scale
    assert abs(float((x * u).sum())) <= 1e-12 * scale * float(x.abs().max())
    assert float((plain.x * x).sum().abs()) > 1.0  # the uncorrected field does change the energy
    assert torch.allclose(corrected_velocity(lambda y, t: _field(y.requires_grad_(True), t)[0].detach())(x, 0.4), u,
                          atol=1e-13, rtol=0)
    xc = x - x.mean(0)
    pu = plain.x.detach()
    lam = float((xc * (pu - pu.mean(0))).sum() / (xc * xc).sum())
    assert torch.allclose(fixed.score, plain.score + lam * s, atol=1e-12, rtol=0)
    assert torch.allclose(fixed.log_f, plain.log_f + 3 * lam, atol=1e-12, rtol=0)


@pytest.mark.slow
def test_the_solver_keeps_the_particles_momentum_and_energy_with_conserve_affine():
    """A tiny neural_flow training on bkw2d: with conserve='affine' the read-out particles' mean and mean |x|^2 at
    every snapshot equal the start's to 1e-6 (RK4 error only); with conserve='none' the energy moves by more."""
    p = get_problem("bkw2d")
    cls = get_solver("neural_flow")
    drifts = {}
    for conserve in ("affine", "none"):
        cfg = cls.profile_config("smoke", p, iters=2, inner=2, n=32, n_eval=64, n_density=100, dt=1.25,
                                 conserve=conserve)
        traj = cls(cfg).run(p, seed=0)
        e0, m0 = (traj.initial ** 2).sum(-1).mean(), traj.initial.mean(0)
        drifts[conserve] = max(float(((x ** 2).sum(-1).mean() - e0).abs() / e0) for x in traj.particles)
        if conserve == "affine":
            assert all(torch.allclose(x.mean(0), m0, atol=1e-6, rtol=0) for x in traj.particles)
    assert drifts["affine"] <= 1e-6 < drifts["none"], drifts
