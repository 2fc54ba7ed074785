"""The Landau particle drift (paper eq. 2.7).

    U_i = -(1/N) sum_j A(v_i - v_j) (s_i - s_j),    A(z) = C |z|^gamma (|z|^2 I - z z^T).

For any scores s it conserves momentum (sum_i U_i = 0) and energy (sum_i v_i . U_i = 0).

* gamma = 0 (Maxwell): exact O(N d^2) moment form, no pairs (see `maxwell_drift`).
* otherwise: blockwise O(N^2) sum over rows with bounded memory: at most `block_bytes` of
  (rows x N x d) temporaries, never N x N x d x d. The self term j = i is zero.

All functions accept leading batch dimensions: v and s of shape (..., N, d), so that a batch of
collocation times (PINN-PM) is one call.
"""
from __future__ import annotations

import torch

from problems.particle_drift.fused import fused_available, fused_drift
from problems.equation.kernel import kernel_apply
from problems.particle_drift.pairwise import DEFAULT_BLOCK_BYTES, pairwise_drift
from problems.particle_drift import usage

__all__ = ["DEFAULT_BLOCK_BYTES", "drift", "maxwell_drift", "naive_pairwise_drift", "pairwise_drift"]


def maxwell_drift(v: torch.Tensor, s: torch.Tensor, C: float) -> torch.Tensor:
    """Exact gamma = 0 drift in O(N d^2) from centred moments (no N x N pairs).

    With v and s centred (the drift depends only on differences, so shifting either changes
    nothing), Q = sum |v_j|^2, P = sum v_j . s_j, Mvv = sum v_j v_j^T, Msv = sum s_j v_j^T,
    Mvs = Msv^T and A0(z) w = |z|^2 w - z (z . w):

        U_i = -(C/N) [ N A0(v_i) s_i + (Q I - Mvv) s_i - sum_j A0(v_j) s_j
                       + (2 Msv - Mvs - P I) v_i ].
    """
    n = v.shape[-2]
    vc = v - v.mean(dim=-2, keepdim=True)
    sc = s - s.mean(dim=-2, keepdim=True)
    a0 = kernel_apply(vc, sc, 0.0, 1.0)  # A0(v_i) s_i, (..., N, d)
    q = (vc * vc).sum(dim=(-2, -1))  # (...)
    p = (vc * sc).sum(dim=(-2, -1))  # (...)
    mvv = vc.transpose(-1, -2) @ vc  # (..., d, d) = sum v v^T
    msv = sc.transpose(-1, -2) @ vc  # (..., d, d) = sum s v^T
    a0_sum = a0.sum(dim=-2, keepdim=True)  # (..., 1, d)
    # row-vector convention: (M x)^T = x^T M^T
    term = n * a0 + q[..., None, None] * sc - sc @ mvv.transpose(-1, -2) - a0_sum
    mix = 2.0 * msv - msv.transpose(-1, -2)  # 2 Msv - Mvs
    term = term + vc @ mix.transpose(-1, -2) - p[..., None, None] * vc
    return -(C / n) * term


def drift(
    v: torch.Tensor,
    s: torch.Tensor,
    gamma: float,
    C: float,
    block_bytes: int = DEFAULT_BLOCK_BYTES,
    fused: bool = True,
) -> torch.Tensor:
    """Particle drift of paper eq. 2.7 for particles v and scores s, both (..., N, d).

    U_i = -(1/N) sum_j A(v_i - v_j)(s_i - s_j). gamma = 0 uses the exact O(N d^2) moment form.
    Any other gamma: the fused kernel (`problems.particle_drift.fused`: compiled on CPU for N >= fused.CPU_MIN_N = 512,
    Triton on CUDA) when nothing needs gradients and `fused` is True, else the blockwise
    pairwise sum (autograd-friendly). Works on CPU and CUDA, float32 and float64. Each call counts the kernel it
    used (`problems.particle_drift.usage`).
    """
    if v.shape != s.shape:
        raise ValueError(f"v and s must have the same shape, got {tuple(v.shape)} and {tuple(s.shape)}")
    if v.dim() < 2:
        raise ValueError(f"v must have shape (..., N, d), got {tuple(v.shape)}")
    if gamma == 0:
        usage.note(usage.DRIFT_MAXWELL)
        return maxwell_drift(v, s, C)
    if fused and fused_available(v, s, gamma):
        return fused_drift(v, s, gamma, C)  # counts the kernel it used
    usage.note(usage.DRIFT_BLOCKWISE)
    return pairwise_drift(v, s, gamma, C, block_bytes)


def naive_pairwise_drift(v: torch.Tensor, s: torch.Tensor, gamma: float, C: float) -> torch.Tensor:
    """Reference O(N^2 d^2) drift forming every A(v_i - v_j) matrix. Small N, tests only."""
    from problems.equation.kernel import kernel_matrix

    z = v[:, None, :] - v[None, :, :]
    w = s[:, None, :] - s[None, :, :]
    a = kernel_matrix(z, gamma, C)  # (N, N, d, d)
    return -(a @ w[..., None]).squeeze(-1).sum(1) / v.shape[0]
