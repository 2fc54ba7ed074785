"""`sde` reference for Maxwell problems (gamma = 0): f_t as the law of a linear-coefficient SDE.

With u = v - m (m the conserved mean) and Sigma(t) the covariance (closed form, problems.equation.maxwell),
    a(v) = (A*f)(v) = C [ (|u|^2 + tr Sigma) I - u u^T - Sigma ],   b(v) = ((div A)*f)(v) = -(d-1) C u,
and div_v a = b, so the Landau equation d_t f = div(a grad f - b f) = sum_ij d_i d_j (a_ij f) - div(2 b f)
is the Fokker-Planck equation of
    dV = 2 b(V) dt + sigma(V) dW,   sigma sigma^T = 2 a.
No matrix square root per path is needed: a = C [ |u|^2 P_u + (tr Sigma I - Sigma) ] with P_u the
projection orthogonal to u, so with two independent Brownian motions
    sigma dW = sqrt(2C) [ |u| dW1 - u (u . dW1)/|u| + (tr Sigma I - Sigma)^(1/2) dW2 ].
Paths start from exact samples of f0 and are advanced by Euler-Maruyama (weak order 1), with
Sigma at the middle of each step and steps that land on every snapshot time.

At each snapshot the paths are moment-matched (`match_moments`): the affine map
x -> m + Sigma(t)^(1/2) S^(-1/2) (x - xbar), S the sample covariance, gives the pool exactly the
conserved mean and the closed-form covariance. This removes Euler-Maruyama's O(dt) bias in the second
moment and the pool's own sampling error in it (the map is I + O(n^(-1/2))). Why it matters: the KDE
error is dominated by its smoothing bias (h^2/2) Lap f, and a pool whose variance is off by eps per
coordinate shifts that bias by the factor (1 + eps/h^2): at h = 0.15 an unmatched 10^6-path pool with
E|u|^2 off by 0.2% (its own sampling error is 0.09%) read 1.10x the mean KDE error of 6 exact
samples of 10^6 on bkw2d at t = 5 (1.13x against 2 seeds).

The density at each snapshot: the paths are linearly binned onto a fine grid (the evaluation box
padded by `PAD`), smoothed by separable Gaussian convolution at bandwidths h and sqrt(2) h, and
combined as 2 K_h - K_sqrt2h (Richardson: the O(h^2) smoothing bias cancels), clipped at 0;
`GridDensity` interpolates it. Verified on BKW, where f_t is exact (tests, README).
"""
from __future__ import annotations

import math

import numpy as np
import torch
from tqdm.auto import tqdm

from infra import seeds
from problems.cases.base import Problem, make_generator
from problems.references.grid_density import GridDensity
from problems.equation.maxwell import maxwell_covariance
from problems.references.base import Reference, cached_arrays, reference_cache_path, register_reference

#: paths (per dimension), the Euler-Maruyama step (raised on long horizons so that there are at most
#: max_steps steps), density grid spacing and smoothing bandwidth per resolution and dimension; the
#: coarse resolution only exercises the code path (the smoke profile, CI)
RESOLUTION = {
    "coarse": {"paths": {2: 50_000, 3: 50_000}, "dt": 0.02, "spacing": {2: 0.08, 3: 0.2}, "h": {2: 0.15, 3: 0.3},
               "max_steps": 500},
    "fine": {"paths": {2: 1_000_000, 3: 1_000_000}, "dt": 0.01, "spacing": {2: 0.04, 3: 0.08}, "h": {2: 0.08, 3: 0.16},
             "max_steps": 2000},
}
PAD = 1.0  # the density grid extends the evaluation box by this much on each side
#: paths per block of an Euler-Maruyama step: the step's passes stay in cache (each path's update is its own, so the
#: result is bit for bit the one of the whole pool; about 25% less time per step on one CPU thread at 10^6 paths)
STEP_CHUNK = 16_384
SEED = seeds.SDE_INITIAL.seed(0)


