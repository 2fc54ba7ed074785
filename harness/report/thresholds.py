"""The judgements every report makes, declared once: when a number counts as at its floor, when two are on par,
when a drift is worth naming, when B is worse than A.

The verdict (`harness.report.verdict`), the PINN-PM diagnosis (`harness.report.diagnosis`), the summary's
work-precision section (`harness.report.summary`, `harness.report.convergence.cheapest_within`) and `compare`
(`harness.report.compare`) read these names; none of them writes the numbers again, and the sentences that quote
a threshold ("within 10%") format it from here.
"""
from __future__ import annotations

#: the null band of a ratio to its floor (harness.report.evidence): the central BAND_LEVEL of the ratio for exact
#: samples (of its mean over the K seeds of a row). Inside it a value is *at its floor* (the verdict's ✓, the
#: diagnosis' "at the floor", the region-mass flags); above it, *above the floor*
BAND_LEVEL = 0.95
#: resamples of the floor draws for the band of a mean over K seeds (deterministic: stream seeds.NULL_BAND)
BAND_RESAMPLES = 20_000
#: intervals over seeds: a two-sided Student t interval at this level (mean ± t sd / sqrt K)
CI_LEVEL = 0.95
#: the verdict ranks two solvers only when a test over seeds (paired t where they share seeds, else Welch's t,
#: Holm-adjusted over the pairs of a problem) gives a p below this; otherwise "indistinguishable"
RANK_ALPHA = 0.05
#: the CPU budgets (solve seconds of one cell, one torch thread) for which a sweep's frontier names the method with the
#: least error (harness.report.frontier; issue 45 asks for 10 s, 60 s and 600 s)
FRONTIER_BUDGETS_S = (10.0, 60.0, 600.0)
#: a sweep's cost exponent is also fitted over the top of each ladder: the rungs with N at least this fraction of the
#: ladder's largest N (where fixed costs no longer dominate)
FRONTIER_TOP_FRACTION = 0.1
#: a quantity the theory moves one way only (entropy, 3D Fisher information: metrics.monotone) that moves the other
#: way between two snapshots by more than this many times the sum of the two values' Monte Carlo standard errors
#: marks its cell in the verdict (harness.report.monotone)
MONOTONE_Z = 4.0
#: where no floor distribution exists (a run made before issue 40: one floor draw per cell), an accuracy metric
#: at most this factor times its floor reads as at its floor; such a judgement is labelled "one floor draw"
AT_FLOOR = 1.1
#: a relative energy drift whose magnitude exceeds this is named in the verdict; the diagnosis counts a drift
#: at most this as energy kept
ENERGY_FLAG = 0.01
#: a relative covariance error (Maxwell problems) above this is named in the verdict
COV_FLAG = 0.3
#: a physics residual above this fraction of E|U_theta|^2 (or of the true drift's): the flow does not follow
#: its drift (diagnosis)
LARGE_RESIDUAL = 0.3
#: a learned particle drift off by more than this (relative L2) dominates the error (diagnosis)
LARGE_DRIFT_ERROR = 0.3
#: without a floor distribution, a region's mass (core_mass_err, hdr_mass_err) off by more than this factor times
#: its floor is misplaced mass the diagnosis names; with one, the test is "above its null band" (BAND_LEVEL)
REGION_MASS_FLAG = 3.0
#: `compare` (asv's rule): B is worse than A when |B| > |A| (1 + this) (--rtol) and a test says they differ:
#: a cell of the same seed in both runs (the same random streams: a difference is a change of the code, not
#: sampling), else the exact one-sided Mann-Whitney U at p < COMPARE_P where 1 / binom(m + n, m) < COMPARE_P,
#: else the non-overlap of COMPARE_CI t intervals over seeds
REGRESSION_RTOL = 0.1
COMPARE_P = 0.002
COMPARE_CI = 0.99
#: `compare`: a difference |B| - |A| at most this is never a regression (differences in the last bits)
REGRESSION_ABS_TOL = 1e-12


def percent_over(factor: float) -> str:
    """'10%' for a factor of 1.1: how far above 1 a factor lets a ratio be, as the sentences quote it."""
    return f"{factor - 1:.0%}"
