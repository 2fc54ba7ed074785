"""Full-size verification of the references (the CI tests run the same checks at reduced sizes).

    PYTHONPATH=. python benchmarks/verify_references.py [--w1-n 10000] [--kde-n 1000000] [--parts sde grid]

* SDE reference on BKW (where f_t is exact), at every snapshot after t0: W1 between n reference
  samples and n exact samples against W1 between two independent exact samples of n (mean over 3
  seeds), and the KDE L2 of the reference pool (10^6 paths in 2D) against that of as many exact
  samples (mean over 6 seeds: at 10^6 one exact sample's KDE error varies by ~12% between
  seeds);
  the relative L2 error of the reference density on the evaluation grid.
* Grid solver with gamma = 0 on bkw2d: Richardson R(n, 2n) against the exact density, by default at
  anisotropic2d's cell size (R(80, 160) on [-5, 5]^2: h = 0.125 and 0.0625, as R(128, 256) on its 16-wide box).
* Grid solver on anisotropic2d at its fine resolution: the drift of a Maxwellian (an exact steady state).
* Radial and grid references: the accuracy numbers their builders store (self-convergence, mass,
  energy), printed by `python -m harness references`.
"""
from __future__ import annotations

import argparse
import time

import numpy as np
import torch

import metrics
import problems
from problems.references import sde as sde_reference
from problems.references.grid import RESOLUTION, initial_grid, make_solver, maxwellian_drift, richardson

EXACT_SEEDS = 6


def sde_on_bkw(name: str, w1_n: int, kde_n: int) -> None:
    p = problems.get_problem(name)
    t0 = time.perf_counter()
    ref = sde_reference.build(p, "fine")
    print(f"{name}: sde reference ({ref.accuracy['paths']} paths, dt {ref.accuracy['dt']}) in {time.perf_counter() - t0:.1f} s")
    pts, _ = p.eval_grid()
    for t in p.snapshot_times:
        if t == p.t0:
            continue
        ref_w1 = [metrics.w1(ref.sample_at(t, w1_n, 10 + k), p.sample_at(t, w1_n, 100 + k)) for k in range(3)]
        ex_w1 = [metrics.w1(p.sample_at(t, w1_n, 200 + k), p.sample_at(t, w1_n, 100 + k)) for k in range(3)]
        n = min(kde_n, ref.samples[t].shape[0])
        kde_ref = metrics.kde_l2(ref.sample_at(t, n, 1), p, t)
        exact_kdes = [metrics.kde_l2(p.sample_at(t, n, 2 + k), p, t) for k in range(EXACT_SEEDS)]
        kde_ex = float(np.mean(exact_kdes))  # the exact samples' own KDE error varies by ~10% between seeds
        exact = p.density(pts, t)
        dens = float((ref.density(pts, t) - exact).norm() / exact.norm())
        print(f"  t = {t:g}: W1 ref-exact {np.mean(ref_w1):.4f} vs exact-exact {np.mean(ex_w1):.4f} "
              f"(ratio {np.mean(ref_w1) / np.mean(ex_w1):.3f}); KDE L2 of {n} ref {kde_ref:.4f} vs exact {kde_ex:.4f} "
              f"({EXACT_SEEDS} seeds: {min(exact_kdes):.4f}-{max(exact_kdes):.4f}) "
              f"(ratio {kde_ref / kde_ex:.3f}); density rel L2 {dens:.4f}", flush=True)


def grid_on_bkw(n: int, half_width: float) -> None:
    p = problems.get_problem("bkw2d")
    t0 = time.perf_counter()
    sols = {m: make_solver(p, m, half_width) for m in (n, 2 * n)}
    runs = {m: s.evolve(initial_grid(p, s), 0.0, p.snapshot_times) for m, s in sols.items()}
    X, Y = torch.meshgrid(*sols[2 * n].axes, indexing="ij")
    print(f"bkw2d, gamma = 0, grid R({n}, {2 * n}) on [-{half_width:g}, {half_width:g}]^2 "
          f"(h = {sols[2 * n].h:.4f}) in {time.perf_counter() - t0:.1f} s")
    for t in p.snapshot_times:
        exact = p.density(torch.stack([X, Y], -1), t)
        best = richardson(runs[n][t], runs[2 * n][t])
        print(f"  t = {t:g}: rel L2 {float((best - exact).norm() / exact.norm()):.2e} "
              f"(2n alone {float((runs[2 * n][t] - exact).norm() / exact.norm()):.2e})", flush=True)


def grid_maxwellian() -> None:
    """anisotropic2d's Richardson pair at its fine resolution, started from the Maxwellian of its mean and
    temperature (an exact steady state): the drift over the horizon, beside the reference's self-convergence."""
    p = problems.get_problem("anisotropic2d")
    res = RESOLUTION["fine"]
    t0 = time.perf_counter()
    drift = maxwellian_drift(p, res["cells"], res["half_width"])
    print(f"anisotropic2d: a Maxwellian under R({res['cells']}, {2 * res['cells']}) drifts {drift:.2e} relative L2 "
          f"over t = {p.t0:g}..{p.T:g} ({time.perf_counter() - t0:.1f} s)", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--w1-n", type=int, default=10_000)
    ap.add_argument("--kde-n", type=int, default=1_000_000)
    # anisotropic2d's cell size (h = 0.0625 for the 2n run) on a box sized for BKW: with gamma = 0,
    # |a| grows like |v|^2, so the explicit step shrinks like 1 / half_width^2 (262 s on 2 cores at 5.0)
    ap.add_argument("--grid-n", type=int, default=80)
    ap.add_argument("--grid-half-width", type=float, default=5.0)
    ap.add_argument("--parts", nargs="+", choices=("sde", "grid"), default=("sde", "grid"))
    args = ap.parse_args()
    if "sde" in args.parts:
        for name in ("bkw2d", "bkw3d"):
            sde_on_bkw(name, args.w1_n, args.kde_n)
    if "grid" in args.parts:
        grid_on_bkw(args.grid_n, args.grid_half_width)
        grid_maxwellian()


if __name__ == "__main__":
    main()
