"""The empirical contraction rate of a solver from two runs started from nearby particles (issue 43, item 1: for the
Coulomb problems no W2 contraction is known, so the rate is *measured*, labelled empirical, never a certificate).

Opt-in: it costs a second solve of the cell, so no harness run computes it; run
`python -m certificates.empirical_rate -s SOLVER -p PROBLEM [--profile quick] [--seed 0] [--delta 1e-3]`.

Run A starts from the cell's initial particles v0 (problem.sample(n, INITIAL_PARTICLES(seed))), run B from
v0 + delta sigma xi (xi standard normal from stream EMPIRICAL_RATE, sigma the rms spread of v0 per coordinate), with
the same seed otherwise (the same training streams). At each snapshot the coupling distance
D(t) = (mean_i |x^A_i(t) - x^B_i(t)|^2)^{1/2} (>= W2 between the two clouds; D(t0) = delta sigma (mean |xi|^2)^{1/2})
and between snapshots the rate lambda = log(D(t1) / D(t0)) / (t1 - t0): < 0 the runs approach (as two
Maxwell-Landau solutions do in W2), > 0 they separate. Monte Carlo error: the particles cut into BATCHES disjoint
batches, D and lambda per batch, se = sd_b / sqrt(BATCHES).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from infra import seeds
from problems import Problem, make_generator

BATCHES = 8


@dataclass(frozen=True)
class EmpiricalRate:
    """One step between snapshots t0 < t1: the coupling distances d0, d1 of the two runs, the rate
    log(d1 / d0) / (t1 - t0) and its batch standard error rate_se; label is always 'empirical'."""

    t0: float
    t1: float
    d0: float
    d1: float
    rate: float
    rate_se: float
    label: str = "empirical"


def rates(times, clouds_a, clouds_b, batches: int = BATCHES) -> list[EmpiricalRate]:
    """EmpiricalRate of every step of the sorted `times` for two runs' clouds ((N, d) each, row i the same particle
    in both runs and at every time), batches of N // batches consecutive particles for the s.e."""
    order = sorted(range(len(times)), key=lambda k: times[k])
    sq = [((torch.as_tensor(clouds_a[k], dtype=torch.float64) - torch.as_tensor(clouds_b[k], dtype=torch.float64))
           ** 2).sum(-1).numpy() for k in order]
    n = len(sq[0]) // batches
    out = []
    for (k0, s0), (k1, s1) in zip(zip(order, sq), list(zip(order, sq))[1:]):
        h = float(times[k1]) - float(times[k0])
        per = [math.log(math.sqrt(s1[b * n:(b + 1) * n].mean() / s0[b * n:(b + 1) * n].mean())) / h
               for b in range(batches)]
        d0, d1 = math.sqrt(s0.mean()), math.sqrt(s1.mean())
        out.append(EmpiricalRate(float(times[k0]), float(times[k1]), d0, d1, math.log(d1 / d0) / h,
                                 float(np.std(per, ddof=1) / math.sqrt(batches))))
    return out


def empirical_rates(solver, problem: Problem, seed: int, n: int, delta: float = 1e-3) -> list[EmpiricalRate]:
    """Two runs of `solver` (a solvers.base.Solver with its config) on `problem`, from v0 and v0 + delta sigma xi
    (module docstring), and their rates from t0 (the initial particles) through every snapshot."""
    v0 = problem.sample(n, seeds.INITIAL_PARTICLES.seed(seed))
    sigma = float((v0 - v0.mean(0)).pow(2).mean().sqrt())
    xi = torch.randn(v0.shape, generator=make_generator(seeds.EMPIRICAL_RATE.seed(seed)), dtype=torch.float64)
    a = solver.run(problem, seed=seed, initial=v0)
    b = solver.run(problem, seed=seed, initial=v0 + delta * sigma * xi)
    times = [problem.t0] + [t for t in a.times if t > problem.t0]
    return rates(times, [v0] + [a.at(t) for t in times[1:]], [v0 + delta * sigma * xi] + [b.at(t) for t in times[1:]])


def main(argv=None) -> int:
    """The command line of the module docstring: one line per step, 't0 -> t1: D d0 -> d1, rate ± se (empirical)'."""
    import argparse
    import sys

    import solvers
    from problems import get_problem
    ap = argparse.ArgumentParser(prog="python -m certificates.empirical_rate", description=__doc__.split("\n")[0])
    ap.add_argument("-s", "--solver", required=True)
    ap.add_argument("-p", "--problem", required=True)
    ap.add_argument("--profile", default="quick")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--delta", type=float, default=1e-3)
    args = ap.parse_args(argv)
    try:
        if not (math.isfinite(args.delta) and args.delta > 0):
            raise ValueError(f"--delta must be a finite number > 0 (the perturbation in units of the spread), "
                             f"got {args.delta}")
        problem = get_problem(args.problem)
        cls = solvers.get_solver(args.solver)
        cfg = cls.profile_config(args.profile, problem)
        if getattr(cfg, "n", BATCHES) < BATCHES:
            raise ValueError(f"n = {cfg.n}: the rate's standard error needs at least {BATCHES} particles")
    except (KeyError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for r in empirical_rates(cls(cfg), problem, args.seed, cfg.n, args.delta):
        print(f"{r.t0:g} -> {r.t1:g}: D {r.d0:.4g} -> {r.d1:.4g}, rate {r.rate:+.4g} ± {r.rate_se:.2g} ({r.label})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
