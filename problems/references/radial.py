"""`radial` reference for isotropic 3D Coulomb problems (rosenbluth3d): a conservative solver in r = |v|.

The Landau operator commutes with rotations, so isotropic data stay isotropic and f(v, t) = f(|v|, t).
For gamma = -3 in 3D, A(z) = C grad grad |z| and div A(z) = 2C grad (1/|z|), so with the Rosenbluth
potentials of an isotropic f the equation d_t f = div(a grad f - b f) becomes
    d_t f = r^-2 d_r (r^2 J),   J(r) = a_rr(r) f'(r) - b_r(r) f(r),
    a_rr = (8 pi C / 3) [ r^-3 int_0^r f s^4 ds + int_r^inf f s ds ],   b_r = -(8 pi C / r^2) int_0^r f s^2 ds,
which (integrating by parts) is the Landau form (in the spirit of Buet and Cordier 1998)
    J(r) = (8 pi C / 3) int_0^inf k(r, s) f(r) f(s) [ s (log f)'(r) - r (log f)'(s) ] ds,   k = min(1, (s/r)^3).
Discretisation: cells of width dr on [0, R], centres r_i, values f_i; at the interior interfaces
rho_k, (log f)' is the difference of log f and f the mean of the two neighbours; the s-integral is
the sum over the same interfaces (weight dr); V_i d_t f_i = rho_i^2 J_i - rho_(i-1)^2 J_(i-1) with
V_i = (rho_i^3 - rho_(i-1)^3)/3 and no flux through r = 0 and r = R. Consequences, exact up to
round-off: mass sum 4 pi f_i V_i is conserved (telescoping); the discrete energy sum 4 pi f_i V_i r_i^2
is conserved (rho_k^3 k(rho_k, rho_m) = min(rho_k, rho_m)^3 is symmetric, so the double sum is
antisymmetric); a Maxwellian sampled at the centres is a steady state (its log-differences are exactly
-rho_k/theta, so every bracket vanishes). Time: classical RK4, step 0.25 dr^2 / max a_rr.

Samples: a cell by its mass, r^3 uniform within it (f constant on the cell), a uniform direction.
Density: linear interpolation of f_i in |v| (constant below r_0, zero beyond R).
"""
from __future__ import annotations

import math

import numpy as np
import torch
from tqdm.auto import tqdm

from problems.cases.base import Problem, uniform_directions
from problems.references.base import Reference, cached_arrays, reference_cache_path, register_reference

RESOLUTION = {"coarse": {"cells": 200, "R": 10.0}, "fine": {"cells": 400, "R": 10.0}}
CFL = 0.25
FLOOR = 1e-250  # f is kept above this (log f); far below anything a metric can see


class RadialSolver:
    """The discrete radial Landau operator on `cells` cells of [0, R] (see module docstring)."""

    def __init__(self, C: float, cells: int, R: float):
        self.C, self.n, self.R = C, cells, R
        self.dr = R / cells
        self.r = (np.arange(cells) + 0.5) * self.dr  # centres
        self.rho = np.arange(1, cells) * self.dr  # interior interfaces
        edges = np.arange(cells + 1) * self.dr
        self.volume = (edges[1:] ** 3 - edges[:-1] ** 3) / 3  # per unit solid angle
        rk, sm = self.rho[:, None], self.rho[None, :]
        self.kernel = np.minimum(1.0, (sm / rk) ** 3) * self.dr  # k(rho_k, rho_m) * weight
        self.c = 8 * math.pi * C / 3

    def flux(self, f: np.ndarray) -> np.ndarray:
        """J at the interior interfaces."""
        lf = np.log(np.maximum(f, FLOOR))
        L = np.diff(lf) / self.dr
        F = 0.5 * (f[1:] + f[:-1])
        return self.c * F * ((self.kernel @ (F * self.rho)) * L - self.rho * (self.kernel @ (F * L)))

    def diffusion(self, f: np.ndarray) -> np.ndarray:
        """a_rr at the interfaces (the coefficient of f'(r) in J)."""
        F = 0.5 * (f[1:] + f[:-1])
        return self.c * (self.kernel @ (F * self.rho))

    def rhs(self, f: np.ndarray) -> np.ndarray:
        """d f_i / dt."""
        g = self.rho**2 * self.flux(f)
        out = np.zeros_like(f)
        out[:-1] += g
        out[1:] -= g
        return out / self.volume

    def mass(self, f) -> float:
        return float(4 * math.pi * (f * self.volume).sum())

    def energy(self, f) -> float:
        """The discretely conserved second moment sum 4 pi f_i V_i r_i^2 (= E|v|^2 to O(dr^2))."""
        return float(4 * math.pi * (f * self.volume * self.r**2).sum())

    def evolve(self, f: np.ndarray, t0: float, times, progress: bool = False, desc: str = "radial reference"
               ) -> dict[float, np.ndarray]:
        """RK4 from (t0, f) to each of `times`; {t: f}."""
        out, t = {}, t0
        targets = sorted(set(float(s) for s in times))
        bar = tqdm(total=targets[-1] - t0, desc=desc, disable=not progress, leave=False, mininterval=1.0,
                   bar_format="{l_bar}{bar}| t={n:.2f}/{total:.2f}")
        for target in targets:
            while t < target - 1e-12:
                h = min(CFL * self.dr**2 / max(float(self.diffusion(f).max()), 1e-300), target - t)
                k1 = self.rhs(f)
                k2 = self.rhs(f + 0.5 * h * k1)
                k3 = self.rhs(f + 0.5 * h * k2)
                k4 = self.rhs(f + h * k3)
                f = np.maximum(f + h / 6 * (k1 + 2 * k2 + 2 * k3 + k4), 0.0)
                t += h
                bar.update(h)
            out[target] = f.copy()
        bar.close()
        return out


