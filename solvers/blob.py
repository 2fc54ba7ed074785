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

import math
import warnings

import torch

from problems import drift
from problems.particle_drift import fused, usage

from solvers.base import (QUICK_MAX_MOVE_BLOB, Solver, Trajectory, initial_particles, quick_steps, reduced_dt,
                   resolve_device, step_rule)
from solvers.probe import PathRecorder
from solvers.registry import register_solver
from solvers.stepping import integrate

BLOCK_BYTES = 64 * 2**20


def _row_blocks(n: int, d: int, itemsize: int):
    rows = max(1, min(n, BLOCK_BYTES // (4 * n * (d + 1) * itemsize)))
    return [(a, min(a + rows, n)) for a in range(0, n, rows)]


def blob_score(v: torch.Tensor, eps: float) -> torch.Tensor:
    """Blob score s_i = sum_j g_ij / sum_j k_ij + sum_j g_ij / K_j, with k_ij = exp(-|v_i - v_j|^2/2eps),
    g_ij = grad_x k(x - v_j)|_{x = v_i} = -(v_i - v_j)/eps k_ij and K_j = sum_l k_jl; v (N, d) -> (N, d), or
    (..., N, d) independent sets (blockwise).
    On the CPU without autograd and N >= fused.CPU_MIN_N: `compiled_blob_score`, else `blockwise_blob_score`; the
    kernel used is counted (`problems.particle_drift.usage`)."""
    key = (v.dtype, v.shape[-1])
    if fused.cpu_kernel_applies((v,), key, _blob_disabled):
        try:
            out = compiled_blob_score(v, eps)
            usage.note(usage.BLOB_COMPILED_CPU)
            return out
        except Exception as exc:  # compiler missing or failing: remember and fall back
            _blob_disabled.add(key)
            warnings.warn(f"compiled blob score unavailable ({type(exc).__name__}: {exc}); using the blockwise sum")
    usage.note(usage.BLOB_BLOCKWISE)
    return blockwise_blob_score(v, eps)


_blob_disabled: set = set()
_blob_kernels: dict = {}


def _blob_density_rows(xi: torch.Tensor, xt: torch.Tensor) -> torch.Tensor:
    """K_i = sum_j exp(-|x_i - x_j|^2 / 2) for rows xi (R, d) against xt (d, N), as (R, 1); written component by
    component so that inductor fuses the pair terms and the sum over j (no (R, N, d) buffers)."""
    r2 = (xi[:, 0:1] - xt[0:1]) ** 2
    for k in range(1, xi.shape[1]):
        r2 = r2 + (xi[:, k:k + 1] - xt[k:k + 1]) ** 2
    return torch.exp(-0.5 * r2).sum(1, keepdim=True)


def _blob_score_rows(xi: torch.Tensor, inv_ki: torch.Tensor, xt: torch.Tensor, inv_kt: torch.Tensor) -> torch.Tensor:
    """sum_j (x_i - x_j) exp(-|x_i - x_j|^2 / 2) (1/K_i + 1/K_j) for rows xi (R, d), inv_ki (R, 1) against
    xt (d, N), inv_kt (1, N): (R, d)."""
    z = [xi[:, k:k + 1] - xt[k:k + 1] for k in range(xi.shape[1])]
    r2 = z[0] * z[0]
    for zk in z[1:]:
        r2 = r2 + zk * zk
    w = torch.exp(-0.5 * r2) * (inv_ki + inv_kt)
    return torch.cat([(zk * w).sum(1, keepdim=True) for zk in z], dim=1)


def compiled_blob_score(v: torch.Tensor, eps: float) -> torch.Tensor:
    """`blob_score` by two compiled row-block passes (torch.compile, dynamic N) in the coordinates x = v / sqrt(eps):
    K_j = sum_l exp(-|x_j - x_l|^2 / 2), then s_i = -(1/sqrt eps) sum_j (x_i - x_j) k_ij (1/K_i + 1/K_j).
    Equal to `blockwise_blob_score` at round-off (5e-16 relative at N = 1,000) and, on one CPU thread, 3.4 ms
    against 51 ms there in 2D (3.7 against 59 ms in 3D). v (N, d). No autograd: the result carries no gradient
    (`blob_score` sends inputs that require one to `blockwise_blob_score`)."""
    if not _blob_kernels:
        _blob_kernels["density"] = torch.compile(_blob_density_rows, dynamic=True, fullgraph=True)
        _blob_kernels["score"] = torch.compile(_blob_score_rows, dynamic=True, fullgraph=True)
    root = math.sqrt(eps)
    x = v / root
    xt = x.T.contiguous()
    inv_k = 1.0 / fused.in_row_blocks(_blob_kernels["density"], (x,), (xt,))
    return fused.in_row_blocks(_blob_kernels["score"], (x, inv_k), (xt, inv_k.T.contiguous())) / -root


def blockwise_blob_score(v: torch.Tensor, eps: float) -> torch.Tensor:
    """`blob_score` by blocks of rows with (..., rows, N, d) temporaries of at most BLOCK_BYTES (autograd-friendly).

    v (..., N, d): leading dimensions are independent particle sets (the random batches of `solvers.rbm_blob`, each
    its own empirical measure); the result has v's shape. With v (N, d) the arithmetic is that of one set."""
    *lead, n, d = v.shape
    sets = math.prod(lead)
    blocks = _row_blocks(n, d, v.element_size() * sets)
    dens = torch.empty((*lead, n), dtype=v.dtype, device=v.device)
    for a, b in blocks:
        z = v[..., a:b, None, :] - v[..., None, :, :]
        dens[..., a:b] = torch.exp(-(z * z).sum(-1) / (2 * eps)).sum(-1)
    out = torch.empty_like(v)
    for a, b in blocks:
        z = v[..., a:b, None, :] - v[..., None, :, :]
        k = torch.exp(-(z * z).sum(-1) / (2 * eps))  # (..., rows, N)
        g = -z / eps * k[..., None]  # (..., rows, N, d)
        out[..., a:b, :] = g.sum(-2) / dens[..., a:b, None] + (g / dens[..., None, :, None]).sum(-2)
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
    cost_exponent = 2.0  # every particle interacts with every other: N^2 kernel evaluations a step

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

        path = PathRecorder()  # the step path of the a-posteriori certificate (certificates.particle_residual)
        with self.phase("stepping"):
            v_end, stats = integrate(v, problem.t0, problem.snapshot_times, step_rule(cfg), velocity, on_snapshot,
                                     progress, desc=f"blob {problem.name}", on_step=path.add)
        return Trajectory(self.name, problem.name, times, snaps, scores, v0, {},
                          {**stats.as_info(), "bandwidth": h},
                          step_path=path.probe(max(problem.snapshot_times), v_end, [None] * len(path.times)))
