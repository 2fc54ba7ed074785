"""`grid` reference for 2D problems without symmetry (anisotropic2d): a finite-volume Landau solver.

The equation in Landau form, d_t f = div( a grad f - f (A * grad f) ),  a = A * f,  which needs only
the kernel A(z) = C |z|^gamma (|z|^2 I - z z^T) (integrable for gamma > -4 in 2D), never the
principal-value kernel div A. On n x n cells of a square box:
* convolutions by FFT on the zero-padded (2n)^2 grid with *cell-averaged* kernel weights
  (tensor Gauss-Legendre per cell, 16 x 16 points near the origin; the cell at the origin by the
  symmetry identity avg(A) = C/2 avg(|z|^(gamma+2)) I, its radial average by quadrature), so the
  Coulomb singularity is integrated, not sampled;
* grad f by central differences at the centres; fluxes at the faces from face averages; zero flux
  through the boundary, so mass is conserved exactly (telescoping);
* SSP-RK3 with step `CFL` h^2 / max|a|.
Each run is second order; the reference is the Richardson combination (4 f_2n - Q f_n)/3 of runs on
n and 2n cells (Q: fourth-order cubic interpolation to the fine cells), which cancels the O(h^2)
error, keeps the mass and cancels the leading energy drift. Energy and a Maxwellian's drift are
conserved only to discretisation error (measured, stored, reported).
Samples: a cell by its mass, uniform within it. Density: bilinear interpolation of the cell values.
"""
from __future__ import annotations

import math

import numpy as np
import torch
from scipy import integrate
from tqdm.auto import tqdm

from problems.cases.base import Problem
from problems.references.grid_density import GridDensity
from problems.references.base import Reference, cached_arrays, reference_cache_path, register_reference

#: Richardson pair R(n, 2n) with n = `cells`; its self-convergence is measured against R(n/2, n)
RESOLUTION = {"coarse": {"cells": 32, "half_width": 8.0}, "fine": {"cells": 128, "half_width": 8.0}}
#: cubic Lagrange weights at a quarter cell (fine centre from coarse centres i-1, i, i+1, i+2)
QUARTER = (-21 / 384, 105 / 128, 35 / 128, -15 / 384)
#: SSP-RK3's stability interval on the negative real axis is [-2.51, 0] and the discrete diffusion operator's spectral
#: radius is at most 8 max|a| / h^2 (frozen coefficients, transport term left out), so steps up to 2.51 / 8 = 0.31
#: h^2 / max|a| are stable; 0.25 keeps 20% of margin for the transport term and for max|a| moving between the
#: recomputations of the step (every 20 steps). Measured on anisotropic2d's 256^2 run to t = 10: 0.35 stable, 0.4 not
#: (1.7e-2 from the CFL 0.2 result, NaN at 0.45). 0.25 takes 0.8x the steps of 0.2 (the stored densities: docs/references.md)
CFL = 0.25
NEAR = 2  # cells within this many of the origin get 16 x 16 Gauss points (else 4 x 4)


def _center_average(gamma: float, h: float) -> float:
    """avg over [-h/2, h/2]^2 of |z|^(gamma + 2), by the polar integral over one eighth of the square."""
    p, a = gamma + 2, h / 2
    val, _ = integrate.quad(lambda th: (a / math.cos(th)) ** (p + 2), 0, math.pi / 4, epsabs=0, epsrel=1e-13)
    return 8 * val / (p + 2) / (h * h)


def kernel_averages(gamma: float, C: float, n: int, h: float) -> np.ndarray:
    """Cell averages of A(z) on the lattice offsets (k h, l h), |k|, |l| <= n - 1: array (3, 2n-1, 2n-1)
    of (A_xx, A_xy, A_yy)."""
    k = np.arange(-(n - 1), n) * h
    out = np.zeros((3, 2 * n - 1, 2 * n - 1))
    for m, near in ((4, False), (16, True)):
        x, w = np.polynomial.legendre.leggauss(m)
        x, w = x * h / 2, w / 2  # nodes in [-h/2, h/2], weights summing to 1
        zx = k[:, None, None, None] + x[None, None, :, None]
        zy = k[None, :, None, None] + x[None, None, None, :]
        if near:
            sel = np.abs(np.arange(-(n - 1), n)) <= NEAR
            zx, zy = zx[sel], zy[:, sel]
        r2 = zx * zx + zy * zy
        with np.errstate(divide="ignore", invalid="ignore"):
            rg = np.where(r2 > 0, r2 ** (gamma / 2), 0.0)
        ww = w[:, None] * w[None, :]
        comps = [rg * (r2 - zx * zx), -rg * zx * zy, rg * (r2 - zy * zy)]
        avg = [C * (c * ww).sum(axis=(-2, -1)) for c in comps]
        if near:
            idx = np.nonzero(sel)[0]
            for c in range(3):
                out[c][np.ix_(idx, idx)] = avg[c]
        else:
            for c in range(3):
                out[c] = avg[c]
    centre = n - 1
    diag = C * 0.5 * _center_average(gamma, h)
    out[0, centre, centre], out[1, centre, centre], out[2, centre, centre] = diag, 0.0, diag
    return out


