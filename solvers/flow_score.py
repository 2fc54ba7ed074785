"""The self-consistent score of a flow map: the score of f0 pushed forward by Phi_t, with no score network.

For a map v -> Phi_t(v) with Jacobian J(v) = d Phi_t / dv, the push-forward density is
f_t(Phi_t(v)) = f0(v) / |det J(v)|, so by the chain rule its score at a particle is

    s_t(Phi_t(v)) = J(v)^{-T} ( grad log f0(v) - grad_v log |det J(v)| ).

J is built column by column from d forward-mode passes over the whole batch (torch.func.jvp with tangent e_b);
grad_v log|det J| by one reverse pass through log|det J| summed over the points (each point's J depends on its
own v only, so the gradient of the sum is every point's own gradient). Both are batched over all points; no
(N, N) or per-point Hessian tensor is formed. Every problem states `initial_score` (grad log f0), so this needs
nothing but the flow map.

The same Jacobian gives the change-of-variables density at the particles, f_t(Phi_t(v)) = f0(v) / |det J(v)|
(`pushforward_density`), and the map's validity: det J <= 0 at a point means the map folds there
(`jacobian_determinants`; the harness's `min_det_j` and `fold_fraction`).
"""
from __future__ import annotations

from typing import Callable

import torch
from torch.func import jvp

Flow = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def jacobian(flow: Flow, v0: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """J (..., d, d), J[..., a, b] = d Phi_a / d v_b, of the point-wise map v -> flow(v, t) at every point of
    v0 (..., d) (t broadcastable to v0[..., :1]): d forward-mode passes over the batch, differentiable. A flow that
    writes its forward mode out (`value_and_jacobian`, solvers.pinn_networks.FlowMap) gives it directly (equal at
    round-off; its gradients need first-order autograd only)."""
    if hasattr(flow, "value_and_jacobian"):
        return flow.value_and_jacobian(v0, t)[1]
    d = v0.shape[-1]
    columns = []
    for b in range(d):
        tangent = torch.zeros_like(v0)
        tangent[..., b] = 1.0
        columns.append(jvp(lambda v: flow(v, t), (v0,), (tangent,))[1])
    return torch.stack(columns, dim=-1)


def self_consistent_score(flow: Flow, initial_score: Callable[[torch.Tensor], torch.Tensor], v0: torch.Tensor,
                          t: torch.Tensor, through: bool = False) -> torch.Tensor:
    """s_t(Phi_t(v0)) = J^{-T} (grad log f0(v0) - grad_v log|det J(v0)|) at every point of v0 (..., d) (t
    broadcastable to v0[..., :1]); returns (..., d). through=False returns it detached (no gradient reaches the
    flow's parameters: a fixed point of the drift, the default of drift_score=flow); True keeps the graph."""
    with torch.enable_grad():
        v = v0.detach().clone().requires_grad_(True)  # (an expanded view cannot carry a dual)
        j = jacobian(flow, v, t)
        log_det = torch.linalg.slogdet(j).logabsdet
        grad_log_det = torch.autograd.grad(log_det.sum(), v, create_graph=through)[0] if log_det.requires_grad \
            else torch.zeros_like(v)  # J does not depend on v (an affine map)
        rhs = initial_score(v0.detach()).to(j) - grad_log_det
        s = torch.linalg.solve(j.transpose(-1, -2), rhs.unsqueeze(-1)).squeeze(-1)
    return s if through else s.detach()


def jacobian_determinants(flow: Flow, v0: torch.Tensor, t: torch.Tensor, chunk: int | None = None) -> torch.Tensor:
    """det J(v0) (...,) float64 of the map v -> flow(v, t) at every point of v0 (..., d): <= 0 where the map folds.
    J is formed in the flow's dtype (d forward-mode passes), its determinant taken in float64; with `chunk`, v0
    (N, d) is processed `chunk` points at a time (memory O(chunk d^2), never (N, N))."""
    if chunk is not None and v0.dim() == 2 and v0.shape[0] > chunk:
        return torch.cat([jacobian_determinants(flow, c, t) for c in v0.split(chunk)])
    with torch.no_grad():
        return torch.linalg.det(jacobian(flow, v0.contiguous(), t).to(torch.float64))


def pushforward_density(flow: Flow, initial_density: Callable[[torch.Tensor], torch.Tensor], v0: torch.Tensor,
                        t: torch.Tensor, chunk: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """(f_t(Phi_t(v0)), det J(v0)), both (N,) float64: the density of f0 pushed forward by Phi_t at the particles
    x = Phi_t(v0), by the change of variables f_t(x) = f0(v0) / |det J(v0)| (no KDE), and the determinant it
    divides by. f0 is evaluated in float64 at v0 (cast), det J as `jacobian_determinants`. The formula is the
    push-forward density only where Phi_t is one-to-one (det J > 0 everywhere: no fold); a point with det J = 0
    gets an infinite density."""
    det = jacobian_determinants(flow, v0, t, chunk)
    f0 = initial_density(v0.detach().to(torch.float64)).to(det.device)
    return f0 / det.abs(), det
