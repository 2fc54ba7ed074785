"""Densities on tensor-product grids: the separable Gaussian KDE and multilinear interpolation.

The Gaussian kernel factorises over coordinates, exp(-|g - x|^2/2h^2) = prod_a exp(-(g_a - x_a)^2/2h^2),
so the KDE on a tensor grid is a matrix product: 2D: E1 E2^T, 3D: (E1 * E2) E3^T with
E_a[i, p] = exp(-(g_ai - x_pa)^2 / 2h^2). This is exact (no binning, no FFT): the only error is
float64 round-off. Particles are processed in chunks so memory stays bounded.

`GridDensity` turns values on a regular grid into a density defined everywhere (multilinear
interpolation inside the box, 0 outside): the form every non-exact reference takes.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch

CHUNK = 8192


def kde_on_axes(particles: torch.Tensor, axes: list[torch.Tensor], h: float) -> torch.Tensor:
    """Gaussian KDE fhat(g) = (1/n) sum_p N(g; x_p, h^2 I) on the tensor grid of `axes` ('ij').

    Returns a tensor of shape (len(axes[0]), ..., len(axes[d-1])), float64.
    """
    x = particles.detach().to(torch.float64).cpu()
    n, d = x.shape
    if d != len(axes) or d not in (1, 2, 3):
        raise ValueError(f"KDE needs 1-3 axes matching the particles' dimension, got {len(axes)} axes, d = {d}")
    shape = [len(a) for a in axes]
    out = torch.zeros(math.prod(shape[:-1]), shape[-1], dtype=torch.float64)
    for start in range(0, n, CHUNK):
        xc = x[start:start + CHUNK]
        e = [torch.exp(-(a.to(torch.float64)[:, None] - xc[None, :, k]) ** 2 / (2 * h * h)) for k, a in enumerate(axes)]
        lead = e[0]
        for ek in e[1:-1]:
            lead = (lead[:, None, :] * ek[None, :, :]).reshape(-1, xc.shape[0])
        out += lead @ e[-1].T if d > 1 else lead.sum(1, keepdim=True).T
    norm = n * (2 * math.pi * h * h) ** (d / 2)
    return (out / norm).reshape(shape)


@dataclass(frozen=True)
class GridDensity:
    """f on the regular grid `axes` (1D increasing, equally spaced tensors), `values` of shape
    (len(axes[0]), ..., len(axes[d-1])); evaluated anywhere by multilinear interpolation, 0 outside."""

    axes: tuple
    values: torch.Tensor

    def __call__(self, v: torch.Tensor) -> torch.Tensor:
        """f(v) for v of shape (..., d), float64."""
        v = v.to(torch.float64)
        lead = v.shape[:-1]
        x = v.reshape(-1, v.shape[-1])
        d = x.shape[1]
        idx, frac, inside = [], [], torch.ones(x.shape[0], dtype=torch.bool)
        for a, ax in enumerate(self.axes):
            lo, step, n = float(ax[0]), float(ax[1] - ax[0]), len(ax)
            pos = (x[:, a] - lo) / step
            inside &= (pos >= 0) & (pos <= n - 1)
            i0 = pos.floor().clamp(0, n - 2).long()
            idx.append(i0)
            frac.append((pos - i0).clamp(0, 1))
        out = torch.zeros(x.shape[0], dtype=torch.float64)
        vals = self.values.to(torch.float64)
        for corner in range(2 ** d):
            w = torch.ones(x.shape[0], dtype=torch.float64)
            index = []
            for a in range(d):
                bit = (corner >> a) & 1
                w = w * (frac[a] if bit else 1 - frac[a])
                index.append(idx[a] + bit)
            out += w * vals[tuple(index)]
        return torch.where(inside, out, torch.zeros_like(out)).reshape(lead)

    def score(self, v: torch.Tensor, floor: float = 1e-10) -> torch.Tensor:
        """grad log f at v (..., d) -> (..., d), float64: second-order central differences of log f on the grid
        (values below floor * max f clamped there), multilinearly interpolated; 0 outside the box."""
        return interpolated_log_gradient(self.axes, self.values, v, floor)


def interpolated_log_gradient(axes, values: torch.Tensor, v: torch.Tensor, floor: float = 1e-10) -> torch.Tensor:
    """grad log f at v (..., d) from grid values f (len(axes[0]), ..., len(axes[d-1])): np.gradient-style central
    differences of log max(f, floor * max f), each component interpolated by `GridDensity`. Returns (..., d)."""
    vals = values.to(torch.float64)
    logf = torch.log(vals.clamp_min(floor * float(vals.max())))
    steps = [float(a[1] - a[0]) for a in axes]
    grads = torch.gradient(logf, spacing=steps)
    return torch.stack([GridDensity(tuple(axes), g)(v) for g in grads], dim=-1)
