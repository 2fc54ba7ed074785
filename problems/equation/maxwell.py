"""Exact facts of the Maxwell case (gamma = 0) that hold for any density f.

* Mean-field drift, A(z) = C(|z|^2 I - z z^T): with mean m, covariance Sigma, T = tr Sigma, u = v - m,
      U[f](v) = -C [ ((|u|^2 + T) I - u u^T - Sigma) s(v) + (d - 1) u ].
  Derivation: int A(v - w) f(w) dw = C((|u|^2 + T) I - u u^T - Sigma) and, by parts,
  int A(v - w) grad f(w) dw = int (div A)(v - w) f(w) dw = -(d - 1) C u.
* Covariance relaxation (moment closure of d/dt E[phi] with phi quadratic):
      Sigma(t) = Sigma_inf + (Sigma0 - Sigma_inf) exp(-4 C d (t - t0)),  Sigma_inf = tr(Sigma0)/d I,
  while the mean is conserved.
"""
from __future__ import annotations

import math

import torch


def maxwell_mean_field_drift(
    v: torch.Tensor, s: torch.Tensor, mean: torch.Tensor, cov: torch.Tensor, C: float
) -> torch.Tensor:
    """U[f](v) = -C [((|u|^2 + tr Sigma) I - u u^T - Sigma) s + (d - 1) u], u = v - mean.

    v, s: (..., d) points and the exact score there; mean (d,), cov (d, d) of f.
    """
    d = v.shape[-1]
    u = v - mean.to(v)
    cov = cov.to(v)
    u2 = (u * u).sum(-1, keepdim=True)
    us = (u * s).sum(-1, keepdim=True)
    m_s = (u2 + torch.trace(cov)) * s - u * us - s @ cov.T
    return -C * (m_s + (d - 1) * u)


def maxwell_covariance(cov0: torch.Tensor, C: float, t: float, t0: float = 0.0) -> torch.Tensor:
    """Sigma(t) = Sigma_inf + (Sigma0 - Sigma_inf) exp(-4 C d (t - t0)), Sigma_inf = tr(Sigma0)/d I."""
    d = cov0.shape[-1]
    cov_inf = torch.trace(cov0) / d * torch.eye(d, dtype=cov0.dtype)
    return cov_inf + (cov0 - cov_inf) * math.exp(-4.0 * C * d * (t - t0))
