"""The PINN-PM training objective (paper eqs. 2.10-2.12, Algorithm 1), batched over collocation times.

For initial particles V (N, d) and collocation times t_1..t_K, with x_ki = Phi(V_i, t_k):

    L_phys = (1/KN) sum_{k,i} | d_t Phi(V_i, t_k) - U^delta_{t_k}(x_ki) |^2                    (2.11)
    U^delta_{t_k}(x_ki) = -(1/N) sum_j A(x_ki - x_kj) (s(x_ki, t_k) - s(x_kj, t_k))          (2.7)
    L_ISM  = (1/KN) sum_{k,i} ( |s(x_ki, t_k)|^2 + 2 div_v s(x_ki, t_k) )                    (2.10)
    L      = L_phys + lambda_score * L_ISM                                                  (2.12)

Everything is one batched computation over the K x N points (no Python loop over times):
d_t Phi by forward-mode autodiff (one jvp with tangent 1 in t), div_v s exact (`score_and_divergence`), the drift by
one `problems.drift` call on (K, N, d) tensors (O(N) per time for gamma = 0). The networks of
solvers.pinn_networks write their forward mode out (`FlowMap.value_and_velocity`, `ScoreNet.value_and_jacobian`):
d_t Phi, the divergence and the Jacobian then cost first-order autograd only, and the score at the particles is
computed once for both terms (its gradient into the flow by the chain rule through that Jacobian). On one CPU thread
an iteration of the quick profile takes 0.71-0.84x the time of jvp, d reverse passes and a second forward pass
(`benchmarks/bench_pinn_iteration.py`), with the same loss and gradients at round-off
(tests/test_pinn_pm.py: against the naive loop in float64 to 1e-9). The callables may be networks or exact maps
(tests substitute Phi = identity and s = the exact score).
"""
from __future__ import annotations

from typing import Callable

import torch
from torch.func import jvp, vmap

from problems import drift

from solvers.score_matching import divergence