def simulate(problem: Problem, times, paths: int, dt: float, seed: int = SEED, progress: bool = False,
             dtype=torch.float64) -> dict[float, torch.Tensor]:
    """Euler-Maruyama paths of the Maxwell SDE from `paths` exact samples of f0; {t: (paths, d)} at `times`."""
    if problem.gamma != 0:
        raise ValueError(f"{problem.name}: the SDE reference needs gamma = 0, got {problem.gamma}")
    d, C, t0 = problem.dim, problem.C, problem.t0
    gen = make_generator(seed + seeds.SDE_NOISE.offset - seeds.SDE_INITIAL.offset)  # the noise stream; seed draws the initial samples
    v = problem.sample(paths, seed).to(dtype).clone()  # advanced in place by _em_step
    mean = problem.initial_mean().to(dtype)
    cov0 = problem.initial_covariance()
    out, t = {}, t0
    targets = sorted(set(float(s) for s in times))
    steps = sum(math.ceil((b - a) / dt - 1e-9) for a, b in zip([t0] + targets[:-1], targets))
    bar = tqdm(total=steps, desc=f"sde reference {problem.name}", disable=not progress, leave=False, mininterval=1.0)
    z = torch.empty(paths, 2 * d, dtype=dtype)  # refilled in place each step: a fresh tensor per step spent 14 of its
    # 32 ms (10^6 paths, 3D, one thread) faulting in new pages; normal_ draws the numbers torch.randn would
    for target in targets:
        while t < target - 1e-12:
            h = min(dt, target - t)
            sig = maxwell_covariance(cov0, C, t + h / 2, t0)
            evals, evecs = torch.linalg.eigh(torch.trace(sig) * torch.eye(d, dtype=torch.float64) - sig)
            root = (evecs * evals.clamp_min(0).sqrt()) @ evecs.T  # (tr Sigma I - Sigma)^(1/2)
            z.normal_(generator=gen)  # one draw per step (the numbers of torch.randn): the stream is chunk-free
            for vs, zs in zip(v.split(STEP_CHUNK), z.split(STEP_CHUNK)):  # cache-sized blocks, each in place
                _em_step(vs, mean, root.to(dtype), 2 * (d - 1) * C * h, math.sqrt(2 * C * h), zs)
            t += h
            bar.update(1)
        out[target] = v.clone()
    bar.close()
    return out


def _em_step(v: torch.Tensor, mean: torch.Tensor, root: torch.Tensor, pull: float, scale: float,
             z: torch.Tensor) -> torch.Tensor:
    """One Euler-Maruyama step of the module's SDE, v (n, d) updated in place and returned, from standard normal draws z (n, 2d):

        v + 2 b(v) h + sigma(v) dW = v - pull u + scale [ |u| z1 - u (u . z1) / |u| + z2 root^T ],

    u = v - mean, pull = 2 (d-1) C h, scale = sqrt(2 C h), root = (tr Sigma I - Sigma)^(1/2). The same
    arithmetic as the formula written out, in fewer passes over the pool:
    18% less time per step than the written-out expression on one CPU thread, equal to it at round-off."""
    d = v.shape[1]
    u = v - mean
    r = torch.linalg.vector_norm(u, dim=1, keepdim=True).clamp_min_(torch.finfo(v.dtype).tiny)
    z1, z2 = z[:, :d], z[:, d:]
    along = torch.linalg.vecdot(u, z1).unsqueeze_(1).div_(r)  # (u . z1) / |u|
    noise = torch.addcmul(z2 @ root.T, r, z1).addcmul_(u, along, value=-1.0)
    return v.sub_(u, alpha=pull).add_(noise, alpha=scale)


def _sym_power(mat: torch.Tensor, power: float) -> torch.Tensor:
    """mat^power for a symmetric positive definite matrix, by its eigendecomposition."""
    evals, evecs = torch.linalg.eigh(mat)
    return (evecs * evals.pow(power)) @ evecs.T


def match_moments(x: torch.Tensor, mean: torch.Tensor, cov: torch.Tensor) -> torch.Tensor:
    """The samples moved by x -> mean + cov^(1/2) S^(-1/2) (x - xbar) (xbar, S: their mean and unbiased
    covariance), so that their mean is `mean` and their covariance `cov` exactly (float64)."""
    x = x.to(torch.float64)
    xbar = x.mean(0)
    S = torch.cov((x - xbar).T).reshape(x.shape[1], x.shape[1])
    T = _sym_power(cov.to(torch.float64), 0.5) @ _sym_power(S, -0.5)
    return mean.to(torch.float64) + (x - xbar) @ T.T


def reference_paths(problem: Problem, times, paths: int, dt: float, seed: int = SEED, progress: bool = False,
                    dtype=torch.float64) -> dict[float, torch.Tensor]:
    """The reference pools: `simulate`, then `match_moments` to the conserved mean and the closed-form
    Sigma(t) at each time (float64 out)."""
    mean, cov0 = problem.initial_mean(), problem.initial_covariance()
    return {t: match_moments(x, mean, maxwell_covariance(cov0, problem.C, t, problem.t0))
            for t, x in simulate(problem, times, paths, dt, seed, progress, dtype).items()}


def _smoothing_matrix(axis: torch.Tensor, h: float) -> torch.Tensor:
    """Row-normalised-free Gaussian convolution on a regular axis: M[i, j] = step * N(x_i - x_j; 0, h^2)."""
    step = float(axis[1] - axis[0])
    z = (axis[:, None] - axis[None, :]) / h
    return torch.exp(-0.5 * z * z) * step / (math.sqrt(2 * math.pi) * h)


