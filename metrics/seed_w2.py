"""W2 between the particle clouds of two runs (two seeds) of one solver setting, with its Monte Carlo noise.

For Maxwell molecules (gamma = 0) W2 between two Landau solutions never increases (Caja-Lopez, Delgadino, Gualdani,
Taskovic 2025; Fournier-Guillin). Two seeds of one setting start from independent samples of the same f0, so the
exact solutions they approximate stay at W2 distance 0: a distance between the two runs' laws that grows beyond noise
is a defect of the method (its answer depends more and more on the seed). At every snapshot t_k, with clouds A_k, B_k
(N, d) whose row i is the same particle at every snapshot:

* `w2`: the exact W2 between the two clouds (POT ot.emd2; a fixed subsample of MAX_EXACT a side beyond). It holds the
  sampling floor, which moves with f_t's shape, so it is reported, not tested;
* `d2`: an estimate of W2(law_A, law_B)^2 with the floor removed. The particles are cut into B batches of
  n = min(N // B, MAX_BATCH) by fixed permutations (the same at every snapshot; beyond B x MAX_BATCH particles the
  rest is not used, so a snapshot costs at most 3B exact OTs of MAX_BATCH points at any N); per batch b,
      d2_b = W2^2(A_b, B_b) - (W2^2(A_b, A_b+1) + W2^2(B_b, B_b+1)) / 2    (b + 1 mod B),
  the cross-run distance less the within-run distances at the same size, so E d2_b = 0 when the two runs have one
  law (particles independent within a run: an approximation for interacting particles). d2 = mean_b d2_b,
  se = sd_b(d2_b) / sqrt(B), and the step into t_k has the paired step_se = sd_b(d2_b(t_k) - d2_b(t_k-1)) / sqrt(B)
  (the batches are the same particles at both times), the noise rule of metrics.monotone.violations.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import ot
import torch

from infra import seeds
from problems import make_generator

#: at most this many points a side for the full exact OT between the clouds (a fixed subsample beyond)
MAX_EXACT = 2_000
#: batches of the debiased estimate (fewer where N // BATCHES < MIN_BATCH)
BATCHES = 16
MIN_BATCH = 20
#: at most this many points a batch: exact OT is O(n^3), and at N = 10^5 a batch of N // 16 = 6,250 points would take
#: a cost matrix of 312 MB and minutes a call, 48 calls a snapshot
MAX_BATCH = 250


@dataclass(frozen=True)
class SeedW2:
    """One snapshot of two runs: t, w2 (exact W2 between the clouds), d2 (the debiased estimate of W2(law_A,
    law_B)^2), se (its standard error), step_se (the paired standard error of d2's change from the previous snapshot;
    NaN at the first), n (points a side of a batch), batches."""

    t: float
    w2: float
    d2: float
    se: float
    step_se: float
    n: int
    batches: int


def w2_squared(x: np.ndarray, y: np.ndarray) -> float:
    """Exact W2^2 (POT ot.emd2, squared Euclidean cost, uniform weights) between the point sets x (n, d), y (m, d)."""
    return max(float(ot.emd2([], [], ot.dist(np.asarray(x, np.float64), np.asarray(y, np.float64)),
                              numItermax=10**7)), 0.0)


def batch_estimates(a: np.ndarray, b: np.ndarray, perm_a: np.ndarray, perm_b: np.ndarray, batches: int) -> np.ndarray:
    """(batches,) d2_b of the module docstring for clouds a, b (N, d) cut by the permutations perm_a, perm_b (N,)
    into batches of min(N // batches, MAX_BATCH) points."""
    n = min(min(len(perm_a), len(perm_b)) // batches, MAX_BATCH)
    ia = [perm_a[k * n:(k + 1) * n] for k in range(batches)]
    ib = [perm_b[k * n:(k + 1) * n] for k in range(batches)]
    out = []
    for k in range(batches):
        nxt = (k + 1) % batches
        within = 0.5 * (w2_squared(a[ia[k]], a[ia[nxt]]) + w2_squared(b[ib[k]], b[ib[nxt]]))
        out.append(w2_squared(a[ia[k]], b[ib[k]]) - within)
    return np.array(out)


def seed_w2_series(times, clouds_a, clouds_b) -> list[SeedW2]:
    """SeedW2 at each of the sorted `times` for the two runs' clouds (lists of (N_a, d) and (N_b, d) arrays or
    tensors, row i the same particle at every time); [] where min(N_a, N_b) // MIN_BATCH < 4 (too few to batch)."""
    a_all = [np.asarray(torch.as_tensor(x).to(torch.float64)) for x in clouds_a]
    b_all = [np.asarray(torch.as_tensor(x).to(torch.float64)) for x in clouds_b]
    n_min = min(a_all[0].shape[0], b_all[0].shape[0])
    batches = min(BATCHES, n_min // MIN_BATCH)
    if batches < 4:
        return []
    perms = [torch.randperm(x.shape[0], generator=make_generator(seeds.SEED_W2_BATCHES.seed(0, i))).numpy()
             for i, x in enumerate((a_all[0], b_all[0]))]
    sub = [p[:MAX_EXACT] for p in perms]
    out, prev = [], None
    for t, a, b in sorted(zip(map(float, times), a_all, b_all), key=lambda r: r[0]):
        d2b = batch_estimates(a, b, perms[0], perms[1], batches)
        step = float(np.std(d2b - prev, ddof=1) / math.sqrt(batches)) if prev is not None else math.nan
        out.append(SeedW2(t, math.sqrt(w2_squared(a[sub[0]], b[sub[1]])), float(d2b.mean()),
                          float(np.std(d2b, ddof=1) / math.sqrt(batches)), step, min(n_min // batches, MAX_BATCH),
                          batches))
        prev = d2b
    return out
