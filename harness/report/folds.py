"""Folded flow maps in the report: where a cell's flow map folds, its density-based numbers are not reported.

A flow-map solver (`has_flow_map`: pinn_pm_particle, pinn_pm_sc) records per snapshot `min_det_j` (the smallest
det J of v -> Phi(v, t) over its particles) and `fold_fraction` (the share with det J <= 0). Once the map folds
(fold_fraction > 0 at a snapshot) it is no longer one-to-one: particles have crossed, which no characteristic flow
does, and the change-of-variables density f0 / |det J| and the push-forward score built from it are undefined. From
that snapshot on, every metric declared `fold_sensitive` (metrics.specs: KDE L2, RFD, entropy dissipation,
entropy_pushforward) and that cell's certificates are shown as *folded* in summary.md instead of as numbers, and the
verdict says where the map folded. metrics.csv and certificates.csv keep the measured values.
"""
from __future__ import annotations

import math

import pandas as pd

from metrics.specs import METRICS, LiveView

FOLD_FRACTION = "fold_fraction"
MIN_DET_J = "min_det_j"
#: metrics hidden from the first folded snapshot on (metrics.specs: fold_sensitive)
FOLD_SENSITIVE = LiveView(lambda: tuple(m.name for m in METRICS.values() if m.fold_sensitive))
#: the columns naming one cell of the long table
CELL = ["problem", "solver", "overrides", "seed"]
#: the text a hidden value shows in the summary's tables
FOLDED = "folded"


def row_label(solver: str, overrides: str) -> str:
    """'pinn_pm_sc' or 'pinn_pm_sc [iters=500]' (harness.report.summary's row label; this module sits below it)."""
    return solver if not overrides else f"{solver} [{overrides}]"


def first_folds(table: pd.DataFrame) -> pd.DataFrame:
    """One row per cell whose flow map folds at some snapshot: CELL, t (its first snapshot with fold_fraction > 0),
    min_det_j and fold_fraction there, and seeds_run (how many seeds of its setting the table holds). Empty (with
    those columns) when no map folds."""
    columns = CELL + ["t", MIN_DET_J, FOLD_FRACTION, "seeds_run"]
    if table.empty or FOLD_FRACTION not in set(table.metric):
        return pd.DataFrame(columns=columns)
    df = table.assign(overrides=table.overrides.fillna(""))
    frac = df[df.metric == FOLD_FRACTION]
    folded = frac[frac.value > 0].sort_values("t").groupby(CELL, sort=True).head(1)
    rows = []
    for r in folded.itertuples(index=False):
        det = df[(df.metric == MIN_DET_J) & (df.problem == r.problem) & (df.solver == r.solver)
                 & (df.overrides == r.overrides) & (df.seed == r.seed) & (df.t == r.t)].value
        run = frac[(frac.problem == r.problem) & (frac.solver == r.solver) & (frac.overrides == r.overrides)]
        rows.append({"problem": r.problem, "solver": r.solver, "overrides": r.overrides, "seed": r.seed, "t": float(r.t),
                     MIN_DET_J: float(det.iloc[0]) if len(det) else math.nan, FOLD_FRACTION: float(r.value),
                     "seeds_run": int(run.seed.nunique())})
    return pd.DataFrame(rows, columns=columns)


def mask_folds(table: pd.DataFrame, folds: pd.DataFrame | None = None) -> pd.DataFrame:
    """`table` with a boolean column 'folded': True on the rows of FOLD_SENSITIVE metrics at or after their cell's
    first fold, whose value becomes NaN. Idempotent; a table without folds gets folded = False everywhere."""
    if table.empty:
        return table
    folds = first_folds(table) if folds is None else folds
    out = table.assign(folded=False) if "folded" not in table.columns else table.copy()
    if folds.empty:
        return out
    overrides = out.overrides.fillna("")
    sensitive = out.metric.isin(list(FOLD_SENSITIVE))
    for f in folds.itertuples(index=False):
        hit = (sensitive & (out.problem == f.problem) & (out.solver == f.solver) & (overrides == f.overrides)
               & (out.seed == f.seed) & (out.t >= f.t - 1e-12))
        out.loc[hit, "folded"] = True
    out.loc[out.folded.astype(bool), "value"] = math.nan
    return out


