"""Implicit score matching (Hyvarinen; paper eq. 2.10 and Lemma 2) with the exact divergence.

    L_ISM(s) = (1/N) sum_i ( |s(v_i)|^2 + 2 div s(v_i) ),   E_f[L_ISM] = E_f|s - grad log f|^2 - E_f|grad log f|^2.

The divergence is exact: d reverse-mode passes (d <= 3 here), one per output component.
"""
from __future__ import annotations

from typing import Callable

import torch


def divergence(fn: Callable[[torch.Tensor], torch.Tensor], v: torch.Tensor, create_graph: bool = True
               ) -> tuple[torch.Tensor, torch.Tensor]:
    """(fn(v), div_v fn(v)) for a pointwise map fn: (..., d) -> (..., d), exact by autograd."""
    v = v.detach().requires_grad_(True)
    out = fn(v)
    div = torch.zeros(out.shape[:-1], dtype=out.dtype, device=out.device)
    for k in range(v.shape[-1]):
        (g,) = torch.autograd.grad(out[..., k].sum(), v, create_graph=create_graph, retain_graph=True)
        div = div + g[..., k]
    return out, div


def ism_loss(fn: Callable[[torch.Tensor], torch.Tensor], v: torch.Tensor, create_graph: bool = True) -> torch.Tensor:
    """Mean of |s(v)|^2 + 2 div s(v) over the particles v (the last two axes are N, d)."""
    s, div = divergence(fn, v, create_graph)
    return ((s * s).sum(-1) + 2 * div).mean()
