"""Quantities the Landau equation moves one way only, and the test that one moved the other way beyond Monte Carlo noise.

Entropy (the H-theorem): H(t) = int f_t log f_t never increases, so the physical entropy S(t) = -int f_t log f_t
never decreases. The metric `entropy_pushforward` (metrics.specs) is S's estimate -(1/N) sum_i log f_t(x_i) at the
method's particles with its own change-of-variables density, so it is checked with never = 'decreases'. It is the
one entropy estimate checked: a KDE's entropy carries a bandwidth bias that changes with the spread, and particle
methods without a density of their own (sbp, blob, the SDE) are not checked.
Fisher information: I(t) = int f_t |grad log f_t|^2, estimated by (1/N) sum_i |s_i|^2 from a score of the method's
own density (a flow map's push-forward score, neural_flow's carried score), never increases in 3D for gamma in
[-3, 1] (Guillen and Silvestre, arXiv 2311.09420); checked with never = 'increases' where the metric
`fisher_information` exists (it is computed only there).

Noise rule: each value is a mean over the same N particles, with standard error se = sd / sqrt(N) of the
per-particle values (`mean_and_se`). Where the same particles are followed from one snapshot to the next (a flow
map's x_i(t) = Phi(V_i, t), neural_flow's carried particles) the step's own standard error is the paired one,
step_se = sd_i(q_i(t_k+1) - q_i(t_k)) / sqrt(N), and a step is a violation when it goes the wrong way by more than
z step_se; without it (a record made before the step rows) the bound sd(a - b) <= sd(a) + sd(b), true whatever
the correlation, gives the conservative z (se_k + se_k+1) (`violations`).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch


def mean_and_se(values: torch.Tensor) -> tuple[float, float]:
    """(mean, sd / sqrt(N)) of the (N,) per-particle values (sd with ddof 1; se NaN for N < 2), in float64."""
    v = values.to(torch.float64).reshape(-1)
    n = v.numel()
    mean = float(v.mean())
    return mean, (float(v.std(unbiased=True)) / math.sqrt(n) if n > 1 else math.nan)


@dataclass(frozen=True)
class Violation:
    """One step k -> k+1 of a series that went the wrong way beyond noise: t0, t1 the two snapshot times, v0, v1
    the values there, change = v1 - v0 signed so that > 0 is the forbidden direction (v1 - v0 for a quantity that
    never increases, v0 - v1 for one that never decreases), allowed = z (se0 + se1)."""

    t0: float
    t1: float
    v0: float
    v1: float
    change: float
    allowed: float


def violations(t, values, se, z: float, never: str = "increases", step_se=None) -> list[Violation]:
    """The steps of the series (t_k, values_k, se_k) (equal-length sequences, sorted by t here) where it moves in
    the forbidden direction by more than allowed = z step_se_k+1 where step_se (the paired standard error of the
    step into t_k+1, same length, NaN where unknown) is finite, else z (se_k + se_k+1): never = 'increases' (a rise
    > allowed) or 'decreases' (a fall > allowed). A step with a NaN value is never a violation (a folded map's hidden value: NaN compares
    false), nor one with a NaN se (no noise known: a record made before the se rows). ValueError for another `never` or a negative z."""
    if never not in ("increases", "decreases"):
        raise ValueError(f"never = {never!r}; allowed: 'increases', 'decreases'")
    if not z >= 0:
        raise ValueError(f"z = {z!r}; allowed: a number >= 0")
    step_se = [math.nan] * len(t) if step_se is None else step_se
    if not len(t) == len(values) == len(se) == len(step_se):
        raise ValueError(f"{len(t)} times, {len(values)} values, {len(se)} standard errors and {len(step_se)} step "
                         f"standard errors: lengths must agree")
    sign = 1.0 if never == "increases" else -1.0
    rows = sorted(zip(map(float, t), map(float, values), map(float, se), map(float, step_se)), key=lambda r: r[0])
    out = []
    for (t0, v0, s0, _), (t1, v1, s1, paired) in zip(rows, rows[1:]):
        allowed = z * (paired if math.isfinite(paired) else s0 + s1)
        change = sign * (v1 - v0)
        if change > allowed:
            out.append(Violation(t0, t1, v0, v1, change, allowed))
    return out


@dataclass(frozen=True)
class MonotoneQuantity:
    """A metric the theory moves one way only: metric (its registered name), se (the metric holding its standard
    error at the same snapshot), step_se (the metric holding the paired standard error of the step into that
    snapshot), never ('increases' or 'decreases') and theorem (one line: why)."""

    metric: str
    se: str
    step_se: str
    never: str
    theorem: str


#: the quantities checked per cell (harness.report.monotone), in the order the verdict names them
MONOTONE = (
    MonotoneQuantity("entropy_pushforward", "entropy_pushforward_se", "entropy_pushforward_step_se", "decreases",
                     "the H-theorem: -int f log f never decreases"),
    MonotoneQuantity("fisher_information", "fisher_information_se", "fisher_information_step_se", "increases",
                     "Guillen-Silvestre: the Fisher information never increases in 3D for gamma in [-3, 1]"),
)

#: the W2 between two seeds' clouds on a Maxwell problem (metrics.seed_w2; checked by harness.report.seed_w2 from the
#: particle files, not from metric rows): its debiased square never increases
SEED_W2 = MonotoneQuantity("w2sq_between_seeds", "", "", "increases",
                           "Maxwell molecules: W2 between two Landau solutions never increases (Caja-Lopez, Delgadino, "
                           "Gualdani, Taskovic 2025), and two seeds start from the same f0")