class GridSolver:
    """The finite-volume Landau operator on n x n cells of the square [cx +- w] x [cy +- w]."""

    def __init__(self, gamma: float, C: float, n: int, center: tuple[float, float], half_width: float):
        self.n, self.h = n, 2 * half_width / n
        self.axes = [torch.tensor(c - half_width + (np.arange(n) + 0.5) * self.h) for c in center]
        P = 2 * n
        kern = torch.from_numpy(kernel_averages(gamma, C, n, self.h))
        padded = torch.zeros(3, P, P, dtype=torch.float64)
        idx = torch.arange(-(n - 1), n) % P
        padded[:, idx[:, None], idx[None, :]] = kern
        self.khat = torch.fft.rfft2(padded * self.h * self.h)  # (3, P, P//2 + 1)
        self.P = P

    def _inverse(self, acc: torch.Tensor) -> torch.Tensor:
        """The first n x n values of the inverse real FFTs of acc (..., P, P//2 + 1): the inverse along the rows,
        only the n rows kept, then along the columns (the padded rows are never transformed back)."""
        rows = torch.fft.ifft(acc, dim=-2)[..., : self.n, :]
        return torch.fft.irfft(rows, n=self.P, dim=-1)[..., : self.n]

    def _conv(self, fields_hat: list[torch.Tensor], comps: list[int]) -> torch.Tensor:
        """sum_c K_c * g_c on the cells, from the fields' transforms and the kernel components `comps`."""
        return self._inverse(sum(self.khat[c] * fh for c, fh in zip(comps, fields_hat)))

    def _hat(self, g: torch.Tensor) -> torch.Tensor:
        """The real FFT of g (..., n, n) zero-padded to P x P."""
        return torch.fft.rfft2(g, s=(self.P, self.P))

    @staticmethod
    def _grad(f: torch.Tensor, h: float) -> tuple[torch.Tensor, torch.Tensor]:
        p = torch.nn.functional.pad(f, (1, 1, 1, 1))
        return (p[2:, 1:-1] - p[:-2, 1:-1]) / (2 * h), (p[1:-1, 2:] - p[1:-1, :-2]) / (2 * h)

    def coefficients(self, f: torch.Tensor):
        """(a_xx, a_xy, a_yy, b_x, b_y, g_x, g_y) at the cell centres; b = A * grad f: the three fields
        transformed as one batch, the five convolutions transformed back as one. The five products are written into
        one buffer: (K_xx, K_xy, K_yy) f^, (K_xx, K_xy) gx^ + (K_xy, K_yy) gy^ (the same numbers as five separate
        products stacked, in 0.88x the time of the whole right-hand side on 256^2 cells)."""
        gx, gy = self._grad(f, self.h)
        fh, gxh, gyh = self._hat(torch.stack([f, gx, gy])).unbind(0)
        k = self.khat
        acc = torch.empty((5,) + fh.shape, dtype=fh.dtype, device=fh.device)
        torch.mul(k, fh, out=acc[:3])
        torch.mul(k[:2], gxh, out=acc[3:])
        acc[3:] += k[1:] * gyh
        axx, axy, ayy, bx, by = self._inverse(acc).unbind(0)
        return axx, axy, ayy, bx, by, gx, gy

    def rhs(self, f: torch.Tensor) -> torch.Tensor:
        """d f / dt at the cell centres (divergence of the face fluxes; none through the boundary)."""
        axx, axy, ayy, bx, by, gx, gy = self.coefficients(f)
        h = self.h
        mid = lambda q, dim: 0.5 * (q.narrow(dim, 1, q.shape[dim] - 1) + q.narrow(dim, 0, q.shape[dim] - 1))
        fx = (f[1:] - f[:-1]) / h
        flux_x = mid(axx, 0) * fx + mid(axy, 0) * mid(gy, 0) - mid(f, 0) * mid(bx, 0)
        fy = (f[:, 1:] - f[:, :-1]) / h
        flux_y = mid(axy, 1) * mid(gx, 1) + mid(ayy, 1) * fy - mid(f, 1) * mid(by, 1)
        out = torch.zeros_like(f)
        out[:-1] += flux_x / h
        out[1:] -= flux_x / h
        out[:, :-1] += flux_y / h
        out[:, 1:] -= flux_y / h
        return out

    def max_diffusion(self, f: torch.Tensor) -> float:
        fh = self._hat(f)
        axx, axy, ayy = (self._conv([fh], [c]) for c in range(3))
        return float((0.5 * (axx + ayy) + torch.sqrt(0.25 * (axx - ayy) ** 2 + axy**2)).max())

    def mass(self, f) -> float:
        return float(f.sum() * self.h * self.h)

    def energy(self, f) -> float:
        """sum |v|^2 f h^2 at the cell centres."""
        X, Y = torch.meshgrid(*self.axes, indexing="ij")
        return float(((X * X + Y * Y) * f).sum() * self.h * self.h)

    def evolve(self, f: torch.Tensor, t0: float, times, progress=False, desc="grid reference") -> dict[float, torch.Tensor]:
        """SSP-RK3 from (t0, f) to each of `times`; {t: f}. The step is set from max|a| every 20 steps."""
        out, t, step = {}, t0, 0
        targets = sorted(set(float(s) for s in times))
        bar = tqdm(total=targets[-1] - t0, desc=desc, disable=not progress, leave=False, mininterval=1.0,
                   bar_format="{l_bar}{bar}| t={n:.2f}/{total:.2f}")
        dt_max = None
        for target in targets:
            while t < target - 1e-12:
                if step % 20 == 0:
                    if not bool(torch.isfinite(f).all()):
                        raise FloatingPointError(f"{desc}: the density is not finite at t = {t:.4g} (SSP-RK3 at CFL "
                                                 f"{CFL} unstable for this problem; a smaller CFL in "
                                                 "problems/references/grid.py is the remedy)")
                    dt_max = CFL * self.h**2 / max(self.max_diffusion(f), 1e-300)
                dt = min(dt_max, target - t)
                f1 = f + dt * self.rhs(f)
                f2 = 0.75 * f + 0.25 * (f1 + dt * self.rhs(f1))
                f = f / 3 + 2 / 3 * (f2 + dt * self.rhs(f2))
                t += dt
                step += 1
                bar.update(dt)
            out[target] = f.clone()
        bar.close()
        return out


