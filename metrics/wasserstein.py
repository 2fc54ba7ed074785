"""Wasserstein-1 between point clouds, exactly, with POT's network simplex (ot.emd2).

Traps handled (both measured here): `ot.emd2` stops at `numItermax` (default 1e5) and then
returns a W1 that is too large with only a warning, so we raise the cap to 1e8 and check
`result_code == 1` (optimal), failing loudly otherwise. Above `MAX_EXACT_POINTS` a side, exact
W1 costs minutes and gigabytes: `w1` refuses, and `w1_subsampled` is the documented strategy
(mean of exact W1 over repeated equal-size subsamples, with its standard error). Since W1
between samples falls with n, compare W1 only at equal n (and beside `w1_mc_floor`).
"""
from __future__ import annotations

import math

import numpy as np
import ot
from scipy.spatial.distance import cdist
import torch

from problems import Problem, make_generator

from infra import seeds

#: largest cloud (points a side) for which `w1` runs the exact solver
MAX_EXACT_POINTS = 10_000
NUM_ITER_MAX = 100_000_000


def _as_numpy(x) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().to(torch.float64).numpy()
    x = np.ascontiguousarray(np.asarray(x, dtype=np.float64))
    if x.ndim == 1:
        x = x[:, None]
    return x


def w1(x, y, max_points: int = MAX_EXACT_POINTS) -> float:
    """Exact W1(mu_x, mu_y) between uniform empirical measures on point clouds x (n, d), y (m, d).

    Euclidean (not squared) ground cost; `ot.emd2` with numItermax = 1e8; raises RuntimeError
    unless POT reports an optimal solution, ValueError if a side exceeds `max_points`.
    """
    xa, ya = _as_numpy(x), _as_numpy(y)
    if xa.shape[1] != ya.shape[1]:
        raise ValueError(f"dimension mismatch: {xa.shape[1]} vs {ya.shape[1]}")
    if max(len(xa), len(ya)) > max_points:
        raise ValueError(
            f"exact W1 limited to {max_points} points a side, got {len(xa)} and {len(ya)}; "
            "use w1_subsampled (its own metric name) for larger clouds")
    # |x_i - y_j| from the differences (scipy's cdist): ot.dist's |x|^2 + |y|^2 - 2 x.y expansion loses ~sqrt(eps)|x|
    # to cancellation (4e-8 for two identical points shifted by (1, 1.96)), which breaks shift invariance
    cost = cdist(xa, ya, "euclidean")
    a = np.full(len(xa), 1.0 / len(xa))
    b = np.full(len(ya), 1.0 / len(ya))
    value, log = ot.emd2(a, b, cost, numItermax=NUM_ITER_MAX, log=True)
    if log.get("result_code") != 1:
        raise RuntimeError(f"ot.emd2 did not converge: {log.get('warning')!r} (result_code {log.get('result_code')})")
    return float(value)


def w1_subsampled(x, y, m: int = MAX_EXACT_POINTS, repeats: int = 5, seed: int = 0) -> tuple[float, float]:
    """Mean and standard error of exact W1 between random size-m subsamples of x and y.

    This estimates E W1(mu_x^m, mu_y^m), which is larger than W1(mu_x, mu_y): report it under
    its own metric name and compare only at equal m.
    """
    gen = make_generator(seed)
    xt, yt = torch.as_tensor(_as_numpy(x)), torch.as_tensor(_as_numpy(y))
    vals = []
    for _ in range(repeats):
        ix = torch.randperm(len(xt), generator=gen)[:m]
        iy = torch.randperm(len(yt), generator=gen)[:m]
        vals.append(w1(xt[ix], yt[iy], max_points=m))
    arr = np.array(vals)
    se = float(arr.std(ddof=1) / math.sqrt(len(arr))) if len(arr) > 1 else float("nan")
    return float(arr.mean()), se


def w1_mc_floor(problem: Problem, t: float, n: int, seed: int = 0) -> float:
    """W1 between two independent exact samples of size n of f(., t): the Monte Carlo floor.

    A solver's W1 to an exact sample of the same n cannot be expected below this number.
    """
    a = problem.sample_at(t, n, seed=seeds.W1_FLOOR_A.seed(seed))
    b = problem.sample_at(t, n, seed=seeds.W1_FLOOR_B.seed(seed))
    return w1(a, b)
