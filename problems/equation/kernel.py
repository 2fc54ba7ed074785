"""The Landau collision kernel A(z) = C |z|^gamma (|z|^2 I - z z^T), applied to vectors.

The d x d matrix is never formed on a hot path: A(z) w = C |z|^gamma (|z|^2 w - z (z . w)).
For gamma < 0 the kernel is singular at z = 0; we define A(0) = 0 (the self term of the
particle sum, where also w = 0), which is the limit for gamma > -2 and the convention of every
particle method in the literature for gamma <= -2.
"""
from __future__ import annotations

import torch


def radial_weight(r2: torch.Tensor, gamma: float) -> torch.Tensor:
    """|z|^gamma computed from r2 = |z|^2, with the value 0 where r2 == 0 (self term).

    gamma = 0 gives exactly 1 everywhere except at r2 == 0, where the kernel vanishes anyway.
    """
    if gamma == 0:
        return torch.ones_like(r2)
    safe = torch.where(r2 > 0, r2, torch.ones_like(r2))
    return torch.where(r2 > 0, safe.pow(0.5 * gamma), torch.zeros_like(r2))


def kernel_apply(z: torch.Tensor, w: torch.Tensor, gamma: float, C: float = 1.0) -> torch.Tensor:
    """Batched A(z) w = C |z|^gamma (|z|^2 w - z (z . w)) over the last axis.

    z and w broadcast against each other with shape (..., d); returns (..., d).
    """
    r2 = (z * z).sum(-1, keepdim=True)
    zw = (z * w).sum(-1, keepdim=True)
    return C * radial_weight(r2, gamma) * (r2 * w - z * zw)


def kernel_matrix(z: torch.Tensor, gamma: float, C: float = 1.0) -> torch.Tensor:
    """The full matrix A(z) of shape (..., d, d). For tests and small diagnostics only."""
    d = z.shape[-1]
    r2 = (z * z).sum(-1)[..., None, None]
    eye = torch.eye(d, dtype=z.dtype, device=z.device)
    outer = z[..., :, None] * z[..., None, :]
    return C * radial_weight(r2, gamma) * (r2 * eye - outer)


def kernel_divergence(z: torch.Tensor, gamma: float, C: float = 1.0) -> torch.Tensor:
    """Row divergence (div A)(z)_k = sum_l d A_kl / d z_l = -(d - 1) C |z|^gamma z."""
    d = z.shape[-1]
    r2 = (z * z).sum(-1, keepdim=True)
    return -(d - 1) * C * radial_weight(r2, gamma) * z
