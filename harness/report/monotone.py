"""Monotonicity checks per cell (issue 43, item 3): a quantity the theory moves one way only that a cell's rows move
the other way beyond Monte Carlo noise marks that cell in the verdict.

The quantities, their direction and their standard-error metrics are declared in metrics.monotone.MONOTONE (the
entropy estimate `entropy_pushforward` never decreases, the 3D Fisher information `fisher_information` never
increases); the noise rule is metrics.monotone.violations with z = thresholds.MONOTONE_Z. The check reads the
long metrics table (harness.store.tables) after harness.report.folds.mask_folds, so a folded map's hidden values
(NaN) are not checked. A violation is a defect of the method (or of the harness), never noise at that z.
"""
from __future__ import annotations

import pandas as pd

from metrics.monotone import MONOTONE, SEED_W2, violations

from harness.report.folds import row_label
from harness.report.thresholds import MONOTONE_Z

#: the verdict's mark on a (problem, solver setting) with a monotonicity violation in some seed
MONOTONE_MARK = "↯"
#: the columns of `monotone_violations`
COLUMNS = ["problem", "solver", "overrides", "seed", "quantity", "never", "t0", "t1", "v0", "v1", "change", "allowed"]


def monotone_violations(table: pd.DataFrame, z: float = MONOTONE_Z) -> pd.DataFrame:
    """One row per violation (COLUMNS): for every cell (problem, solver, overrides, seed) of the long table (columns
    problem, solver, overrides, seed, t, metric, value) and every quantity of MONOTONE with rows in it, each step
    t0 -> t1 that goes the forbidden way by change > allowed = z step_se1 (the paired standard error of the step), else
    z (se0 + se1) (metrics.monotone.violations; a step without its se rows, a record made before them, is not
    checked). Empty (with COLUMNS) when none."""
    rows = []
    names = {getattr(q, k) for q in MONOTONE for k in ("metric", "se", "step_se")}
    if table.empty or not names & set(table.metric):
        return pd.DataFrame(columns=COLUMNS)
    df = table[table.metric.isin(names)].assign(overrides=lambda d: d.overrides.fillna(""))
    for (problem, solver, overrides, seed), cell in df.groupby(["problem", "solver", "overrides", "seed"], sort=True):
        for q in MONOTONE:
            values = cell[cell.metric == q.metric].set_index("t").value
            if values.empty:
                continue
            se, step = (cell[cell.metric == m].set_index("t").value.reindex(values.index) for m in (q.se, q.step_se))
            for v in violations(list(values.index), list(values), list(se), z, q.never, list(step)):
                rows.append({"problem": problem, "solver": solver, "overrides": overrides, "seed": int(seed),
                             "quantity": q.metric, "never": q.never, "t0": v.t0, "t1": v.t1, "v0": v.v0, "v1": v.v1,
                             "change": v.change, "allowed": v.allowed})
    return pd.DataFrame(rows, columns=COLUMNS)


def marked(found: pd.DataFrame | None) -> set[tuple[str, str, str]]:
    """{(problem, solver, overrides)} with a violation in some seed: the verdict cells MONOTONE_MARK marks."""
    if found is None or found.empty:
        return set()
    return {(r.problem, r.solver, r.overrides) for r in found.itertuples(index=False)}


def monotone_sentences(found: pd.DataFrame | None) -> list[str]:
    """One sentence per violation: 'MARK S on P: entropy_pushforward decreases from V0 (t = T0) to V1 (t = T1) in seed
    K, by C > A (MONOTONE_Z standard errors of the step); THEOREM: a defect of the method or of the harness.'"""
    if found is None or found.empty:
        return []
    theorem = {q.metric: q.theorem for q in (*MONOTONE, SEED_W2)}
    return [f"{MONOTONE_MARK} {row_label(r.solver, r.overrides)} on {r.problem}: {r.quantity} "
            f"{'decreases' if r.never == 'decreases' else 'increases'} from {r.v0:.6g} (t = {r.t0:g}) to {r.v1:.6g} "
            f"(t = {r.t1:g}) in seed {r.seed}, by {r.change:.3g} > {r.allowed:.3g} ({MONOTONE_Z:g} standard errors of the "
            f"step); "
            f"{theorem[r.quantity]}: a defect of the method or of the harness."
            for r in found.itertuples(index=False)]
