"""The paper's certificates evaluated on one run, against the errors actually observed.

`certify(probe, problem, seed)` returns rows {t, certificate, bound, observed, ratio, holds,
log10_bound, on_snapshot, mc_se, R, lambda2, L_A, L_s, L_theta, L_g, L_t} for a problem with an
exact solution and gamma = 0 (Assumption 1 needs a Lipschitz kernel). `ratio` = bound/observed;
`holds` = bound >= observed (Lemma 2: |bound - observed| <= 3 Monte Carlo s.e.).

Inputs on the probe's dense grid t_0 < ... < t_K (snapshot times added), with x(t) the exact
characteristics of the probe's initial particles (`problems.cases.characteristics.integrate_characteristics`):
    E(t)          = (1/N) sum |xhat_i(t) - x_i(t)|^2                       (observed)
    delta_2N(t)^2 = (1/N) sum |s_theta(x_i(t), t) - s(x_i(t), t)|^2
    delta_phys^2  = (1/N) sum |d/dt xhat_i(t) - U^delta_t(xhat_i(t))|^2,  U^delta: eq. 2.7 with s_theta
    alpha = 2 R L_A + lambda_2, C0 = 2 alpha L_s + 2, C1 = 8 lambda_2^2, C2 = 2 alpha^2   (Theorem 1)

Certificates:
* lemma2: delta_2^2 = L_ISM(s_theta) - L_ISM(s) with `n_lemma` exact samples of f_t (paired).
* thm2_trajectory: (4.4)-(4.5) as written, a = C0 + 2 C1 L_g^2 + C2, b = 3 C1, source
  b delta_2N^2 + delta_phys^2; against E(t).
* thm2_trajectory_corrected: the proof's chain without its two slips (the written a(t) drops the
  L_s^2 of C2 L_s^2 Delta_f^2 in (3.10), and replaces Delta_f = W1(f_t, f~_t) by E^(1/2) although
  only W1(f_t, f~_t^N) <= E^(1/2); and it replaces delta_2^2 by delta_2N^2):
  a = C0 + 2 C1 L_g^2 + 2 C2 L_s^2, source C1 (2 delta_2N^2 + delta_2^2) + 2 C2 L_s^2 W_mc^2 + delta_phys^2,
  W_mc = W1(f~_t^N, f~_t) estimated by W1 between the exact characteristics and a fresh exact sample.
* thm4_score: delta_2N^2 <= E_ISM + 2 L_t W1(f_t, f~_t) (4.13, one realisation), with the excess
  risk E_ISM = L^_ISM(s_theta) - L^_ISM(s) on the solver's particles: the inf over the network
  class is replaced by the exact score (exact if the class contains it; otherwise an
  over-estimate of the inf, so E_ISM is under-estimated: noted ambiguity).
* thm5_w1: W1(f_t, f~_t) <= E5(t)^(1/2) + W_mc(t), E5 the Gronwall bound (4.5) with
  delta_2N^2 replaced by Theorem 4's bound (the chain of the proof with every constant explicit).
* thm6_kde: ||fhat_eps - f||^2 <= 3 (||K_eps * f - f||^2 + ||K||^2/(N eps^d) + eps^-(d+2) ||grad K||^2 E(t))
  (A.1-A.4) with the Gaussian kernel, norms restricted to the problem's evaluation box, the bias
  term exact (Gauss-Hermite), the observed E(t).
"""
from __future__ import annotations

import math

import numpy as np
import torch

import metrics
from metrics.specs import W1_MAX_EXACT
from problems import Problem, drift
from infra import seeds
from infra.rows import CertificateRow
from problems.cases.characteristics import integrate_characteristics

from certificates.constants import (MARGIN, ball_points, gaussian_kernel_norms, ism_integrand, kernel_constants,
                                   lipschitz_sups, log_gronwall)

CERTIFICATES = ("lemma2", "thm2_trajectory", "thm2_trajectory_corrected", "thm4_score", "thm5_w1", "thm6_kde")
W1_TIMES = 9  # W1(f_t, f~_t) on this many grid times (plus snapshots), interpolated in between


def applicable(problem: Problem) -> tuple[bool, str]:
    """(True, '') if certificates can be evaluated on `problem`, else (False, reason)."""
    if not problem.has_exact_solution:
        return False, f"{problem.name} has no exact solution"
    if problem.gamma != 0:
        return False, f"{problem.name} has gamma = {problem.gamma}: Assumption 1 (Lipschitz A) fails"
    return True, ""