class RadialDensity:
    """f(v) = linear interpolation of f_i at |v| (constant below the first centre, 0 beyond R)."""

    def __init__(self, r: np.ndarray, f: np.ndarray, R: float):
        self.r, self.f, self.R = torch.from_numpy(r), torch.from_numpy(f), R

    def __call__(self, v: torch.Tensor) -> torch.Tensor:
        rad = v.to(torch.float64).norm(dim=-1)
        vals = np.interp(rad.reshape(-1).numpy(), self.r.numpy(), self.f.numpy(), left=float(self.f[0]), right=0.0)
        out = torch.from_numpy(vals).reshape(rad.shape)
        return torch.where(rad <= self.R, out, torch.zeros_like(out))

    def score(self, v: torch.Tensor, floor: float = 1e-10) -> torch.Tensor:
        """grad log f(v) = (d/dr log f)(|v|) v/|v| for v (..., 3) -> (..., 3), float64: central differences of
        log max(f_i, floor * max f) at the cell centres, linearly interpolated in r; 0 beyond R."""
        v = v.to(torch.float64)
        rad = v.norm(dim=-1)
        f = self.f.numpy()
        logf = np.log(np.maximum(f, floor * f.max()))
        dlog = np.gradient(logf, self.r.numpy())
        slope = torch.from_numpy(np.interp(rad.reshape(-1).numpy(), self.r.numpy(), dlog)).reshape(rad.shape)
        slope = torch.where(rad <= self.R, slope, torch.zeros_like(slope))
        return slope.unsqueeze(-1) * v / rad.clamp_min(1e-12).unsqueeze(-1)


def radial_sampler(solver: RadialSolver, f: np.ndarray):
    """sample(t, n, gen) -> (n, 3) i.i.d. samples of the piecewise-constant radial density f."""
    mass = torch.from_numpy(f * solver.volume)
    edges = torch.arange(solver.n + 1, dtype=torch.float64) * solver.dr

    def sample(n: int, gen: torch.Generator) -> torch.Tensor:
        cell = torch.multinomial(mass, n, replacement=True, generator=gen)
        u = torch.rand(n, generator=gen, dtype=torch.float64)
        r = (edges[cell] ** 3 + u * (edges[cell + 1] ** 3 - edges[cell] ** 3)) ** (1 / 3)
        return uniform_directions(n, 3, gen) * r[:, None]
    return sample


def initial_profile(problem: Problem, solver: RadialSolver) -> np.ndarray:
    """f0 at the cell centres, normalised to discrete mass 1."""
    v = torch.zeros(solver.n, 3, dtype=torch.float64)
    v[:, 0] = torch.from_numpy(solver.r)
    f = problem.initial_density(v).numpy()
    return f / solver.mass(f)


def build(problem: Problem, resolution: str = "fine", progress: bool = False) -> Reference:
    """The radial reference of an isotropic 3D Coulomb problem at every snapshot time (cached on disk)."""
    res = RESOLUTION[resolution]
    solver = RadialSolver(problem.C, res["cells"], res["R"])
    times = tuple(sorted(set(float(t) for t in problem.snapshot_times)))
    params = cache_params(problem, resolution)

    def compute():
        f0 = initial_profile(problem, solver)
        fs = solver.evolve(f0, problem.t0, times, progress, desc=f"radial reference {problem.name}")
        arrays = {f"f{k}": fs[t] for k, t in enumerate(times)}
        arrays["mass"] = np.array([solver.mass(f0)] + [solver.mass(fs[t]) for t in times])
        arrays["energy"] = np.array([solver.energy(f0)] + [solver.energy(fs[t]) for t in times])
        return arrays

    arrays = cached_arrays(reference_cache_path(problem, resolution, "radial"), compute,
                           keys=[f"f{k}" for k in range(len(times))] + ["mass", "energy"],
                           shapes={**{f"f{k}": (len(solver.r),) for k in range(len(times))},
                                   "mass": (len(times) + 1,), "energy": (len(times) + 1,)})
    fs = {t: np.asarray(arrays[f"f{k}"]) for k, t in enumerate(times)}
    samplers = {t: radial_sampler(solver, fs[t]) for t in times}
    dens = {t: RadialDensity(solver.r, fs[t], solver.R) for t in times}
    m, e = arrays["mass"], arrays["energy"]
    accuracy = {"resolution": resolution, **params, "mass_drift": float(np.abs(m / m[0] - 1).max()),
                "energy_drift": float(np.abs(e / e[0] - 1).max())}
    return Reference("radial", problem.name, times, dens, sampler=lambda t, n, gen: samplers[t](n, gen),
                     accuracy=accuracy, has_score=True)


def _applies(problem: Problem) -> bool:
    from problems.cases.radial import Ring
    return isinstance(problem, Ring) and problem.dim == 3 and problem.gamma == -3


def cache_params(problem: Problem, resolution: str) -> dict:
    """What a radial reference's cache file is keyed on besides the problem (`reference_cache_path`)."""
    return {**RESOLUTION[resolution], "cfl": CFL, "scheme": "landau-form/rk4"}


@register_reference("radial", _applies, cache_params)
def radial_reference(problem: Problem, resolution: str = "fine", progress: bool = False) -> Reference:
    """Registered builder: `build` for isotropic 3D Coulomb problems (the Rosenbluth ring)."""
    return build(problem, resolution, progress)