def binned_density(x: torch.Tensor, axes: list[torch.Tensor], h: float) -> torch.Tensor:
    """Richardson-corrected smoothed density of the samples x on the grid `axes`:
    2 (G_h * B) - (G_sqrt2h * B), B the linear-binning histogram density, clipped at 0."""
    n, d = x.shape
    shape = [len(a) for a in axes]
    steps = [float(a[1] - a[0]) for a in axes]
    counts = torch.zeros(math.prod(shape), dtype=torch.float64)
    base, fracs, inside = [], [], torch.ones(n, dtype=torch.bool)
    for k, a in enumerate(axes):
        pos = (x[:, k].to(torch.float64) - float(a[0])) / steps[k]
        inside &= (pos >= 0) & (pos <= shape[k] - 1)
        i0 = pos.floor().clamp(0, shape[k] - 2).long()
        base.append(i0)
        fracs.append((pos - i0).clamp(0, 1))
    strides = [math.prod(shape[k + 1:]) for k in range(d)]
    for corner in range(2 ** d):
        w = inside.to(torch.float64)
        flat = torch.zeros(n, dtype=torch.long)
        for k in range(d):
            bit = (corner >> k) & 1
            w = w * (fracs[k] if bit else 1 - fracs[k])
            flat += (base[k] + bit) * strides[k]
        counts.index_add_(0, flat, w)
    hist = counts.reshape(shape) / (n * math.prod(steps))
    smoothed = []
    for bw in (h, math.sqrt(2) * h):
        g = hist
        for k, a in enumerate(axes):
            g = torch.movedim(torch.tensordot(_smoothing_matrix(a, bw), torch.movedim(g, k, 0), dims=1), 0, k)
        smoothed.append(g)
    return (2 * smoothed[0] - smoothed[1]).clamp_min(0)


def density_axes(problem: Problem, spacing: float) -> list[torch.Tensor]:
    """Axes of the density grid: the evaluation box padded by PAD, at about `spacing`."""
    axes = []
    for lo, hi in problem.grid_box:
        a, b = lo - PAD, hi + PAD
        axes.append(torch.linspace(a, b, int(round((b - a) / spacing)) + 1, dtype=torch.float64))
    return axes


def build(problem: Problem, resolution: str = "fine", progress: bool = False) -> Reference:
    """The SDE reference of a Maxwell problem at every snapshot time (cached on disk)."""
    res = RESOLUTION[resolution]
    d = problem.dim
    params = cache_params(problem, resolution)
    dt = params["dt"]
    times = tuple(sorted(set(float(t) for t in problem.snapshot_times)))
    axes = density_axes(problem, res["spacing"][d])

    def compute():
        paths = reference_paths(problem, times, params["paths"], dt, SEED, progress, dtype=torch.float32)
        arrays = {}
        for k, t in enumerate(times):
            arrays[f"x{k}"] = paths[t].to(torch.float32).numpy()
            arrays[f"f{k}"] = binned_density(paths[t], axes, res["h"][d]).numpy()
        return arrays

    grid = tuple(len(ax) for ax in axes)
    arrays = cached_arrays(reference_cache_path(problem, resolution, "sde"), compute,
                           keys=[f"{a}{k}" for k in range(len(times)) for a in "xf"],
                           shapes={**{f"x{k}": (params["paths"], d) for k in range(len(times))},
                                   **{f"f{k}": grid for k in range(len(times))}})
    samples = {t: torch.from_numpy(np.asarray(arrays[f"x{k}"], dtype=np.float64)) for k, t in enumerate(times)}
    dens = {t: GridDensity(tuple(axes), torch.from_numpy(arrays[f"f{k}"])) for k, t in enumerate(times)}
    return Reference("sde", problem.name, times, dens, samples=samples, accuracy={"resolution": resolution, **params})


def cache_params(problem: Problem, resolution: str) -> dict:
    """What an SDE reference's cache file is keyed on besides the problem (`reference_cache_path`)."""
    res, d = RESOLUTION[resolution], problem.dim
    dt = max(res["dt"], (problem.T - problem.t0) / res["max_steps"])  # long horizons: at most max_steps steps
    return {"paths": res["paths"][d], "dt": dt, "spacing": res["spacing"][d], "h": res["h"][d], "seed": SEED,
            "pad": PAD, "dtype": "float32", "scheme": "euler-maruyama/moment-matched/binned-richardson"}


@register_reference("sde", lambda p: p.gamma == 0 and p.states_moments, cache_params)
def sde_reference(problem: Problem, resolution: str = "fine", progress: bool = False) -> Reference:
    """Registered builder: `build` for Maxwell problems that state their initial covariance."""
    return build(problem, resolution, progress)
