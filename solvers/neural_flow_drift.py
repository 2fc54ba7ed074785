"""Two named options of neural_flow (issue 41): the drift estimator its velocity is fitted to, and an affine
conservation correction of the flow's field.

drift_estimator = 'by_parts' (gamma = 0 only). For Maxwell molecules A(z) = C (|z|^2 I - z z^T), and after one
integration by parts in w (div_w A(v - w) = (d - 1) C (v - w)) the Landau velocity is local in the score:

    U[f](v) = -int A(v - w) (s(v) - s(w)) f(w) dw = -Abar(v) s(v) - (d - 1) C (v - m),
    Abar(v) = int A(v - w) f(w) dw = C [ (|v - m|^2 + tr Sigma) I - (v - m)(v - m)^T - Sigma ],

m, Sigma the mean and covariance of f. `by_parts_drift` estimates it with the particles' mean and covariance (1/N):
particle i's drift needs its own score only, so one wild carried score (a compressed tail particle) no longer enters
every particle's drift through the score moments of the pair form (problems.drift, 'pairs'). Both estimate the same
U; they agree exactly when the scores satisfy the empirical Stein identities up to degree 2,
(1/N) sum_j g(v_j) s_j = -(1/N) sum_j div g(v_j) for every polynomial g of degree <= 2 (e.g. a sample symmetric about
its mean with the sample-Gaussian score s_j = -Sigma_N^-1 (v_j - m_N)). Unlike the pair form it does not conserve the
ensemble's momentum and energy exactly.

conserve = 'affine'. The field u of the ensemble x_1..x_N is replaced by

    u'(x) = u(x) - a - lambda (x - m),  m = mean x_i,  a = mean u(x_i),
    lambda = sum_i (x_i - m) . (u(x_i) - a) / sum_i |x_i - m|^2,

so sum_i u'_i = 0 and sum_i x_i . u'_i = 0: the ensemble's momentum and energy do not change along the flow (exactly
in continuous time, up to RK4's O(h^4) error per unit time). a, lambda and m are constants of the field at that time
(not differentiated in x): grad u' = grad u - lambda I, div u' = div u - d lambda, grad(div u') = grad(div u), so the
carried log f, score and log det J are exact for the corrected field and det J stays > 0.
"""
from __future__ import annotations

import torch

from problems import drift

DRIFT_ESTIMATORS = ("pairs", "by_parts")
CONSERVE = ("none", "affine")


def by_parts_drift(v: torch.Tensor, s: torch.Tensor, C: float) -> torch.Tensor:
    """U_i = -Abar(v_i) s_i - (d - 1) C (v_i - m) for v, s (..., N, d) (module docstring; gamma = 0), m and Sigma the
    particles' mean and covariance (normalised by N); returns (..., N, d)."""
    d = v.shape[-1]
    m = v.mean(dim=-2, keepdim=True)
    vc = v - m
    sigma = vc.transpose(-1, -2) @ vc / v.shape[-2]  # (..., d, d)
    tr = torch.diagonal(sigma, dim1=-2, dim2=-1).sum(-1)[..., None, None]  # (..., 1, 1)
    r2 = (vc * vc).sum(-1, keepdim=True)  # (..., N, 1)
    abar_s = (r2 + tr) * s - vc * (vc * s).sum(-1, keepdim=True) - s @ sigma  # Sigma symmetric
    return -C * abar_s - (d - 1) * C * vc


def landau_drift(v: torch.Tensor, s: torch.Tensor, gamma: float, C: float, estimator: str) -> torch.Tensor:
    """The drift U[v, s] (..., N, d) by the named estimator: 'pairs' (problems.drift, paper eq. 2.7) or 'by_parts'
    (gamma = 0 only); ValueError naming the bad estimator or gamma otherwise."""
    if estimator == "pairs":
        return drift(v, s, gamma, C)
    if estimator != "by_parts":
        raise ValueError(f"drift_estimator={estimator!r}; valid: {', '.join(DRIFT_ESTIMATORS)}")
    if gamma != 0:
        raise ValueError(f"drift_estimator='by_parts' needs gamma = 0 (Maxwell), got gamma={gamma:g}; use 'pairs'")
    return by_parts_drift(v, s, C)


def affine_shift(x: torch.Tensor, u: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(a (1, d), lambda (scalar tensor), m (1, d)) of the correction u' = u - a - lambda (x - m) for the ensemble
    x, u (N, d) (module docstring), detached."""
    x, u = x.detach(), u.detach()
    m = x.mean(dim=0, keepdim=True)
    a = u.mean(dim=0, keepdim=True)
    xc = x - m
    lam = (xc * (u - a)).sum() / (xc * xc).sum().clamp_min(torch.finfo(x.dtype).tiny)
    return a, lam, m


def corrected_field(field):
    """The VelocityField (solvers.characteristics_rk4) x (N, d), t -> (u', D') of the affine correction of `field` over
    the ensemble x it is called on: u' = u - a - lambda (x - m), D' = D - lambda I."""
    def out(x: torch.Tensor, t: float):
        u, d = field(x, t)
        a, lam, m = affine_shift(x, u)
        eye = torch.eye(x.shape[-1], dtype=x.dtype, device=x.device)
        return u - a - lam * (x - m), d - lam * eye
    return out


def corrected_velocity(velocity):
    """The Velocity x (N, d), t -> u' (N, d) of the affine correction of `velocity` over the ensemble x."""
    def out(x: torch.Tensor, t: float) -> torch.Tensor:
        u = velocity(x, t)
        a, lam, m = affine_shift(x, u)
        return u - a - lam * (x - m)
    return out
