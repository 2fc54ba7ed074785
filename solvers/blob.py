"""blob: the deterministic blob particle method (Carrillo, Hu, Wang & Wu, JCP: X 2020).

The score is replaced by the gradient of the first variation of the regularised entropy
    E_eps(f) = int f log(psi_eps * f),   psi_eps(x) = (2 pi eps)^(-d/2) exp(-|x|^2 / 2 eps),
at the empirical measure f = (1/N) sum_j delta_{v_j}:
    s_i = grad log(psi * f)(v_i) + (1/N) sum_j grad psi(v_i - v_j) / (psi * f)(v_j).
(The other regularisation in the literature, int (psi * f) log(psi * f), is not implemented.)
The normalisation of psi cancels in both terms. eps = h^2 with h the problem's KDE bandwidth
(0.15 or 0.3, as the paper's App. B.4 "bandwidth" for Blob); O(N^2) in row blocks of bounded
memory. Particles move by explicit Euler with the particle drift of paper eq. 2.7.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch

from problems import drift

from solvers.base import (QUICK_MAX_MOVE_BLOB, Solver, Trajectory, initial_particles, quick_steps, reduced_dt,
                   resolve_device, step_rule)
from solvers.registry import register_solver
from solvers.stepping import integrate

BLOCK_BYTES = 64 * 2**20


def _row_blocks(n: int, d: int, itemsize: int):
    rows = max(1, min(n, BLOCK_BYTES // (4 * n * (d + 1) * itemsize)))
    return [(a, min(a + rows, n)) for a in range(0, n, rows)]


def blob_score(v: torch.Tensor, eps: float) -> torch.Tensor:
    """Blob score s_i = sum_j g_ij / sum_j k_ij + sum_j g_ij / K_j, with k_ij = exp(-|v_i - v_j|^2/2eps),
    g_ij = grad_x k(x - v_j)|_{x = v_i} = -(v_i - v_j)/eps k_ij and K_j = sum_l k_jl."""
    n, d = v.shape
    blocks = _row_blocks(n, d, v.element_size())
    dens = torch.empty(n, dtype=v.dtype, device=v.device)
    for a, b in blocks:
        z = v[a:b, None, :] - v[None, :, :]
        dens[a:b] = torch.exp(-(z * z).sum(-1) / (2 * eps)).sum(1)
    out = torch.empty_like(v)
    for a, b in blocks:
        z = v[a:b, None, :] - v[None, :, :]
        k = torch.exp(-(z * z).sum(-1) / (2 * eps))  # (rows, N)
        g = -z / eps * k[..., None]  # (rows, N, d)
        out[a:b] = g.sum(1) / dens[a:b, None] + (g / dens[None, :, None]).sum(1)
    return out


@dataclass(frozen=True)
class BlobConfig:
    POSITIVE: ClassVar[tuple] = ("bandwidth",)
    n: int = 22_500
    dt: float | None = 0.01  # fixed step; None: adaptive steps (solvers.stepping) of at most dt_max at tol
    dt_max: float = 0.2
    tol: float = 2e-3
    max_move: float = 0.0
    bandwidth: float | None = None  # None: the problem's kde_bandwidth; eps = bandwidth^2
    dtype: str = "float64"


@register_solver("blob")
class Blob(Solver):
    """Regularised-entropy (blob) particle method."""

    Config = BlobConfig
    has_score = True
    needs_gpu_for_paper = True
    dt_order = 1  # explicit Euler
    n_rate = 0.5

    @classmethod
    def _profile(cls, profile, problem):
        if profile == "smoke":
            return BlobConfig(n=300, dt=reduced_dt("smoke", problem))
        if profile == "quick":
            return BlobConfig(n=1_000, **quick_steps(problem, QUICK_MAX_MOVE_BLOB))
        return BlobConfig(n=problem.paper_n, dt=0.01, dtype="float32")

    def solve(self, problem, seed=0, device="cpu", initial=None, progress=False, workdir=None):
        cfg = self.config
        dev, dtype = resolve_device(device), getattr(torch, cfg.dtype)
        h = problem.kde_bandwidth if cfg.bandwidth is None else cfg.bandwidth
        eps = h * h
        with self.phase("setup"):
            v0 = initial_particles(problem, cfg.n, seed, initial)
            v = v0.to(dev, dtype)
        times, snaps, scores = [], [], []

        def velocity(x, t):
            return drift(x, blob_score(x, eps), problem.gamma, problem.C)

        def on_snapshot(t, x):
            times.append(t)
            snaps.append(x.detach().to("cpu", torch.float64).clone())
            scores.append(blob_score(x, eps).to("cpu", torch.float64))

        with self.phase("stepping"):
            _, stats = integrate(v, problem.t0, problem.snapshot_times, step_rule(cfg), velocity, on_snapshot,
                                 progress, desc=f"blob {problem.name}")
        return Trajectory(self.name, problem.name, times, snaps, scores, v0, {},
                          {**stats.as_info(), "bandwidth": h})