def mask_certificates(certs: pd.DataFrame | None, folds: pd.DataFrame) -> pd.DataFrame | None:
    """`certs` (certificates.csv's frame) with a boolean column 'folded': True on the rows of a cell at or after its
    first fold (its certificates are not reported there)."""
    if certs is None or certs.empty:
        return certs
    out = certs.assign(folded=False)
    overrides = out.overrides.fillna("") if "overrides" in out.columns else pd.Series("", index=out.index)
    for f in folds.itertuples(index=False):
        hit = ((out.problem == f.problem) & (out.solver == f.solver) & (overrides == f.overrides)
               & (out.seed == f.seed) & (out.t >= f.t - 1e-12))
        out.loc[hit, "folded"] = True
    return out


def fold_summary(folds: pd.DataFrame) -> pd.DataFrame:
    """Per (problem, solver, overrides) with a folded cell: the earliest fold time t over its seeds, min_det_j there
    (the smallest over the seeds folding then), the seeds that fold and how many seeds the setting ran."""
    if folds.empty:
        return pd.DataFrame(columns=["problem", "solver", "overrides", "t", MIN_DET_J, "seeds", "seeds_run"])
    rows = []
    for (problem, solver, overrides), g in folds.groupby(["problem", "solver", "overrides"], sort=True):
        first = g[g.t == g.t.min()]
        rows.append({"problem": problem, "solver": solver, "overrides": overrides, "t": float(g.t.min()),
                     MIN_DET_J: float(first[MIN_DET_J].min()), "seeds": sorted(int(s) for s in g.seed),
                     "seeds_run": int(g.seeds_run.max())})
    return pd.DataFrame(rows)


def fold_note(folds: pd.DataFrame, problem: str) -> str:
    """The line under a table with folded entries: which setting folds where; '' when none on `problem`."""
    summary = fold_summary(folds)
    summary = summary[summary.problem == problem]
    if summary.empty:
        return ""
    where = "; ".join(f"{row_label(r.solver, r.overrides)} folds at t = {r.t:g} (min det J = {r.min_det_j:.3g})"
                      for r in summary.itertuples(index=False))
    return (f"*{FOLDED}*: the flow map is not one-to-one from that snapshot on (det J <= 0 at some particle), so its "
            f"density, KDE and score-based numbers are not reported (metrics.csv keeps them): {where}.")


def validity_table(table: pd.DataFrame, problem: str, max_times: int = 7) -> list[str]:
    """Markdown lines of the flow-map validity table of `problem`: rows = flow-map solver settings, columns =
    snapshot times, each cell 'min det J' (the smallest over seeds), in bold with the fold fraction beside it (the
    largest over seeds) where that is > 0; [] without flow-map rows."""
    df = table[(table.problem == problem) & table.metric.isin([MIN_DET_J, FOLD_FRACTION])]
    if df.empty:
        return []
    df = df.assign(overrides=df.overrides.fillna(""))
    times = sorted(df.t.unique())[:max_times]
    lines = ["| solver | " + " | ".join(f"t = {t:g}" for t in times) + " |", "|---" * (len(times) + 1) + "|"]
    for (solver, overrides), g in df.groupby(["solver", "overrides"], sort=True):
        cells = []
        for t in times:
            det = g[(g.metric == MIN_DET_J) & (g.t == t)].value
            frac = g[(g.metric == FOLD_FRACTION) & (g.t == t)].value
            text = "" if det.empty else f"{det.min():.3g}"
            if len(frac) and frac.max() > 0:
                text = f"**{text} ({frac.max():.1%} {FOLDED})**"
            cells.append(text)
        lines.append(f"| {row_label(solver, overrides)} | " + " | ".join(cells) + " |")
    return lines