Flow = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
Score = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def flow_and_velocity(flow: Flow, v0: torch.Tensor, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(Phi(v0, t), d/dt Phi(v0, t)) by one forward-mode pass; t broadcastable to v0[..., :1]. A flow that writes
    its forward mode out (`value_and_velocity`, solvers.pinn_networks.FlowMap) uses it: the same values at
    round-off, and its gradient needs no functorch dual tensors; any other callable goes through torch.func.jvp."""
    if hasattr(flow, "value_and_velocity"):
        return flow.value_and_velocity(v0, t)
    t = t.contiguous()
    return jvp(lambda tt: flow(v0, tt), (t,), (torch.ones_like(t),))


def score_and_divergence(score: Score, x: torch.Tensor, t: torch.Tensor, mode: str = "auto"
                         ) -> tuple[torch.Tensor, torch.Tensor]:
    """(s(x, t), div_x s(x, t)), the divergence exact.

    mode 'forward': one forward-mode pass vmapped over the d unit tangents (the primal once, the
    d tangents as one batch: fewest kernel launches, for GPUs); 'reverse': d reverse-mode passes
    with create_graph (about 8% less arithmetic than 'forward', faster on a compute-bound CPU); 'written':
    the score's own written-out forward mode (`value_and_divergence`, solvers.pinn_networks.ScoreNet), whose
    gradient is first-order autograd with no double backward (on the CPU the ISM term's forward and backward
    take about half the time of 'reverse'); 'auto' picks 'written' where the score has it, else forward on
    CUDA and reverse elsewhere. All are exact and agree to round-off (tests/test_pinn_written_forward.py).
    """
    if mode == "auto":
        mode = "written" if hasattr(score, "value_and_divergence") else "forward" if x.is_cuda else "reverse"
    d = x.shape[-1]
    if mode == "written":
        return score.value_and_divergence(x, t)
    if mode == "reverse":
        return divergence(lambda xx: score(xx, t), x)
    if mode != "forward":
        raise ValueError(f"unknown divergence mode {mode!r}; valid: auto, forward, reverse, written")
    x = x.contiguous()
    tangents = torch.eye(d, dtype=x.dtype, device=x.device).view(d, *([1] * (x.dim() - 1)), d).expand(d, *x.shape)
    s, ds = vmap(lambda tangent: jvp(lambda xx: score(xx, t), (x,), (tangent,)))(tangents)
    div = torch.diagonal(ds, dim1=0, dim2=-1).sum(-1)  # sum_k d s_k / d x_k
    return s[0], div


def pinn_losses(flow: Flow, score: Score, v0: torch.Tensor, times: torch.Tensor, gamma: float, C: float,
                ism_through_flow: bool = False, drift_score: Score | None = None,
                ism_points: torch.Tensor | None = None, detach_drift_positions: bool = False,
                flow_score: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
                flow_score_through: bool = False) -> dict[str, torch.Tensor]:
    """{'phys', 'ism', 'signal'} of eqs. 2.11 and 2.10 for initial particles v0 (N, d) at collocation times (K,);
    'signal' = (1/KN) sum |U^delta(x_ki)|^2 (detached), the scale against which L_phys is read.

    ism_through_flow=False stops the ISM gradient at the particle positions: the ISM term then
    trains only the score (Hyvarinen's objective is a loss for s at a *fixed* density; its
    gradient through the positions pulls particles towards where |s|^2 + 2 div s is small, a
    force with no physical meaning). True differentiates the sum literally as Algorithm 1 writes it
    (README, PINN-PM diagnosis: it is unbounded below in the flow's parameters and collapses the particles).

    Oracle ablations (harness `diagnose`), all off by default:
    * drift_score(x (K, N, d), t (K, 1, 1)) -> (K, N, d): the score used inside U^delta instead of the
      network (the exact score): L_phys then trains the flow alone against the true drift;
    * ism_points (K, N, d): the points where L_ISM is evaluated instead of the flow's push-forward
      (i.i.d. samples of the exact solution at the same times): the score is then trained on f_t itself;
    * detach_drift_positions: U^delta is evaluated at stop-gradient positions, so the L_phys gradient does
      not flow through the places where U is evaluated (the scores and the flow's velocity still train).

    Self-consistent score (drift_score=flow, not an oracle): flow_score(V (K, N, d), t (K, 1, 1)) -> (K, N, d), the
    score of the flow's own push-forward at x = Phi(V, t) (solvers.flow_score). No score network and no ISM term
    ('ism' is 0). flow_score_through=False (the default) detaches the whole drift U^delta: each step fits d_t Phi to
    the drift of the current push-forward (a Picard-type fixed point); True differentiates through it.
    """
    if v0.dim() != 2 or times.dim() != 1:
        raise ValueError(f"v0 must be (N, d) and times (K,), got {tuple(v0.shape)} and {tuple(times.shape)}")
    if ism_through_flow and ism_points is not None:
        raise ValueError("ism_through_flow differentiates L_ISM through the flow; it cannot use ism_points")
    k = times.shape[0]
    t = times.to(v0).view(k, 1, 1)
    x, x_dot = flow_and_velocity(flow, v0.unsqueeze(0).expand(k, *v0.shape), t)
    if flow_score is not None:
        if ism_through_flow or ism_points is not None or drift_score is not None:
            raise ValueError("the self-consistent score (flow_score) replaces the score network: it cannot be combined "
                             "with ism_through_flow, ism_points or drift_score")
        s = flow_score(v0.unsqueeze(0).expand(k, *v0.shape), t)
        u = drift(x, s, gamma, C) if flow_score_through else drift(x.detach(), s.detach(), gamma, C).detach()
        phys = ((x_dot - u) ** 2).sum(-1).mean()
        return {"phys": phys, "ism": phys.new_zeros(()), "signal": (u.detach() ** 2).sum(-1).mean()}
    x_drift = x.detach() if detach_drift_positions else x
    if ism_through_flow:
        s_ism, div = score_and_divergence(score, x, t, "forward")
        s = s_ism if not detach_drift_positions else score(x_drift, t)
    elif ism_points is None and drift_score is None and hasattr(score, "value_and_jacobian"):
        s_ism, jac_t = score.value_and_jacobian(x.detach(), t)
        div = torch.diagonal(jac_t, dim1=-2, dim2=-1).sum(-1)
        # the drift's score s(x): the same values as s_ism, and the gradient that a second forward pass at x would
        # carry to the flow (dL/ds . ds/dx . dx/dphi, the chain rule with the Jacobian already built); exact
        s = s_ism if detach_drift_positions else s_ism + ((x - x.detach()).unsqueeze(-2) @ jac_t.detach()).squeeze(-2)
    else:
        s_ism, div = score_and_divergence(score, x.detach() if ism_points is None else ism_points.to(v0), t)
        s = score(x_drift, t) if drift_score is None else None
    if drift_score is not None:
        s = drift_score(x_drift, t).to(v0)
    u = drift(x_drift, s, gamma, C)
    phys = ((x_dot - u) ** 2).sum(-1).mean()
    ism = ((s_ism * s_ism).sum(-1) + 2.0 * div).mean()
    return {"phys": phys, "ism": ism, "signal": (u.detach() ** 2).sum(-1).mean()}


def naive_pinn_losses(flow: Flow, score: Score, v0: torch.Tensor, times: torch.Tensor, gamma: float,
                      C: float) -> dict[str, torch.Tensor]:
    """The same objective written the straightforward way: a Python loop over collocation times,
    d_t Phi and div s by separate reverse-mode autograd passes. Baseline for benchmarks and tests."""
    phys, ism = 0.0, 0.0
    for tk in times:
        t = tk.to(v0).view(1, 1).expand(v0.shape[0], 1).clone().requires_grad_(True)
        x = flow(v0, t)
        x_dot = torch.stack([torch.autograd.grad(x[:, j].sum(), t, create_graph=True)[0][:, 0]
                             for j in range(x.shape[1])], dim=-1)
        xs = x.detach().requires_grad_(True)
        s_fixed = score(xs, t.detach())
        div = sum(torch.autograd.grad(s_fixed[:, j].sum(), xs, create_graph=True)[0][:, j]
                  for j in range(x.shape[1]))
        s = score(x, t.detach())
        u = drift(x, s, gamma, C)
        phys = phys + ((x_dot - u) ** 2).sum(-1).mean()
        ism = ism + ((s_fixed * s_fixed).sum(-1) + 2.0 * div).mean()
    k = times.shape[0]
    return {"phys": phys / k, "ism": ism / k}
