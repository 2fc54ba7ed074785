"""Particles, log-density, score and log det J carried along the characteristics of a velocity field, by RK4.

For dX/dt = u(t, X) (the instantaneous change of variables) the push-forward f_t of f0 satisfies along each
trajectory

    d/dt log f(X_t)      = -div u(t, X_t)
    d/dt grad log f(X_t) = -(grad u)^T grad log f(X_t) - grad(div u)(t, X_t)
    d/dt log det J_t     =  div u(t, X_t)           (J_t = dX_t / dX_0, so det J_t = exp(int div u) > 0)

with (grad u)^T s the vector sum_a (d u_a / d x_b) s_a. `carry` integrates the four together with the classical
fixed-step RK4 written here: no extra dependency (torchdiffeq is not installed), deterministic (a fixed node list,
no step-size control whose choices would differ between float32 operation orders), and differentiable (the stages
are plain tensor operations, so `create_graph=True` carries the parameters' gradient through the whole path).

A velocity field is a callable `field(x (N, d), t: float) -> (u (N, d), D (N, d, d))` with D[i, k, j] =
d u_j / d x_k at x_i (the transposed Jacobian, as `EmbeddedNet.with_derivative(..., "v")` gives it), D
differentiable in x; grad(div u) is one reverse pass through trace(D) (exact in any d; d is 2 or 3 here).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import torch

VelocityField = Callable[[torch.Tensor, float], tuple[torch.Tensor, torch.Tensor]]
Velocity = Callable[[torch.Tensor, float], torch.Tensor]


@dataclass
class Carried:
    """The state carried along the characteristics: x (N, d) positions, log_f (N,) log f_t(x), score (N, d)
    grad log f_t(x), log_det (N,) log det dX_t/dX_0."""

    x: torch.Tensor
    log_f: torch.Tensor
    score: torch.Tensor
    log_det: torch.Tensor

    def axpy(self, h: float, rate: "Carried") -> "Carried":
        """self + h * rate, field by field."""
        return Carried(self.x + h * rate.x, self.log_f + h * rate.log_f, self.score + h * rate.score,
                       self.log_det + h * rate.log_det)

    def detach(self) -> "Carried":
        """The same state with no autograd history."""
        return Carried(self.x.detach(), self.log_f.detach(), self.score.detach(), self.log_det.detach())


def rates(field: VelocityField, state: Carried, t: float, create_graph: bool = False) -> Carried:
    """The time derivatives (u, -div u, -(grad u)^T s - grad div u, div u) at `state` (module docstring); with
    create_graph=False the rates carry no autograd history, else they keep it (gradient through the path)."""
    with torch.enable_grad():
        x = state.x if (create_graph and state.x.requires_grad) else state.x.detach().requires_grad_(True)
        u, d = field(x, t)
        div = torch.diagonal(d, dim1=-2, dim2=-1).sum(-1)
        grad_div = (torch.autograd.grad(div.sum(), x, create_graph=create_graph)[0] if div.requires_grad
                    else torch.zeros_like(x))  # an affine field: div u does not depend on x
        ds = -(d @ state.score.unsqueeze(-1)).squeeze(-1) - grad_div
    out = Carried(u, -div, ds, div)
    return out if create_graph else out.detach()


def rk4_step(field: VelocityField, state: Carried, t: float, h: float, create_graph: bool = False) -> Carried:
    """One classical RK4 step of length h from (state, t) (order 4 in h for every carried quantity)."""
    k1 = rates(field, state, t, create_graph)
    k2 = rates(field, state.axpy(h / 2, k1), t + h / 2, create_graph)
    k3 = rates(field, state.axpy(h / 2, k2), t + h / 2, create_graph)
    k4 = rates(field, state.axpy(h, k3), t + h, create_graph)
    return Carried(*(a + h / 6 * (b1 + 2 * b2 + 2 * b3 + b4) for a, b1, b2, b3, b4 in zip(
        (state.x, state.log_f, state.score, state.log_det), (k1.x, k1.log_f, k1.score, k1.log_det),
        (k2.x, k2.log_f, k2.score, k2.log_det), (k3.x, k3.log_f, k3.score, k3.log_det),
        (k4.x, k4.log_f, k4.score, k4.log_det))))


def time_nodes(t0: float, stops, max_dt: float, grade: float = 1.0) -> list[float]:
    """The RK4 nodes from t0 to max(stops): ceil(span / max_dt) steps with t_k = t0 + span (k / K)^grade (grade 1:
    uniform; grade > 1: denser near t0, for a start with a thin layer such as a mollified jump), merged with every
    stop time (snapshots), sorted, a grid node within 1e-9 of a stop dropped. ValueError for max_dt <= 0 or grade < 1."""
    if not max_dt > 0 or not grade >= 1:
        raise ValueError(f"max_dt must be > 0 and grade >= 1, got max_dt={max_dt!r}, grade={grade!r}")
    end = max(float(s) for s in stops)
    span = end - t0
    if span <= 0:
        return [float(t0)]
    k = max(1, math.ceil(span / max_dt - 1e-9))
    stops = {float(s) for s in stops if s > t0}
    grid = [t0 + span * (i / k) ** grade for i in range(1, k + 1)]
    out = sorted({float(t0)} | stops | {t for t in grid if all(abs(t - s) > 1e-9 for s in stops)})
    return out


def carry(field: VelocityField, state: Carried, nodes: list[float], create_graph: bool = False) -> list[Carried]:
    """The carried state at every node (nodes[0] is the start time of `state`, which is returned first): one RK4
    step between consecutive nodes. Returns len(nodes) states."""
    out = [state]
    for a, b in zip(nodes[:-1], nodes[1:]):
        state = rk4_step(field, state, a, b - a, create_graph)
        out.append(state)
    return out


def transport(velocity: Velocity, x: torch.Tensor, nodes: list[float]) -> list[torch.Tensor]:
    """Positions only (x (N, d) at nodes[0]) moved by RK4 through the nodes of dX/dt = velocity(X, t), no gradient;
    the positions at every node, len(nodes) tensors (N, d). The same steps as `carry` (equal positions)."""
    out = [x]
    with torch.no_grad():
        for a, b in zip(nodes[:-1], nodes[1:]):
            h = b - a
            k1 = velocity(x, a)
            k2 = velocity(x + h / 2 * k1, a + h / 2)
            k3 = velocity(x + h / 2 * k2, a + h / 2)
            k4 = velocity(x + h * k3, b)
            x = x + h / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
            out.append(x)
    return out
