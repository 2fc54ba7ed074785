"""Benchmark (not a test): cost of each metric at the paper's sizes on this machine.

    python benchmarks/bench_metrics.py [--w1-n 10000] [--kde-n 100000]
"""
from __future__ import annotations

import argparse
import resource
import time

import torch

import metrics
from problems import get_problem


def timed(label, fn):
    t = time.perf_counter()
    out = fn()
    print(f"  {label:<48s} {time.perf_counter() - t:8.2f} s   value {out}", flush=True)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--w1-n", type=int, default=10_000)
    ap.add_argument("--kde-n", type=int, default=100_000)
    args = ap.parse_args()
    p2, p3 = get_problem("bkw2d"), get_problem("bkw3d")
    print(f"threads={torch.get_num_threads()}")
    x2 = p2.sample_at(1.0, args.kde_n, 0)
    x3 = p3.sample_at(6.0, args.kde_n, 0)
    timed(f"kde_l2 bkw2d n={args.kde_n} (100^2 grid)", lambda: metrics.kde_l2(x2, p2, 1.0))
    timed(f"kde_l2 bkw3d n={args.kde_n} (30^3 grid)", lambda: metrics.kde_l2(x3, p3, 6.0))
    timed("kde_l2_bias_floor bkw2d", lambda: metrics.kde_l2_bias_floor(p2, 1.0))
    timed("kde_l2_bias_floor bkw3d", lambda: metrics.kde_l2_bias_floor(p3, 6.0))
    v = p3.sample_at(6.0, args.kde_n, 1)
    timed(f"entropy_dissipation bkw3d n={args.kde_n}", lambda: metrics.entropy_dissipation(v, p3.score(v, 6.0), 0.0, p3.C))
    timed(f"rfd n={args.kde_n}", lambda: metrics.rfd(p3.score(v, 6.0), p3.score(v, 6.0), v))
    a, b = p2.sample_at(1.0, args.w1_n, 0), p2.sample_at(1.0, args.w1_n, 1)
    timed(f"w1 bkw2d n={args.w1_n} (exact, emd2)", lambda: metrics.w1(a, b))
    print(f"  peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20:.2f} GiB")


if __name__ == "__main__":
    main()
