"""Fused O(N^2) drift kernels for gamma != 0: no (rows x N x d) temporaries in memory.

    U_i = -(C/N) sum_{j != i} |z|^gamma (|z|^2 w - (z . w) z),   z = v_i - v_j,  w = s_i - s_j.

* CPU: `torch.compile` (inductor) of a row-block formulation; inductor fuses the pair terms and
  the sum over j into one loop nest, so the (rows, N, d) broadcasts are never materialised.
  Compiled once per (d, dtype, gamma) with symbolic N (dynamic shapes), cached by inductor on disk; below
  `CPU_MIN_N` particles, or if compilation fails, the blockwise reference is used instead.
* CUDA: a Triton kernel (`problems.particle_drift.triton_kernel`) when Triton is importable; otherwise the
  blockwise reference.

No autograd: the fused paths are for particles and scores that do not require grad (stepping,
inference). `problems.drift` picks them automatically (`fused_available`).
"""
from __future__ import annotations

import warnings

import torch

from infra.env import SettingError, fused_min_n
from problems.particle_drift import usage
from problems.particle_drift.pairwise import pairwise_drift

#: smallest N for which the compiled CPU kernel is used (compilation costs about 12 s once per process with an empty
#: inductor cache, about 2 s per further kernel). At N = 1,000 (sbp and blob in the quick profile) one drift takes
#: 2.2 ms compiled against 84 ms blockwise (2D, float64, one thread; 3D 2.3 vs 111 ms): 200 steps repay it
#: ($LANDAU_FUSED_MIN_N, infra/env.py; None when malformed: a kernel choice then raises its one-line SettingError)
try:
    CPU_MIN_N = fused_min_n()
except SettingError:
    CPU_MIN_N = None
#: rows of v_i per compiled block
BLOCK_ROWS = 64

_compiled: dict = {}
_disabled: set = set()


def _pair_block(vi: torch.Tensor, si: torch.Tensor, vt: torch.Tensor, st: torch.Tensor, gamma: float) -> torch.Tensor:
    """sum_j |z|^gamma (|z|^2 w - (z.w) z) for rows vi, si (R, d) against all particles given
    transposed, vt, st (d, N). Written component by component (d is unrolled), so that inductor
    emits one loop nest with d fused reductions over j and no (R, N, d) buffers."""
    d = vi.shape[1]
    z = [vi[:, k:k + 1] - vt[k:k + 1] for k in range(d)]
    w = [si[:, k:k + 1] - st[k:k + 1] for k in range(d)]
    r2, zw = z[0] * z[0], z[0] * w[0]
    for k in range(1, d):
        r2 = r2 + z[k] * z[k]
        zw = zw + z[k] * w[k]
    if gamma == -3.0:
        inv = torch.rsqrt(r2)
        weight = inv * inv * inv
    else:
        weight = torch.exp((gamma / 2) * torch.log(r2))
    weight = torch.where(r2 > 0, weight, torch.zeros_like(weight))
    a, b = weight * r2, weight * zw
    return torch.stack([(a * w[k] - b * z[k]).sum(1) for k in range(d)], dim=1)


def _kernel(gamma: float):
    key = float(gamma)
    if key not in _compiled:
        _compiled[key] = torch.compile(lambda vi, si, vt, st: _pair_block(vi, si, vt, st, key), dynamic=True,
                                       fullgraph=True)
    return _compiled[key]


def fused_available(v: torch.Tensor, s: torch.Tensor, gamma: float) -> bool:
    """True if a fused kernel applies: gamma != 0, no grad, 2-D (N, d) input, and CUDA+Triton or CPU with N >= CPU_MIN_N."""
    if gamma == 0 or v.dim() != 2 or (torch.is_grad_enabled() and (v.requires_grad or s.requires_grad)):
        return False
    if v.is_cuda:
        from problems.particle_drift import triton_kernel as triton_drift
        return triton_drift.available()
    return cpu_kernel_applies((v, s), ("cpu", v.dtype, gamma), _disabled)


def cpu_kernel_applies(tensors: tuple, key, disabled: set) -> bool:
    """The one rule for a compiled CPU row-block kernel (the drift's here, the blob score's in solvers/blob.py):
    tensors (N, d) on the CPU with N >= CPU_MIN_N, none of them requiring grad while autograd records, and `key`
    not in `disabled` (the kernels whose compilation failed in this process)."""
    v = tensors[0]
    if CPU_MIN_N is None:
        fused_min_n()  # raises SettingError naming the malformed value and the allowed ones
    return (v.device.type == "cpu" and v.dim() == 2 and v.shape[0] >= CPU_MIN_N and key not in disabled
            and not (torch.is_grad_enabled() and any(t.requires_grad for t in tensors)))


def fused_drift(v: torch.Tensor, s: torch.Tensor, gamma: float, C: float) -> torch.Tensor:
    """The drift by the fused kernel of v's device (see module docstring); v, s of shape (N, d). Counts the kernel
    that computed it (`problems.particle_drift.usage`; the blockwise sum after a failed compilation)."""
    if v.is_cuda:
        from problems.particle_drift.triton_kernel import triton_drift
        usage.note(usage.DRIFT_TRITON)
        return triton_drift(v, s, gamma, C)
    n = v.shape[0]
    try:
        out = in_row_blocks(_kernel(gamma), (v, s), (v.T.contiguous(), s.T.contiguous()))
    except Exception as exc:  # compiler missing or failing: remember and fall back
        _disabled.add(("cpu", v.dtype, gamma))
        warnings.warn(f"compiled CPU drift unavailable ({type(exc).__name__}: {exc}); using the blockwise sum")
        usage.note(usage.DRIFT_BLOCKWISE)
        return pairwise_drift(v, s, gamma, C)
    usage.note(usage.DRIFT_COMPILED_CPU)
    return -(C / n) * out


def in_row_blocks(fn, rows: tuple, shared: tuple) -> torch.Tensor:
    """fn(*row_blocks, *shared) on blocks of BLOCK_ROWS rows of the tensors `rows` (each (N, ...)), stacked back
    to (N, ...). The rows are padded with copies of the first to a multiple of BLOCK_ROWS, so that a compiled fn
    sees one block shape; the padded rows' results are dropped. No autograd."""
    n = rows[0].shape[0]
    pad = (-n) % BLOCK_ROWS
    padded = [torch.cat([r, r[:1].expand(pad, *r.shape[1:])]) if pad else r for r in rows]
    blocks = []
    with torch.no_grad():
        for start in range(0, n + pad, BLOCK_ROWS):
            blocks.append(fn(*(p[start:start + BLOCK_ROWS] for p in padded), *shared))
    return torch.cat(blocks)[:n]