def refine(f: torch.Tensor) -> torch.Tensor:
    """Values at the centres of the 2n x 2n cells from those of the n x n cells: tensor cubic Lagrange
    interpolation (fourth order; zero beyond the boundary); preserves the sum times the cell area."""
    for dim in (0, 1):
        p = torch.nn.functional.pad(torch.movedim(f, dim, -1), (2, 2))
        n = p.shape[-1] - 4
        cols = [p[..., k:k + n] for k in range(5)]  # c[i-2], c[i-1], c[i], c[i+1], c[i+2]
        w = QUARTER
        right = w[0] * cols[1] + w[1] * cols[2] + w[2] * cols[3] + w[3] * cols[4]  # at i + 1/4
        left = w[3] * cols[0] + w[2] * cols[1] + w[1] * cols[2] + w[0] * cols[3]  # at i - 1/4
        f = torch.movedim(torch.stack([left, right], -1).reshape(*left.shape[:-1], 2 * n), -1, dim)
    return f


def richardson(coarse: torch.Tensor, fine: torch.Tensor) -> torch.Tensor:
    """(4 f_2n - Q f_n) / 3 on the fine cells: the O(h^2) error of the two runs cancels."""
    return (4 * fine - refine(coarse)) / 3


def grid_sampler(solver: GridSolver, f: torch.Tensor):
    """sample(n, gen) -> (n, 2) i.i.d. samples of the piecewise-constant density of the cells."""
    weights = f.clamp_min(0).reshape(-1)

    def sample(n: int, gen: torch.Generator) -> torch.Tensor:
        cell = torch.multinomial(weights, n, replacement=True, generator=gen)
        i, j = cell // solver.n, cell % solver.n
        u = torch.rand(n, 2, generator=gen, dtype=torch.float64) - 0.5
        return torch.stack([solver.axes[0][i], solver.axes[1][j]], 1) + u * solver.h
    return sample


def initial_grid(problem: Problem, solver: GridSolver) -> torch.Tensor:
    """f0 at the cell centres, normalised to discrete mass 1."""
    X, Y = torch.meshgrid(*solver.axes, indexing="ij")
    f = problem.initial_density(torch.stack([X, Y], -1))
    return f / solver.mass(f)


def make_solver(problem: Problem, cells: int, half_width: float) -> GridSolver:
    """A grid solver on a square centred at the problem's (conserved) mean."""
    mean = problem.initial_mean().tolist()
    return GridSolver(problem.gamma, problem.C, cells, (mean[0], mean[1]), half_width)