def _w1(x: torch.Tensor, y: torch.Tensor, seed: int) -> float:
    if x.shape[0] <= W1_MAX_EXACT:
        return metrics.w1(x, y)
    return metrics.w1_subsampled(x, y, m=W1_MAX_EXACT, repeats=3, seed=seeds.CERT_W1_SUBSAMPLE.seed(seed))[0]


def _row(t, name, bound, observed, snap, consts, log10_bound=None, mc_se=float("nan"), holds=None) -> dict:
    """One certificate row (infra.rows.CertificateRow) as the cell record stores it."""
    return CertificateRow(float(t), name, float(bound), float(observed), holds=holds, log10_bound=log10_bound,
                          on_snapshot=bool(snap), mc_se=float(mc_se), constants=dict(consts)).to_json()


def certify(probe, problem: Problem, seed: int, n_lemma: int = 20_000) -> list[dict]:
    """Every certificate of the module docstring for one run (see there); [] if not applicable."""
    ok, _ = applicable(problem)
    if not ok:
        return []
    f64 = torch.float64
    snaps = [t for t in problem.snapshot_times if t >= problem.t0]
    grid = sorted(set(probe.grid()) | set(snaps) | {problem.t0})
    v0 = probe.positions(problem.t0).detach().to("cpu", f64)
    n, d = v0.shape
    exact = integrate_characteristics(problem, v0, grid, 1e-10, 1e-12)

    def model(t):
        return lambda x: probe.score(x, t).to(f64)

    def truth(t):
        return lambda x: problem.score(x, t)

    series = {k: [] for k in ("E", "d2N", "phys", "eism")}
    xhats, radius = [], 0.0
    for t, xe in zip(grid, exact):
        xh = probe.positions(t).detach().to("cpu", f64)
        xhats.append(xh)
        radius = max(radius, float(xh.norm(dim=1).max()), float(xe.norm(dim=1).max()))
        with torch.no_grad():
            series["E"].append(float(((xh - xe) ** 2).sum(-1).mean()))
            series["d2N"].append(float(((model(t)(xe) - problem.score(xe, t)) ** 2).sum(-1).mean()))
            u = drift(xh, model(t)(xh), problem.gamma, problem.C)
            series["phys"].append(float(((probe.velocity(t).detach().to("cpu", f64) - u) ** 2).sum(-1).mean()))
        series["eism"].append(float(ism_integrand(model(t), xh).mean() - ism_integrand(truth(t), xh).mean()))
    R = MARGIN * radius
    lam2, l_a = kernel_constants(problem.gamma, problem.C, R)
    alpha = 2 * R * l_a + lam2
    c1, c2, b = 8 * lam2**2, 2 * alpha**2, 24 * lam2**2
    ball = ball_points(d, R, 2_000, seeds.CERT_BALL.seed(seed))
    lip = {k: [] for k in ("L_s", "L_theta", "L_g", "L_t")}
    for t, xe, xh in zip(grid, exact, xhats):
        pts = torch.cat([xh, xe, ball])
        for name, value in lipschitz_sups(model(t), truth(t), pts).items():
            lip[name].append(value)

    # W1(f_t, f~_t) and W_mc(t) on a subset of the grid (snapshots included), interpolated
    idx = sorted(set(np.linspace(0, len(grid) - 1, W1_TIMES).round().astype(int).tolist())
                 | {grid.index(t) for t in snaps})
    w1_obs, w1_mc = {}, {}
    for k in idx:
        t = grid[k]
        ref = problem.sample_at(t, n, seeds.CERT_REFERENCE.seed(seed, k))
        w1_obs[k] = _w1(xhats[k], ref, seed)
        w1_mc[k] = _w1(exact[k], ref, seed)
    kk = np.array(idx, dtype=float)
    w1_obs_all = np.interp(np.arange(len(grid)), kk, [w1_obs[k] for k in idx])
    w1_mc_all = np.interp(np.arange(len(grid)), kk, [w1_mc[k] for k in idx])

    # population score error delta_2^2 on fresh exact samples (corrected Theorem 2)
    d2_pop = []
    for k, t in enumerate(grid):
        y = problem.sample_at(t, 2_000, seeds.CERT_POPULATION.seed(seed, k))
        with torch.no_grad():
            d2_pop.append(float(((model(t)(y) - problem.score(y, t)) ** 2).sum(-1).mean()))

    a_written = [2 * alpha * ls + 2 + 2 * c1 * lg**2 + c2 for ls, lg in zip(lip["L_s"], lip["L_g"])]
    a_fixed = [2 * alpha * ls + 2 + 2 * c1 * lg**2 + 2 * c2 * ls**2 for ls, lg in zip(lip["L_s"], lip["L_g"])]
    src_written = [b * e + p for e, p in zip(series["d2N"], series["phys"])]
    src_fixed = [c1 * (2 * e + dp) + 2 * c2 * ls**2 * wm**2 + p
                 for e, dp, ls, wm, p in zip(series["d2N"], d2_pop, lip["L_s"], w1_mc_all, series["phys"])]
    thm4 = [max(e, 0.0) + 2 * lt * w for e, lt, w in zip(series["eism"], lip["L_t"], w1_obs_all)]
    src5 = [b * th + p for th, p in zip(thm4, series["phys"])]
    log_e2 = log_gronwall(grid, a_written, src_written)
    log_e2c = log_gronwall(grid, a_fixed, src_fixed)
    log_e5 = log_gronwall(grid, a_written, src5)

    rows = []
    for k, t in enumerate(grid):
        snap = any(abs(t - s) < 1e-12 for s in snaps)
        consts = {"R": R, "lambda2": lam2, "L_A": l_a, **{name: vals[k] for name, vals in lip.items()}}
        if k > 0:
            for name, log_y in (("thm2_trajectory", log_e2[k]), ("thm2_trajectory_corrected", log_e2c[k])):
                rows.append(_row(t, name, _exp(log_y), series["E"][k], snap, consts, log_y / math.log(10)))
        if k in w1_obs and k > 0:
            log_w = np.logaddexp(0.5 * log_e5[k], math.log(max(w1_mc[k], 1e-300)))
            rows.append(_row(t, "thm5_w1", _exp(log_w), w1_obs[k], snap, consts, log_w / math.log(10)))
        if not snap:
            continue
        rows.append(_row(t, "thm4_score", thm4[k], series["d2N"][k], snap, consts))
        rhs, lhs, se = lemma2_terms(model(t), problem, t, n_lemma, seeds.CERT_LEMMA2.seed(seed, k))
        rows.append(_row(t, "lemma2", rhs, lhs, snap, consts, mc_se=se, holds=abs(rhs - lhs) <= 3 * se))
        bound, observed = thm6_terms(xhats[k], series["E"][k], problem, t)
        rows.append(_row(t, "thm6_kde", bound, observed, snap, consts))
    return rows


