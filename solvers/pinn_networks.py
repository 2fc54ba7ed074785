"""PINN-PM networks (paper section 2.3, Figure 2, Appendix B.2).

Both networks take a point v in R^d and a time t, embed them separately, fuse the embeddings by
concatenation and pass the result through shared hidden layers (SiLU throughout):

    E_v = MLP_v(v)                  velocity embedding, `vel_depth` SiLU layers of `vel_width`
    E_t = MLP_t(tau)                time embedding, `time_depth` SiLU layers of `time_width`,
                                    tau = (t - t0) / (T - t0) in [0, 1] (conditioning only)
    out = Linear(MLP_h([E_v, E_t]))  `hidden_depth` SiLU layers of `hidden_width`, then d outputs.

The flow map is Phi(v0, t) = v0 + (t - t0) * net(v0, t), so Phi(v0, t0) = v0 exactly (the
product with t - t0 = 0 is an exact zero in floating point). The score network is the plain
embedded net s(v, t) = net(v, t).

Paper groups (Appendix B.2), as (vel_width, vel_depth, time_width, time_depth, hidden_width,
hidden_depth) for (flow, score): A (bkw2d, anisotropic2d), B (bkw3d, gaussian_mixture3d),
C (rosenbluth3d), D (truncated2d). Other problems get A in 2D and B otherwise.
"""
from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn


class Arch(NamedTuple):
    """Sizes of one embedded network (Appendix B.2)."""

    vel_width: int
    vel_depth: int
    time_width: int
    time_depth: int
    hidden_width: int
    hidden_depth: int


SMALL_2D = Arch(32, 2, 16, 1, 128, 4)
LARGE_3D = Arch(256, 2, 128, 1, 256, 6)
MODERATE_3D_FLOW = Arch(32, 2, 64, 1, 128, 4)
TINY = Arch(16, 1, 8, 1, 32, 2)

#: group name -> (flow arch, score arch), Appendix B.2
GROUPS: dict[str, tuple[Arch, Arch]] = {
    "A": (SMALL_2D, SMALL_2D),
    "B": (LARGE_3D, LARGE_3D),
    "C": (MODERATE_3D_FLOW, SMALL_2D),
    "D": (SMALL_2D, LARGE_3D),
    "tiny": (TINY, TINY),  # the smoke profile's nets (not the paper's)
}

def group_for(problem) -> str:
    """The Appendix B.2 group of a problem: the one it declares (`Problem.pinn_group`), else A in 2D and B in 3D."""
    return problem.pinn_group or ("A" if problem.dim == 2 else "B")


def _silu_stack(d_in: int, width: int, depth: int) -> nn.Sequential:
    layers = []
    for _ in range(depth):
        layers += [nn.Linear(d_in, width), nn.SiLU()]
        d_in = width
    return nn.Sequential(*layers)


def _tangent_stack(stack: nn.Sequential, h: torch.Tensor, dh: torch.Tensor | None
                   ) -> tuple[torch.Tensor, torch.Tensor | None]:
    """(stack(h), its derivatives along tangents): h (..., w_in), dh (..., k, w_in) the derivatives of h along k
    directions (None: all zero). Forward mode written out for Linear (dh W^T) and SiLU (dh * silu'(z),
    silu'(z) = sig(z) + silu(z) (1 - sig(z))); the value is computed by the layers themselves, so it equals
    stack(h) bit for bit. TypeError for any other layer."""
    for layer in stack:
        if isinstance(layer, nn.Linear):
            h = layer(h)
            dh = None if dh is None else dh @ layer.weight.T
        elif isinstance(layer, nn.SiLU):
            y = layer(h)
            if dh is not None:  # silu'(z) = sig + silu(z) (1 - sig)
                sig = torch.sigmoid(h)
                dh = dh * torch.addcmul(sig, y, 1 - sig).unsqueeze(-2)
            h = y
        else:
            raise TypeError(f"no written-out forward mode for {type(layer).__name__}")
    return h, dh


