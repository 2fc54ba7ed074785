"""Triton kernel of the O(N^2) drift on CUDA (gamma != 0), tested on the CPU by Triton's interpreter.

Each program owns BLOCK_I particles i and keeps their three accumulators in registers while it
sweeps all j in tiles of BLOCK_J:

    acc_i += sum_j |z|^gamma (|z|^2 w - (z . w) z),   z = v_i - v_j, w = s_i - s_j,

with |z|^-3 = rsqrt(|z|^2)^3 for Coulomb and exp(gamma/2 log |z|^2) otherwise; the pair j = i
(and padding) contributes 0. About 35 flops per pair; nothing of size N x N is stored.
2-D inputs are padded to 3-D with a zero component (which changes nothing: the third
component of A(z) w is 0 when z and w have none). Set TRITON_INTERPRET=1 to run it on CPU tensors.
"""
from __future__ import annotations

import os

import torch

try:  # Triton is optional: CUDA wheels of torch bring it; CPU installs may add it for the interpreter
    import triton
    import triton.language as tl
except ImportError:  # pragma: no cover - exercised where triton is absent
    triton = None

BLOCK_I = 64
BLOCK_J = 128


def available() -> bool:
    """True if Triton is importable (CUDA tensors) or TRITON_INTERPRET=1 is set (CPU tensors)."""
    return triton is not None


if triton is not None:

    @triton.jit
    def _drift_kernel(v_ptr, s_ptr, out_ptr, n, half_gamma, scale,
                      COULOMB: tl.constexpr, BI: tl.constexpr, BJ: tl.constexpr):
        pid = tl.program_id(0)
        i = pid * BI + tl.arange(0, BI)
        mi = i < n
        vi0 = tl.load(v_ptr + i * 3 + 0, mask=mi, other=0.0)
        vi1 = tl.load(v_ptr + i * 3 + 1, mask=mi, other=0.0)
        vi2 = tl.load(v_ptr + i * 3 + 2, mask=mi, other=0.0)
        si0 = tl.load(s_ptr + i * 3 + 0, mask=mi, other=0.0)
        si1 = tl.load(s_ptr + i * 3 + 1, mask=mi, other=0.0)
        si2 = tl.load(s_ptr + i * 3 + 2, mask=mi, other=0.0)
        acc0 = tl.zeros([BI], dtype=vi0.dtype)
        acc1 = tl.zeros([BI], dtype=vi0.dtype)
        acc2 = tl.zeros([BI], dtype=vi0.dtype)
        for start in range(0, n, BJ):
            j = start + tl.arange(0, BJ)
            mj = j < n
            z0 = vi0[:, None] - tl.load(v_ptr + j * 3 + 0, mask=mj, other=0.0)[None, :]
            z1 = vi1[:, None] - tl.load(v_ptr + j * 3 + 1, mask=mj, other=0.0)[None, :]
            z2 = vi2[:, None] - tl.load(v_ptr + j * 3 + 2, mask=mj, other=0.0)[None, :]
            w0 = si0[:, None] - tl.load(s_ptr + j * 3 + 0, mask=mj, other=0.0)[None, :]
            w1 = si1[:, None] - tl.load(s_ptr + j * 3 + 1, mask=mj, other=0.0)[None, :]
            w2 = si2[:, None] - tl.load(s_ptr + j * 3 + 2, mask=mj, other=0.0)[None, :]
            r2 = z0 * z0 + z1 * z1 + z2 * z2
            zw = z0 * w0 + z1 * w1 + z2 * w2
            keep = (r2 > 0) & mj[None, :]
            safe = tl.where(keep, r2, 1.0)
            if COULOMB:
                inv = tl.math.rsqrt(safe)
                wt = inv * inv * inv
            else:
                wt = tl.exp(half_gamma * tl.log(safe))
            wt = tl.where(keep, wt, 0.0)
            acc0 += tl.sum(wt * (r2 * w0 - zw * z0), axis=1)
            acc1 += tl.sum(wt * (r2 * w1 - zw * z1), axis=1)
            acc2 += tl.sum(wt * (r2 * w2 - zw * z2), axis=1)
        tl.store(out_ptr + i * 3 + 0, acc0 * scale, mask=mi)
        tl.store(out_ptr + i * 3 + 1, acc1 * scale, mask=mi)
        tl.store(out_ptr + i * 3 + 2, acc2 * scale, mask=mi)


def triton_drift(v: torch.Tensor, s: torch.Tensor, gamma: float, C: float) -> torch.Tensor:
    """U_i = -(C/N) sum_j A(v_i - v_j)(s_i - s_j) for (N, d) tensors, d in {2, 3}, by the Triton kernel."""
    if triton is None:
        raise RuntimeError("triton is not installed; valid here: problems.pairwise_drift")
    n, d = v.shape
    if d not in (2, 3):
        raise ValueError(f"triton_drift supports d = 2 or 3, got d = {d}")
    if not v.is_cuda and os.environ.get("TRITON_INTERPRET") != "1":
        raise ValueError("triton_drift needs CUDA tensors (or TRITON_INTERPRET=1 for the CPU interpreter)")
    pad = lambda x: torch.nn.functional.pad(x, (0, 3 - d)).contiguous()  # noqa: E731
    v3, s3 = pad(v.detach()), pad(s.detach())
    out = torch.empty_like(v3)
    grid = (triton.cdiv(n, BLOCK_I),)
    _drift_kernel[grid](v3, s3, out, n, gamma / 2, -C / n, COULOMB=gamma == -3.0, BI=BLOCK_I, BJ=BLOCK_J)
    return out[:, :d].contiguous()