def lemma2_terms(score_fn, problem: Problem, t: float, m: int, seed: int) -> tuple[float, float, float]:
    """(L_ISM(s_theta) - L_ISM(s), delta_2^2, Monte Carlo s.e. of their difference) on m exact samples of
    f_t (Lemma 2: the two are equal in expectation; paired on the same samples)."""
    y = problem.sample_at(t, m, seed)
    lhs = ((score_fn(y) - problem.score(y, t)) ** 2).sum(-1).detach()
    rhs = ism_integrand(score_fn, y) - ism_integrand(lambda x: problem.score(x, t), y)
    return float(rhs.mean()), float(lhs.mean()), float((rhs - lhs).std() / math.sqrt(m))


def thm6_terms(x: torch.Tensor, traj_err: float, problem: Problem, t: float, eps: float | None = None
               ) -> tuple[float, float]:
    """(bound, observed) of Theorem 6 (A.1-A.4) for the Gaussian KDE of x with bandwidth eps, on the
    problem's evaluation box: bound = 3 (||K_eps*f - f||^2 + ||K||^2/(N eps^d) + eps^-(d+2) ||grad K||^2 E),
    observed = ||fhat - f||^2 (Riemann sums over the grid)."""
    eps = problem.kde_bandwidth if eps is None else eps
    n, d = x.shape
    k_norm, grad_k_norm = gaussian_kernel_norms(d)
    pts_grid, axes = problem.eval_grid()
    vol = problem.grid_cell_volume()
    exact_f = problem.density(pts_grid, t)
    fhat = metrics.kde_on_axes(x, axes, eps).reshape(-1)
    observed = float(((fhat - exact_f) ** 2).sum() * vol)
    bias = float(((metrics.smoothed_on_grid(problem, t, eps) - exact_f) ** 2).sum() * vol)
    return 3 * (bias + k_norm / (n * eps**d) + eps ** -(d + 2) * grad_k_norm * traj_err), observed


def _exp(log_y: float) -> float:
    return math.exp(log_y) if log_y < 709 else float("inf")
