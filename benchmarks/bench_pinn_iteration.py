"""Benchmark (not a test): one PINN-PM training iteration, batched against the naive loop, same run.

    PYTHONPATH=. python benchmarks/bench_pinn_iteration.py [--device auto] [--group A] [--n 1000] [--times 16]

Both variants compute the same loss (2.12) on bkw2d (or --problem) with the Appendix B.2 networks
of --group and take one Adam step:
* naive: a Python loop over the collocation times, d_t Phi and div s by separate reverse-mode
  autograd passes (`solvers.pinn_loss.naive_pinn_losses`);
* batched: all K x N points at once, forward-mode d_t Phi and divergence, one drift call
  (`solvers.pinn_loss.pinn_losses`, what training uses).
Prints the median milliseconds per iteration of each (CUDA synchronised) and their ratio.
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch

import problems
from solvers.base import resolve_device
from solvers.pinn_loss import naive_pinn_losses, pinn_losses
from solvers.pinn_networks import GROUPS
from solvers.pinn_training import build_networks
from solvers.pinn_pm import PINNConfig


def median_seconds(step, repeats: int, device: torch.device) -> float:
    """Median seconds of `step()` over `repeats` calls after two warm-up calls."""
    for _ in range(2):
        step()
    out = []
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize()
        t = time.perf_counter()
        step()
        if device.type == "cuda":
            torch.cuda.synchronize()
        out.append(time.perf_counter() - t)
    return statistics.median(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--problem", default="bkw2d")
    ap.add_argument("--group", default="A", choices=sorted(GROUPS))
    ap.add_argument("--n", type=int, default=1_000)
    ap.add_argument("--times", type=int, default=16)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    ap.add_argument("--repeats", type=int, default=10)
    args = ap.parse_args()
    dev, dtype = resolve_device(args.device), getattr(torch, args.dtype)
    problem = problems.get_problem(args.problem)
    cfg = PINNConfig(n=args.n, n_times=args.times, group=args.group, dtype=args.dtype)
    flow, score = build_networks(problem, cfg, 0, dev, dtype)
    opt = torch.optim.Adam(list(flow.parameters()) + list(score.parameters()), lr=1e-4)
    gen = torch.Generator().manual_seed(0)
    span = max(problem.snapshot_times) - problem.t0

    def make_step(loss_fn):
        def step():
            v0 = problem.sample(args.n, int(torch.randint(0, 2**31, (1,), generator=gen))).to(dev, dtype)
            times = (problem.t0 + span * torch.rand(args.times, generator=gen, dtype=torch.float64)).to(dev, dtype)
            losses = loss_fn(flow, score, v0, times, problem.gamma, problem.C)
            opt.zero_grad(set_to_none=True)
            (losses["phys"] + losses["ism"]).backward()
            opt.step()
        return step

    naive = median_seconds(make_step(naive_pinn_losses), args.repeats, dev)
    batched = median_seconds(make_step(pinn_losses), args.repeats, dev)
    name = torch.cuda.get_device_name(dev) if dev.type == "cuda" else f"cpu ({torch.get_num_threads()} threads)"
    print(f"{args.problem}, group {args.group}, N = {args.n}, {args.times} collocation times, {args.dtype}, {name}")
    print(f"naive loop  : {1e3 * naive:9.2f} ms / iteration")
    print(f"batched     : {1e3 * batched:9.2f} ms / iteration")
    print(f"speed-up    : {naive / batched:9.2f}x")


if __name__ == "__main__":
    main()
