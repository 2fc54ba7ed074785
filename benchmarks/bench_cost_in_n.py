"""Cost exponents in N from CPU seconds: each solver's solve alone (no evaluation) on a ladder of N, one process.

    PYTHONPATH=. python benchmarks/bench_cost_in_n.py [--problem bkw2d] [--profile quick]
        [--ladder pairwise_collision=1000,10000,100000] [--ladder blob=1000,2000,4000] ... [--repeats 1]

A sweep's `solve_s` is wall time, which a loaded machine inflates by whatever else runs (measured 2026-12-07 with
three other jobs on the 2 cores: the same pairwise_collision cell at N = 100,000 took 3.2 s and 13.8 s). This
script times `Solver.run` (the method only: training + stepping, the particles it returns) by the process's CPU
time (`time.process_time`, one torch thread, so the CPU seconds of the method however many other processes share
the machine) and wall time, back to back in one process, and prints per solver the least-squares exponent b of
cpu_s ~ N^b over the ladder, over its top half, and the per-rung seconds. Each N runs `--repeats` times (seed 0)
and the least CPU time counts (as timeit does): the first solve at a new N can include a compilation of the
fused drift kernel for that shape (measured 2026-12-07: blob at N = 1,000 took 5.8 s of CPU on its first solve
and 1.8 s at N = 2,000 after it).
"""
from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

DEFAULT_LADDERS = {"pairwise_collision": (1_000, 3_000, 10_000, 30_000, 100_000),
                   "rbm_blob": (1_000, 3_000, 10_000, 30_000, 100_000),
                   "blob": (500, 1_000, 2_000, 4_000), "sbp": (500, 1_000, 2_000)}


def parse_ladder(text: str) -> tuple[str, tuple[int, ...]]:
    """'blob=1000,2000' -> ('blob', (1000, 2000)); ValueError naming the bad text otherwise."""
    name, sep, values = text.partition("=")
    try:
        ns = tuple(int(v) for v in values.split(","))
    except ValueError:
        ns = ()
    if not sep or not name or not ns or any(n < 2 for n in ns):
        raise ValueError(f"--ladder {text!r}: expected SOLVER=N1,N2,... with integers N >= 2")
    return name, ns


def exponent(ns, seconds) -> float:
    """Least-squares slope of log seconds against log N (NaN for fewer than 2 distinct N)."""
    import numpy as np
    if len(set(ns)) < 2:
        return math.nan
    return float(np.polyfit(np.log(np.asarray(ns, float)), np.log(np.asarray(seconds, float)), 1)[0])


def solve_seconds(solver: str, problem_name: str, profile: str, n: int, seed: int) -> tuple[float, float]:
    """(CPU seconds, wall seconds) of one `Solver.run` of `solver` with config n on the problem."""
    import problems
    import solvers
    cls = solvers.get_solver(solver)
    problem = problems.get_problem(problem_name)
    cfg = cls.profile_config(profile, problem, n=n)
    c0, w0 = time.process_time(), time.perf_counter()
    cls(cfg).run(problem, seed=seed)
    return time.process_time() - c0, time.perf_counter() - w0


def main(argv: list[str] | None = None) -> int:
    """Print the per-rung seconds and the fitted exponents; 2 with a one-line message on bad input."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--problem", default="bkw2d")
    parser.add_argument("--profile", default="quick")
    parser.add_argument("--ladder", action="append", default=None)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args(argv)
    import problems
    import solvers
    import torch
    torch.set_num_threads(1)
    try:
        ladders = dict(parse_ladder(t) for t in args.ladder) if args.ladder else dict(DEFAULT_LADDERS)
        problems.get_problem(args.problem)
        for name in ladders:
            solvers.get_solver(name)
        if args.repeats < 1:
            raise ValueError(f"--repeats {args.repeats}: expected a positive int")
    except (ValueError, KeyError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"problem {args.problem}, profile {args.profile}, one torch thread; cpu = time.process_time()")
    for name, ns in ladders.items():
        solve_seconds(name, args.problem, args.profile, ns[0], 0)  # warm-up: imports, kernel compilation
        rows = []
        for n in ns:
            runs = [solve_seconds(name, args.problem, args.profile, n, 0) for _ in range(args.repeats)]
            cpu, wall = min(runs)
            rows.append((n, cpu, wall))
            print(f"  {name:20s} N = {n:>7d}: cpu {cpu:8.2f} s  wall {wall:8.2f} s  (least of {args.repeats}; all cpu: "
                  f"{', '.join(f'{r[0]:.2f}' for r in runs)})", flush=True)
        top = [r for r in rows if r[0] >= sorted(ns)[len(ns) // 2]]
        print(f"{name}: cpu exponent {exponent([r[0] for r in rows], [r[1] for r in rows]):.2f} over N "
              f"{min(ns)}..{max(ns)}, {exponent([r[0] for r in top], [r[1] for r in top]):.2f} over the top half; "
              f"wall exponent {exponent([r[0] for r in rows], [r[2] for r in rows]):.2f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
