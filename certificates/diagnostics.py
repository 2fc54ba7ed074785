"""Where a trained solver's error comes from, measured: the three sources of the paper's Theorem 1.

Evaluated at each snapshot t > t0 on one run's probe (`solvers.probe`), as metric rows {t, metric, value,
reference}:

    residual_to_signal = sum_i |d/dt xhat_i - U_theta(xhat_i)|^2 / sum_i |U_theta(xhat_i)|^2      (flow maps only)
        xhat = Phi(V, t) on the harness's held-out initial particles V, U_theta the particle drift (eq. 2.7)
        built from the learned score at xhat: the physics residual delta_phys^2 of Theorem 1 in units of
        the signal it should match. 1 means the flow does not follow its own drift at all.
    residual_to_exact  = sum_i |d/dt xhat_i - U[s](xhat_i)|^2 / sum_i |U[s](xhat_i)|^2   (flow maps, true score known)
        the same against the drift built from the true score s at the flow's particles: whether the flow follows
        the true dynamics (what `drift_score=exact` trains it to do).
    score_rel_err      = ( sum_j |s_theta(y_j) - s(y_j)|^2 / sum_j |s(y_j)|^2 )^(1/2)
    drift_rel_err      = ( sum_j |U[s_theta](y_j) - U[s](y_j)|^2 / sum_j |U[s](y_j)|^2 )^(1/2)
        y_j i.i.d. samples of the true f_t (exact, or the reference's), s its score, U[.] the particle drift
        of eq. 2.7 on the ensemble y: the score error delta_2 of Theorem 1 and what it does to the dynamics.
        For gamma = 0, A(z) z = 0, so U sees only the non-Gaussian part of s (README, PINN-PM diagnosis): a small
        score_rel_err can still be a drift_rel_err of O(1).
    ism_flow           = (1/N) sum_i |s_theta(xhat_i)|^2 + 2 div s_theta(xhat_i)   (the ISM loss as trained)
    ism_min            = -(1/M) sum_j |s(y_j)|^2   (the ISM loss's true minimum, -E|grad log f_t|^2)
        ism_flow below ism_min means the push-forward is sharper than f_t and the score is faithful to a
        wrong density.

The true-score rows need a problem with an exact score or a reference with one (`problems.true_score`:
BKW exactly; anisotropic2d and rosenbluth3d through their grid and radial references).
"""
from __future__ import annotations

import math

import torch

from metrics.specs import MetricSpec, register_metric
from problems import drift, true_score
from infra import seeds
from infra.rows import MetricRow

from certificates.constants import ism_integrand

#: the diagnostic rows, registered with the metrics (computed here, not per snapshot: compute=None), each with its
#: domain (metrics.specs.DOMAINS): the residuals and relative errors are ratios of squared norms (>= 0), ism_min is
#: minus a mean square (<= 0), ism_flow = |s|^2 + 2 div s has either sign; a stored value outside it is a damaged
#: record (harness.store.record)
DIAGNOSTIC_METRICS = tuple(register_metric(MetricSpec(name, what, None, better=better, scale=scale, show="diagnosis",
                                                      family="diagnostic", domain=domain)).name
                           for name, what, better, scale, domain in (
    ("residual_to_signal", "|d/dt xhat - U_theta|^2 / |U_theta|^2 on the flow's particles", "lower", "log",
     "non_negative"),
    ("residual_to_exact", "|d/dt xhat - U[s]|^2 / |U[s]|^2, U[s] the drift of the true score", "lower", "log",
     "non_negative"),
    ("score_rel_err", "relative L2 error of the learned score on true samples", "lower", "log", "non_negative"),
    ("drift_rel_err", "relative L2 error of the drift built from the learned score on true samples", "lower", "log",
     "non_negative"),
    ("ism_flow", "the ISM loss on the flow's particles (as trained)", "", "linear", "real"),
    ("ism_min", "the ISM loss's true minimum, -E|grad log f_t|^2", "", "linear", "non_positive")))
N_TRUE = 1_000  # true samples per snapshot for the score and drift errors


def _ratio(num: float, den: float) -> float:
    return num / den if den > 0 else float("nan")


def training_diagnostics(probe, problem, judged, seed: int, flow_map: bool, reference_kind: str = "",
                         n_true: int = N_TRUE) -> list[dict]:
    """The module docstring's rows for one run at each snapshot t > t0 (see there). `judged`: the problem to
    draw true samples and scores from (a Problem or problems.ReferencedProblem; None: the true-score rows
    are left out); `flow_map`: whether the probe's path is a flow map (only then residual_to_signal)."""
    f64 = torch.float64
    rows = []

    def add(t, name, value, ref=""):
        rows.append(MetricRow(float(t), name, float(value), ref).to_json())

    for k, t in enumerate(sorted(t for t in problem.snapshot_times if t > problem.t0)):
        x = probe.positions(t).detach().to("cpu", f64)
        model = lambda v, t=t: probe.score(v, t).to("cpu", f64)
        score = true_score(judged, t) if judged is not None else None
        if flow_map:
            with torch.no_grad():
                velocity = probe.velocity(t).detach().to("cpu", f64)
                u = drift(x, model(x), problem.gamma, problem.C)
                add(t, "residual_to_signal", _ratio(float(((velocity - u) ** 2).sum()), float((u ** 2).sum())))
                if score is not None:
                    u = drift(x, score(x).to(f64), problem.gamma, problem.C)
                    add(t, "residual_to_exact", _ratio(float(((velocity - u) ** 2).sum()), float((u ** 2).sum())),
                        reference_kind)
        add(t, "ism_flow", float(ism_integrand(model, x).mean()))
        if score is None:
            continue
        y = judged.sample_at(t, n_true, seeds.DIAGNOSIS_SAMPLES.seed(seed, k)).to(f64)
        with torch.no_grad():
            s_true, s_model = score(y).to(f64), model(y)
            u_true = drift(y, s_true, problem.gamma, problem.C)
            u_model = drift(y, s_model, problem.gamma, problem.C)
        add(t, "score_rel_err", math.sqrt(_ratio(float(((s_model - s_true) ** 2).sum()), float((s_true ** 2).sum()))),
            reference_kind)
        add(t, "drift_rel_err", math.sqrt(_ratio(float(((u_model - u_true) ** 2).sum()), float((u_true ** 2).sum()))),
            reference_kind)
        add(t, "ism_min", -float((s_true ** 2).sum(-1).mean()), reference_kind)
    return rows