class EmbeddedNet(nn.Module):
    """net(v, tau): separate velocity and time embeddings, concatenated, shared SiLU layers, linear out."""

    def __init__(self, dim: int, arch: Arch):
        super().__init__()
        if min(arch) < 1:
            raise ValueError(f"every size of {arch} must be >= 1")
        self.arch = arch
        self.vel = _silu_stack(dim, arch.vel_width, arch.vel_depth)
        self.time = _silu_stack(1, arch.time_width, arch.time_depth)
        self.hidden = _silu_stack(arch.vel_width + arch.time_width, arch.hidden_width, arch.hidden_depth)
        self.out = nn.Linear(arch.hidden_width, dim)

    def forward(self, v: torch.Tensor, tau: torch.Tensor) -> torch.Tensor:
        """v: (..., d); tau: (..., 1) broadcastable to v's leading shape. Returns (..., d)."""
        tau = tau.expand(*v.shape[:-1], 1)
        return self.out(self.hidden(torch.cat([self.vel(v), self.time(tau)], dim=-1)))

    def with_derivative(self, v: torch.Tensor, tau: torch.Tensor, wrt: str) -> tuple[torch.Tensor, torch.Tensor]:
        """(net(v, tau), its derivative) by forward mode written out layer by layer (first-order autograd can
        then differentiate both, with no double backward): wrt='v' gives D (..., d, d) with D[..., k, j] =
        d out_j / d v_k (the transposed Jacobian); wrt='tau' gives d out / d tau (..., d). v: (..., d), tau
        broadcastable to (..., 1). The value equals forward(v, tau) bit for bit."""
        tau = tau.expand(*v.shape[:-1], 1)
        if wrt == "v":  # tangents e_1..e_d of v; the time embedding does not depend on v
            d = v.shape[-1]
            ev, d_ev = _tangent_stack(self.vel, v, torch.eye(d, dtype=v.dtype, device=v.device).expand(*v.shape, d))
            et, _ = _tangent_stack(self.time, tau, None)
            d_et = ev.new_zeros(*d_ev.shape[:-1], et.shape[-1])
        elif wrt == "tau":  # one tangent, of tau; the velocity embedding does not depend on it
            ev, _ = _tangent_stack(self.vel, v, None)
            et, d_et = _tangent_stack(self.time, tau, torch.ones_like(tau).unsqueeze(-1))
            d_ev = ev.new_zeros(*d_et.shape[:-1], ev.shape[-1])
        else:
            raise ValueError(f"wrt must be 'v' or 'tau', got {wrt!r}")
        h, dh = _tangent_stack(self.hidden, torch.cat([ev, et], dim=-1), torch.cat([d_ev, d_et], dim=-1))
        dout = dh @ self.out.weight.T
        return self.out(h), (dout if wrt == "v" else dout.squeeze(-2))


class FlowMap(nn.Module):
    """Phi(v0, t) = v0 + (t - t0) * net(v0, tau(t)): the global-in-time characteristic map (eq. 2.9)."""

    def __init__(self, dim: int, arch: Arch, t0: float, horizon: float):
        super().__init__()
        if not horizon > t0:
            raise ValueError(f"horizon T = {horizon} must exceed t0 = {t0}")
        self.net = EmbeddedNet(dim, arch)
        self.t0, self.span = float(t0), float(horizon - t0)

    def forward(self, v0: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """v0: (..., d); t: (..., 1) broadcastable. Phi(v0, t0) == v0 exactly."""
        dt = t - self.t0
        return v0 + dt * self.net(v0, dt / self.span)

    def value_and_jacobian(self, v0: torch.Tensor, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(Phi(v0, t) (..., d), J (..., d, d)) with J[..., a, b] = d Phi_a / d v0_b = delta_ab + dt d net_a / d v_b,
        by the written-out forward mode (EmbeddedNet.with_derivative): exact, differentiable by first-order autograd."""
        dt = t - self.t0
        out, jac_t = self.net.with_derivative(v0, dt / self.span, "v")
        eye = torch.eye(v0.shape[-1], dtype=v0.dtype, device=v0.device)
        return v0 + dt * out, eye + dt.unsqueeze(-1) * jac_t.transpose(-1, -2)

    def value_and_velocity(self, v0: torch.Tensor, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(Phi(v0, t), d/dt Phi(v0, t)) = (v0 + dt net, net + (dt / (T - t0)) d net / d tau), dt = t - t0, by the
        written-out forward mode (EmbeddedNet.with_derivative); the same shapes as forward."""
        dt = t - self.t0
        out, dtau = self.net.with_derivative(v0, dt / self.span, "tau")
        return v0 + dt * out, out + (dt / self.span) * dtau


class ScoreNet(nn.Module):
    """s(v, t) = net(v, tau(t)): the global-in-time score model."""

    def __init__(self, dim: int, arch: Arch, t0: float, horizon: float):
        super().__init__()
        self.net = EmbeddedNet(dim, arch)
        self.t0, self.span = float(t0), float(horizon - t0)

    def forward(self, v: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """v: (..., d); t: (..., 1) broadcastable. Returns (..., d)."""
        return self.net(v, (t - self.t0) / self.span)

    def value_and_jacobian(self, v: torch.Tensor, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(s(v, t) (..., d), D (..., d, d)) with D[..., k, j] = d s_j / d v_k, by the written-out forward mode
        (EmbeddedNet.with_derivative): exact, differentiable by first-order autograd."""
        return self.net.with_derivative(v, (t - self.t0) / self.span, "v")

    def value_and_divergence(self, v: torch.Tensor, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(s(v, t) (..., d), div_v s(v, t) (...,)): the trace of `value_and_jacobian`'s D."""
        out, jac_t = self.value_and_jacobian(v, t)
        return out, torch.diagonal(jac_t, dim1=-2, dim2=-1).sum(-1)