def maxwellian_drift(problem: Problem, cells: int, half_width: float) -> float:
    """||R_T - R_t0|| / ||R_t0|| for the Richardson pair R(cells, 2 cells) started from the Maxwellian
    M(v) ~ exp(-|v - m|^2 / 2T) with the problem's mean m and temperature T = tr Sigma0 / d: M is an
    exact steady state of the Landau equation, so this is the scheme's own drift over the horizon."""
    mean = problem.initial_mean()
    temperature = float(torch.trace(problem.initial_covariance())) / problem.dim
    starts, ends = {}, {}
    for m in (cells, 2 * cells):
        solver = make_solver(problem, m, half_width)
        X, Y = torch.meshgrid(*solver.axes, indexing="ij")
        fm = torch.exp(-((X - mean[0]) ** 2 + (Y - mean[1]) ** 2) / (2 * temperature))
        starts[m] = fm / solver.mass(fm)
        ends[m] = solver.evolve(starts[m], problem.t0, [problem.T])[problem.T]
    start = richardson(starts[cells], starts[2 * cells])
    return float((richardson(ends[cells], ends[2 * cells]) - start).norm() / start.norm())


def build(problem: Problem, resolution: str = "fine", progress: bool = False) -> Reference:
    """The grid reference of a 2D problem at every snapshot time (cached on disk): the Richardson
    combination of runs on n and 2n cells; a run on n/2 cells gives the self-convergence check
    ||R(n/2, n) - R(n, 2n)|| / ||R(n, 2n)|| stored with it."""
    res = RESOLUTION[resolution]
    n = res["cells"]
    solvers = {m: make_solver(problem, m, res["half_width"]) for m in (n // 2, n, 2 * n)}
    fine = solvers[2 * n]
    times = tuple(sorted(set(float(t) for t in problem.snapshot_times)))
    params = cache_params(problem, resolution)

    def compute():
        runs = {}
        for m, solver in solvers.items():
            runs[m] = solver.evolve(initial_grid(problem, solver), problem.t0, times, progress,
                                    desc=f"grid reference {problem.name} ({m}^2)")
        arrays, f0 = {}, initial_grid(problem, fine)
        mass, energy, selfconv = [fine.mass(f0)], [fine.energy(f0)], []
        for k, t in enumerate(times):
            best = richardson(runs[n][t], runs[2 * n][t])
            check = refine(richardson(runs[n // 2][t], runs[n][t]))
            arrays[f"f{k}"] = best.numpy()
            mass.append(fine.mass(best))
            energy.append(fine.energy(best))
            selfconv.append(float((check - best).norm() / best.norm()))
        arrays.update(mass=np.array(mass), energy=np.array(energy), selfconv=np.array(selfconv))
        return arrays

    grid = tuple(len(ax) for ax in fine.axes)
    arrays = cached_arrays(reference_cache_path(problem, resolution, "grid"), compute,
                           keys=[f"f{k}" for k in range(len(times))] + ["mass", "energy", "selfconv"],
                           shapes={**{f"f{k}": grid for k in range(len(times))}, "mass": (len(times) + 1,),
                                   "energy": (len(times) + 1,), "selfconv": (len(times),)})
    fs = {t: torch.from_numpy(np.asarray(arrays[f"f{k}"])) for k, t in enumerate(times)}
    samplers = {t: grid_sampler(fine, fs[t]) for t in times}
    dens = {t: GridDensity(tuple(fine.axes), fs[t]) for t in times}
    m, e = arrays["mass"], arrays["energy"]
    accuracy = {"resolution": resolution, **params, "mass_drift": float(np.abs(m / m[0] - 1).max()),
                "energy_drift": float(np.abs(e / e[0] - 1).max()),
                "self_convergence": [float(x) for x in arrays["selfconv"]]}
    return Reference("grid", problem.name, times, dens, sampler=lambda t, n, gen: samplers[t](n, gen),
                     accuracy=accuracy, has_score=True)


def cache_params(problem: Problem, resolution: str) -> dict:
    """What a grid reference's cache file is keyed on besides the problem (`reference_cache_path`)."""
    return {**RESOLUTION[resolution], "cfl": CFL, "near": NEAR, "scheme": "landau-form/fv/ssprk3/richardson"}


@register_reference("grid", lambda p: p.dim == 2 and p.gamma != 0 and p.states_moments, cache_params)
def grid_reference(problem: Problem, resolution: str = "fine", progress: bool = False) -> Reference:
    """Registered builder: `build` for 2D non-Maxwell problems that state their initial mean."""
    return build(problem, resolution, progress)
