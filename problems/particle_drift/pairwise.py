"""The blockwise O(N^2) particle drift for any gamma: the autograd-friendly reference path.

    U_i = -(C/N) sum_{j != i} |z|^gamma (|z|^2 w - z (z . w)),  z = v_i - v_j, w = s_i - s_j.

Memory is bounded: at most `block_bytes` of (rows x N x d) temporaries, never N x N x d x d.
`problems.drift` dispatches here, and the fused kernels fall back here; this module imports
neither of them.
"""
from __future__ import annotations

import torch

from problems.equation.kernel import kernel_apply

#: memory budget of one block of pair temporaries in the pairwise path (bytes)
DEFAULT_BLOCK_BYTES = 64 * 2**20


def _rows_per_block(n: int, d: int, itemsize: int, batch: int, block_bytes: int) -> int:
    """Rows per block so that ~6 temporaries of shape (batch, rows, N, d) fit the budget."""
    per_row = 6 * max(batch, 1) * n * d * itemsize
    return max(1, min(n, block_bytes // max(per_row, 1)))


def pairwise_drift(
    v: torch.Tensor,
    s: torch.Tensor,
    gamma: float,
    C: float,
    block_bytes: int = DEFAULT_BLOCK_BYTES,
) -> torch.Tensor:
    """Blockwise O(N^2) drift for any gamma with bounded memory; self term excluded.

    U_i = -(C/N) sum_{j != i} |z|^gamma (|z|^2 w - z (z . w)),  z = v_i - v_j, w = s_i - s_j.
    The pairwise difference stays inside the sum (no GEMM split), which keeps float32 accurate.
    """
    n, d = v.shape[-2], v.shape[-1]
    batch = int(torch.tensor(v.shape[:-2]).prod().item()) if v.dim() > 2 else 1
    rows = _rows_per_block(n, d, v.element_size(), batch, block_bytes)
    out = torch.empty_like(v)
    vj = v.unsqueeze(-3)  # (..., 1, N, d)
    sj = s.unsqueeze(-3)
    for start in range(0, n, rows):
        stop = min(start + rows, n)
        z = v[..., start:stop, None, :] - vj  # (..., rows, N, d)
        w = s[..., start:stop, None, :] - sj
        out[..., start:stop, :] = kernel_apply(z, w, gamma, 1.0).sum(dim=-2)
    return -(C / n) * out
