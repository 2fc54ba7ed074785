"""Benchmark (not a test): the O(N) Maxwell drift against the blockwise pairwise sum, same run.

    python benchmarks/bench_drift_maxwell.py [--n 64000] [--d 3] [--dtype float64]

Prints both wall times, the speed-up and the relative difference of the two results.
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch

from problems import drift, pairwise_drift


def best_of(fn, repeats: int) -> float:
    """Median wall time of `repeats` calls of fn."""
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=64_000)
    ap.add_argument("--d", type=int, default=3)
    ap.add_argument("--dtype", choices=["float32", "float64"], default="float64")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    dtype = getattr(torch, args.dtype)
    g = torch.Generator().manual_seed(args.seed)
    v = torch.randn(args.n, args.d, generator=g, dtype=dtype)
    s = -v + 0.1 * torch.randn(args.n, args.d, generator=g, dtype=dtype)
    fast = drift(v, s, 0.0, 1 / 24)
    t_fast = best_of(lambda: drift(v, s, 0.0, 1 / 24), 20)
    t0 = time.perf_counter()
    slow = pairwise_drift(v, s, 0.0, 1 / 24)
    t_slow = time.perf_counter() - t0
    diff = float((fast - slow).norm() / slow.norm())
    print(f"N={args.n} d={args.d} {args.dtype} threads={torch.get_num_threads()}")
    print(f"  moment-form drift (median of 20): {t_fast * 1e3:9.3f} ms")
    print(f"  blockwise pairwise sum (1 run)  : {t_slow * 1e3:9.1f} ms  ({args.n**2 / t_slow / 1e9:.3f} G pairs/s)")
    print(f"  speed-up: {t_slow / t_fast:,.0f}x   relative difference: {diff:.2e}")


if __name__ == "__main__":
    main()
