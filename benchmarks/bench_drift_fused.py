"""Benchmark (not a test): pair interactions per second of the fused Coulomb drift against naive
broadcasting, measured in the same run, on the CPU and (when present) the GPU.

    PYTHONPATH=. python benchmarks/bench_drift_fused.py [--n 4000 16000 64000] [--d 3] [--dtype float32]
                                                       [--naive-max 16000] [--device cpu cuda]

fused: `problems.drift` default path (torch.compile'd kernel on CPU, Triton on CUDA);
naive: `problems.pairwise_drift` (blockwise broadcasting with (rows, N, d) temporaries), run up to
--naive-max particles. Prints G pairs/s (N^2 / seconds), the ratio at each N where both ran and
their relative difference.
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch

from problems import drift, pairwise_drift


def seconds(fn, device: str, repeats: int) -> float:
    """Median wall time of fn() (CUDA synchronised), after one warm-up call."""
    fn()
    out = []
    for _ in range(repeats):
        if device == "cuda":
            torch.cuda.synchronize()
        t = time.perf_counter()
        fn()
        if device == "cuda":
            torch.cuda.synchronize()
        out.append(time.perf_counter() - t)
    return statistics.median(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, nargs="+", default=[4_000, 16_000, 64_000])
    ap.add_argument("--d", type=int, default=3)
    ap.add_argument("--gamma", type=float, default=-3.0)
    ap.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    ap.add_argument("--naive-max", type=int, default=16_000)
    ap.add_argument("--device", nargs="+", default=["cpu"] + (["cuda"] if torch.cuda.is_available() else []))
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    dtype = getattr(torch, args.dtype)
    for device in args.device:
        name = torch.cuda.get_device_name() if device == "cuda" else f"cpu, {torch.get_num_threads()} threads"
        print(f"# {device} ({name}), d = {args.d}, gamma = {args.gamma}, {args.dtype}")
        print(f"{'N':>8} {'fused G pairs/s':>16} {'naive G pairs/s':>16} {'ratio':>8} {'rel diff':>9}")
        for n in args.n:
            g = torch.Generator().manual_seed(n)
            v = torch.randn(n, args.d, generator=g, dtype=dtype).to(device)
            s = (-v + 0.1 * torch.randn(n, args.d, generator=g, dtype=dtype).to(device))
            with torch.no_grad():
                t_fused = seconds(lambda: drift(v, s, args.gamma, 1 / 24), device, args.repeats)
                line = f"{n:>8} {n * n / t_fused / 1e9:>16.3f}"
                if n <= args.naive_max:
                    t_naive = seconds(lambda: pairwise_drift(v, s, args.gamma, 1 / 24), device, max(1, args.repeats // 2))
                    a, b = drift(v, s, args.gamma, 1 / 24), pairwise_drift(v, s, args.gamma, 1 / 24)
                    diff = float((a - b).abs().max() / b.abs().max())
                    line += f" {n * n / t_naive / 1e9:>16.3f} {t_naive / t_fused:>8.1f} {diff:>9.1e}"
                print(line, flush=True)


if __name__ == "__main__":
    main()
