"""What the numbers support (issue 40): intervals over seeds, floor bands, and the tests every sentence that judges
or ranks rests on. The verdict, the diagnosis, the summary's tables and `compare` read these functions; the levels
are declared in `harness.report.thresholds`.

For one row (problem, solver setting, snapshot t, metric) over its K seeds k with values x_k and floor distributions
D_k (R draws d_kr of the metric for exact samples of the cell's n, mean m_k: infra.rows.FloorDistribution):

* the ratio of seed k is x_k / m_k; the row's ratio is their mean, with a Student t interval over seeds
  (`t_interval`, CI_LEVEL; none for K = 1);
* the null band is the central BAND_LEVEL of (1/K) sum_k d_k / m_k with d_k drawn from D_k (`null_band`: exact
  quantiles of the R draws for K = 1, else BAND_RESAMPLES resamples from the stream seeds.NULL_BAND): what exact
  samples would read. Inside it the row is *at its floor*, above it *above*, below it *below* (a deterministic
  method such as Blob can be);
* two rows of a problem are ranked only by a test over seeds (`pair_test`: paired t on the ratios of the seeds both
  have, else Welch's t), Holm-adjusted over the problem's pairs (`holm`), at RANK_ALPHA.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from infra import seeds

from harness.report.thresholds import AT_FLOOR, BAND_LEVEL, BAND_RESAMPLES, CI_LEVEL, RANK_ALPHA

#: the cell identity columns of the long table and of the floors table
CELL_KEYS = ["solver", "problem", "seed", "overrides"]


def t_interval(values, level: float = CI_LEVEL) -> tuple[float, float, float]:
    """(mean, lo, hi) of `values` (K,) with the two-sided Student t interval mean ± t_{(1+level)/2, K-1} sd / sqrt K
    (sd with ddof 1); lo = hi = NaN for K < 2."""
    from scipy import stats
    x = np.asarray([v for v in values if math.isfinite(v)], dtype=float)
    if len(x) == 0:
        return math.nan, math.nan, math.nan
    mean = float(x.mean())
    if len(x) < 2:
        return mean, math.nan, math.nan
    half = float(stats.t.ppf((1 + level) / 2, len(x) - 1) * x.std(ddof=1) / math.sqrt(len(x)))
    return mean, mean - half, mean + half


def null_band(draws: list, level: float = BAND_LEVEL, resamples: int = BAND_RESAMPLES) -> tuple[float, float]:
    """(lo, hi): the central `level` of (1/K) sum_k r_k, r_k drawn from the k-th array of `draws` (K arrays of the
    ratios d_kr / m_k of exact samples). K = 1: the empirical quantiles of its draws (numpy's linear rule);
    K > 1: quantiles over `resamples` means, each r_k picked uniformly from its array (generator seeded by the
    stream seeds.NULL_BAND: the same band every time)."""
    arrays = [np.asarray(d, dtype=float) for d in draws if len(d)]
    if not arrays:
        return math.nan, math.nan
    q = ((1 - level) / 2, (1 + level) / 2)
    if len(arrays) == 1:
        lo, hi = np.quantile(arrays[0], q)
        return float(lo), float(hi)
    rng = np.random.default_rng(seeds.NULL_BAND.seed(0))
    means = np.zeros(resamples)
    for a in arrays:
        means += a[rng.integers(0, len(a), resamples)]
    lo, hi = np.quantile(means / len(arrays), q)
    return float(lo), float(hi)


def pair_test(a: dict, b: dict) -> tuple[str, float]:
    """(test, two-sided p) of 'the ratios of a and b differ' over seeds ({seed: ratio} each; non-finite and
    non-positive ones left out), on log ratios (a ratio to a floor is multiplicative: 2x and 0.5x are as far from 1,
    and one folded seed at 15x does not swamp four at 2-5x): the paired t test over the seeds both have when there
    are at least 2, else Welch's t test (each side at least 2 seeds), else ('', NaN). Identical samples give p = 1; a
    constant nonzero difference (no spread) p = 0."""
    from scipy import stats
    a = {k: math.log(v) for k, v in a.items() if math.isfinite(v) and v > 0}
    b = {k: math.log(v) for k, v in b.items() if math.isfinite(v) and v > 0}
    shared = sorted(set(a) & set(b))
    if len(shared) >= 2:
        d = np.array([a[s] - b[s] for s in shared])
        if np.all(d == d[0]):
            return f"paired t over {len(shared)} seeds", 1.0 if d[0] == 0 else 0.0
        return f"paired t over {len(shared)} seeds", float(stats.ttest_rel([a[s] for s in shared],
                                                                            [b[s] for s in shared]).pvalue)
    xa, xb = np.array(list(a.values())), np.array(list(b.values()))
    if len(xa) >= 2 and len(xb) >= 2:
        if xa.std() == 0 and xb.std() == 0:
            return "Welch t", 1.0 if xa[0] == xb[0] else 0.0
        return "Welch t", float(stats.ttest_ind(xa, xb, equal_var=False).pvalue)
    return "", math.nan


def holm(pvalues: list[float]) -> list[float]:
    """Holm's step-down adjustment of `pvalues` (NaN stays NaN): p_(i) -> max_{j <= i} min(1, (m - j + 1) p_(j))
    over the finite ones sorted ascending, m their count."""
    idx = [i for i, p in enumerate(pvalues) if math.isfinite(p)]
    order = sorted(idx, key=lambda i: pvalues[i])
    out = list(pvalues)
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (len(order) - rank) * pvalues[i]))
        out[i] = running
    return out


@dataclass(frozen=True)
class RowEvidence:
    """One row (problem, solver, overrides, t, metric) over its seeds: values (K,) by seed; floors (K,) the floor
    means m_k; ratios x_k / m_k; ratio, lo, hi: their mean and t interval; band_lo, band_hi: the null band of the
    mean ratio (NaN without floor distributions); place: 'below', 'at', 'above' the floor, or '' without a floor;
    one_draw: the floor is a single draw per cell (a run made before floor distributions; judged by AT_FLOOR);
    n: particles of the floor (0 if unknown); floor_se: the standard error of the floor (mean over seeds)."""

    problem: str
    solver: str
    overrides: str
    t: float
    metric: str
    seeds: tuple
    values: tuple
    floors: tuple
    ratios: tuple
    ratio: float
    lo: float
    hi: float
    band_lo: float
    band_hi: float
    place: str
    one_draw: bool
    n: int
    floor_se: float

    @property
    def k(self) -> int:
        """The seeds with a finite ratio."""
        return sum(1 for r in self.ratios if math.isfinite(r))

    @property
    def at_floor(self) -> bool:
        return self.place in ("at", "below")


def _place(ratio: float, lo: float, hi: float) -> str:
    if not math.isfinite(ratio):
        return ""
    if ratio > hi:
        return "above"
    return "below" if ratio < lo else "at"


def floor_draws(floors: pd.DataFrame | None, key: dict, t: float, metric: str):
    """The FloorDistribution row of `floors` (a floors table: CELL_KEYS, t, metric, n, mean, se, values) for one
    cell `key`, snapshot t and metric, or None."""
    if floors is None or floors.empty:
        return None
    hit = floors[(floors.metric == metric) & np.isclose(floors.t, t)]
    for c in CELL_KEYS:
        hit = hit[hit[c] == key[c]]
    return None if hit.empty else hit.iloc[0]


def row_evidence(table: pd.DataFrame, floors: pd.DataFrame | None, problem: str, solver: str, overrides: str,
                 t: float, metric: str, floor_metric: str | None, one_draw_factor: float = AT_FLOOR
                 ) -> RowEvidence | None:
    """The RowEvidence of `metric` at t for one solver setting from the long `table` (its rows of every seed) and
    the floors table (None or empty: a run without floor distributions, whose floor rows are one value each: then
    at the floor means a ratio <= one_draw_factor); None if the metric has no row there."""
    df = table[(table.problem == problem) & (table.solver == solver) & (table.overrides == overrides)
               & np.isclose(table.t, t)]
    m = df[df.metric == metric].drop_duplicates("seed").set_index("seed").value
    if m.empty:
        return None
    f_rows = df[df.metric == floor_metric].drop_duplicates("seed").set_index("seed").value if floor_metric else None
    seeds_, values, floor_means, draws, ses, ns = [], [], [], [], [], []
    one_draw = False
    for seed, x in m.sort_index().items():
        dist = floor_draws(floors, {"solver": solver, "problem": problem, "seed": seed, "overrides": overrides}, t,
                           metric) if floor_metric else None
        if dist is not None and float(dist["mean"]) > 0:
            mean = float(dist["mean"])
            draws.append(np.asarray(dist["values"], dtype=float) / mean)
            ses.append(float(dist["se"]))
            ns.append(int(dist["n"]))
        elif f_rows is not None and seed in f_rows.index:
            mean, one_draw = float(f_rows[seed]), True
        else:
            mean = math.nan
        seeds_.append(int(seed))
        values.append(float(x))
        floor_means.append(mean)
    ratios = [x / f if math.isfinite(f) and f > 0 else math.nan for x, f in zip(values, floor_means)]
    ratio, lo, hi = t_interval(ratios)
    # a seed without a floor distribution (a run before them, or a floor that failed): no band for the row; it is
    # judged on its floor values and says so ("one floor draw")
    one_draw = one_draw or (0 < len(draws) < len(seeds_))
    if one_draw or len(draws) < len(seeds_):
        band_lo, band_hi = math.nan, math.nan
        place = "" if not math.isfinite(ratio) else ("at" if ratio <= one_draw_factor else "above")
        one_draw = one_draw and math.isfinite(ratio)
    else:
        band_lo, band_hi = null_band(draws)
        place = _place(ratio, band_lo, band_hi)
    return RowEvidence(problem, solver, overrides, float(t), metric, tuple(seeds_), tuple(values), tuple(floor_means),
                       tuple(ratios), ratio, lo, hi, band_lo, band_hi, place, one_draw,
                       max(ns) if ns else 0, float(np.mean(ses)) if ses else math.nan)


@dataclass(frozen=True)
class Ranking:
    """A tested pair of rows of one problem: `better` has the smaller mean ratio on the seeds the test used (the
    shared seeds of a paired test, each row's seeds for Welch's); test names the test, p its Holm-adjusted p over the
    problem's pairs; significant: p < RANK_ALPHA."""

    better: str
    worse: str
    test: str
    p: float

    @property
    def significant(self) -> bool:
        return math.isfinite(self.p) and self.p < RANK_ALPHA


def comparable(a: RowEvidence, b: RowEvidence) -> bool:
    """Whether two rows may be ranked: the same metric at the same floor n (W1 and its floor compare only at equal
    N; w1 and w1_sub4000 are different measurements)."""
    return a.metric == b.metric and a.n == b.n


def _direction(ra: dict, rb: dict, test: str) -> float:
    """mean(log a - log b) over the seeds the test used: the shared seeds of a paired test, each side's for Welch's."""
    ra = {k: math.log(v) for k, v in ra.items() if math.isfinite(v) and v > 0}
    rb = {k: math.log(v) for k, v in rb.items() if math.isfinite(v) and v > 0}
    if test.startswith("paired"):
        shared = sorted(set(ra) & set(rb))
        return float(np.mean([ra[k] - rb[k] for k in shared]))
    return float(np.mean(list(ra.values())) - np.mean(list(rb.values())))


def rankings(rows: dict[str, RowEvidence]) -> list[Ranking]:
    """Every comparable pair of the rows ({name: RowEvidence} of one problem; `comparable`) tested on their per-seed
    ratios (`pair_test`), Holm-adjusted over the tested pairs, the better side from the seeds the test used; pairs
    with no possible test (a side with one seed and no shared seeds) are left out."""
    names = sorted(rows)
    pairs, tests, ps = [], [], []
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            if not comparable(rows[a], rows[b]):
                continue
            ra = dict(zip(rows[a].seeds, rows[a].ratios))
            rb = dict(zip(rows[b].seeds, rows[b].ratios))
            test, p = pair_test(ra, rb)
            if not test:
                continue
            pairs.append((a, b) if _direction(ra, rb, test) <= 0 else (b, a))
            tests.append(test)
            ps.append(p)
    return [Ranking(a, b, test, p) for (a, b), test, p in zip(pairs, tests, holm(ps))]


def best_set(rows: dict[str, RowEvidence], ranked: list[Ranking]) -> list[str]:
    """The rows to mark best: the tested row (at least 2 seeds) with the smallest mean ratio, and every row whose
    test against it is not significant (the same Holm-adjusted tests the sentences state), sorted by ratio; empty
    when no pair could be tested (one seed: nothing is marked). A row with a wide spread can be marked: its seeds
    cannot separate it from the best."""
    tested = {r.better for r in ranked} | {r.worse for r in ranked}
    candidates = [k for k, r in rows.items() if k in tested and r.k >= 2 and math.isfinite(r.ratio)]
    if not candidates:
        return []
    best = min(candidates, key=lambda k: rows[k].ratio)
    keep = [best] + [k for k in candidates if k != best and any({r.better, r.worse} == {best, k} and not r.significant
                                                               for r in ranked)]
    return sorted(keep, key=lambda k: rows[k].ratio)
