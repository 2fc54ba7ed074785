"""Exact initial covariance rates (issue 43 item 4) and the errors of the references and of short solver runs.

    PYTHONPATH=. python benchmarks/initial_rates.py                       # every problem: exact rate, reference error
    PYTHONPATH=. python benchmarks/initial_rates.py --solvers blob sbp    # and runs over [t0, t0 + 2 delta]

Per problem: the exact dSigma/dt(t0) (certificates.initial_rate), the reference's rate and its relative error
(certificates.observed_rate; 'fine' resolution unless --resolution), and for each solver a run from N exact samples
with snapshots t0 + delta, t0 + 2 delta and fixed steps delta / STEPS, its second-order difference rate, beside the
particle floor: the rate of the same N particles moved by the particle drift with the exact initial score (what an
exact-score particle method reads at this N). Nothing is cached or written.
"""
from __future__ import annotations

import argparse
import dataclasses
import time

import torch

from certificates.initial_rate import initial_rate, rate_error
from certificates.observed_rate import reference_rate, trajectory_rate, velocity_rate
from problems import drift, get_problem, list_problems
from solvers.registry import get_solver

STEPS = 4  # Euler steps per snapshot interval


def solver_rate(name: str, problem, n: int, delta: float, seed: int):
    """(difference rate of the run, exact-score particle floor rate) of solver `name` over [t0, t0 + 2 delta]."""
    short = problem.replace(snapshot_times=(problem.t0 + delta, problem.t0 + 2 * delta))
    cls = get_solver(name)
    cfg = cls.profile_config("quick", short)
    fields = {f.name for f in dataclasses.fields(cfg)}
    over = {k: v for k, v in {"n": n, "dt": delta / STEPS}.items() if k in fields}
    traj = cls(dataclasses.replace(cfg, **over)).run(short, seed=seed)
    rate = trajectory_rate(traj.initial, traj.times, traj.particles, problem.t0)
    v0 = traj.initial
    floor = velocity_rate(v0, drift(v0, problem.initial_score(v0), problem.gamma, problem.C))
    return rate, floor


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--problems", nargs="*", default=None)
    ap.add_argument("--resolution", default="fine", choices=("coarse", "fine"))
    ap.add_argument("--solvers", nargs="*", default=[])
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--delta", type=float, default=0.04)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    for name in args.problems or list_problems():
        p = get_problem(name)
        t = time.perf_counter()
        exact = initial_rate(p)
        kind, ref = reference_rate(p, args.resolution)
        print(f"{name}: exact dSigma/dt(t0) = {exact.rate.numpy().round(10).tolist()} (scale {exact.scale:.6g}; "
              f"{exact.method}); {kind} reference ({args.resolution}) relative error {rate_error(ref, exact):.3g} "
              f"[{time.perf_counter() - t:.1f} s]")
        for s in args.solvers:
            t = time.perf_counter()
            try:
                rate, floor = solver_rate(s, p, args.n, args.delta, args.seed)
            except Exception as exc:  # a solver that does not apply: say so, go on
                print(f"  {s}: not run ({type(exc).__name__}: {exc})")
                continue
            print(f"  {s}: N = {args.n}, delta = {args.delta}: relative error {rate_error(rate, exact):.3g} "
                  f"(exact-score particle floor {rate_error(floor, exact):.3g}) [{time.perf_counter() - t:.1f} s]")


if __name__ == "__main__":
    main()
