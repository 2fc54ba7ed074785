"""The judgements every report makes, declared once: when a number counts as at its floor, when two are on par,
when a drift is worth naming, when B is worse than A.

The verdict (`harness.report.verdict`), the PINN-PM diagnosis (`harness.report.diagnosis`), the summary's
work-precision section (`harness.report.summary`, `harness.report.convergence.cheapest_within`) and `compare`
(`harness.report.compare`) read these names; none of them writes the numbers again, and the sentences that quote
a threshold ("within 10%") format it from here.
"""
from __future__ import annotations

#: an accuracy metric (W1) at most this factor times its Monte Carlo floor is *at its floor*: the measurement
#: cannot tell it from exact samples of the same N (the verdict's ✓, the diagnosis' "at the floor", the
#: cheapest setting of a sweep "within 10% of its floor")
AT_FLOOR = 1.1
#: two W1/floor ratios within this factor of each other are *on par* (the verdict never ranks them)
ON_PAR = 1.1
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
#: a region's mass (core_mass_err, hdr_mass_err) off by more than this factor times its Monte Carlo floor is
#: misplaced mass the diagnosis names (truncated2d's hole never entered, the mixture's modes or bulk misplaced)
REGION_MASS_FLAG = 3.0
#: `compare`: B is worse than A in an accuracy metric when |B| > |A| (1 + this) + the seed spread (--rtol)
REGRESSION_RTOL = 0.1
#: `compare`: a difference |B| - |A| at most this is never a regression (differences in the last bits)
REGRESSION_ABS_TOL = 1e-12


def percent_over(factor: float) -> str:
    """'10%' for a factor of 1.1: how far above 1 a factor lets a ratio be, as the sentences quote it."""
    return f"{factor - 1:.0%}"
