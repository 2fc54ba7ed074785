"""Observed convergence and work-precision from the long table: rungs, fitted slopes, cheapest rung.

A *rung* is one (problem, solver, overrides) setting; its seeds are repeats. For a metric at one
time (the last snapshot by default):

* `rung_stats` gives per rung the mean and spread over seeds of the metric, of its Monte Carlo
  floor (where the metric has one) and of the solve cost (`solve_s`: training + stepping, no
  evaluation; see `solve_seconds` in the execute sub-package's run_cell);
* `slope_fits` fits log(metric) = a + b log(N) per seed over the rungs that differ only in N
  (`p_n`), and reports b's mean and standard deviation over seeds;
* `cheapest_within` finds, per solver, the cheapest rung whose mean metric is within a factor of
  its mean floor (by default `harness.report.thresholds.AT_FLOOR`: at the floor, as the summary uses it).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from metrics.specs import LiveView, mc_floor, with_role

from harness.report.thresholds import AT_FLOOR

#: accuracy metrics -> their Monte Carlo floor metric (None: no floor), from the registry (metrics.specs)
FLOORS = LiveView(lambda: {m: mc_floor(m) for m in with_role("accuracy")})


def last_time(df: pd.DataFrame) -> float:
    """The largest snapshot time in df."""
    return float(df.t.max())


def _rung_keys(df: pd.DataFrame) -> list[str]:
    return ["solver", "overrides"]


def rung_stats(table: pd.DataFrame, timings: pd.DataFrame, problem: str, metric: str,
               t: float | None = None) -> pd.DataFrame:
    """Per (solver, overrides) at time t (default: last): mean, sd, min, max over seeds of `metric`,
    mean of its floor, mean solve seconds, N (`p_n`) and the number of seeds."""
    df = table[(table.problem == problem)]
    if df.empty or metric not in set(df.metric):
        return pd.DataFrame()
    t = last_time(df) if t is None else t
    at = df[np.isclose(df.t, t)]
    m = at[at.metric == metric]
    keys = _rung_keys(m) + ["seed"]
    cols = ["p_n"] if "p_n" in m.columns else []
    per_seed = m[keys + ["value"] + cols].rename(columns={"value": "y"})
    floor = FLOORS.get(metric)
    if floor and floor in set(at.metric):
        f = at[at.metric == floor][keys + ["value"]].rename(columns={"value": "floor"})
        per_seed = per_seed.merge(f, on=keys, how="left")
    else:
        per_seed["floor"] = np.nan
    tm = timings[timings.problem == problem] if not timings.empty else timings
    if not tm.empty and "solve_s" in tm.columns:
        per_seed = per_seed.merge(tm[keys + ["solve_s"]], on=keys, how="left")
    else:
        per_seed["solve_s"] = np.nan
    g = per_seed.groupby(_rung_keys(per_seed), sort=False)
    out = pd.DataFrame({"y": g.y.mean(), "y_sd": g.y.std(ddof=1), "y_min": g.y.min(), "y_max": g.y.max(),
                        "floor": g.floor.mean(), "solve_s": g.solve_s.mean(), "seeds": g.y.count()})
    out["n"] = g.p_n.first() if "p_n" in per_seed.columns else np.nan
    return out.reset_index()


def _param_columns(df: pd.DataFrame, x_col: str) -> list[str]:
    return [c for c in df.columns if c.startswith("p_") and c != x_col]


def _strip_field(label: str, field: str) -> str:
    return ",".join(p for p in label.split(",") if p and not p.startswith(f"{field}="))


def slope_fits(table: pd.DataFrame, problem: str, metric: str, t: float | None = None,
               x_col: str = "p_n") -> pd.DataFrame:
    """Fitted slope of log(metric) against log(N) at time t (default: last snapshot).

    Rungs of one solver are grouped by every config column except N, so a group is a ladder in N
    with everything else fixed. Per seed with at least two distinct N: least squares in log-log.
    Columns: solver, group (the overrides other than N), slope (mean over seeds), slope_sd (sd over
    seeds, NaN for one seed), seeds, n_min, n_max, points (list of (N, mean metric))."""
    df = table[(table.problem == problem) & (table.metric == metric)]
    if df.empty or x_col not in df.columns:
        return pd.DataFrame()
    t = last_time(table[table.problem == problem]) if t is None else t
    df = df[np.isclose(df.t, t)]
    rows = []
    for solver, ds in df.groupby("solver", sort=True):
        ds = ds.dropna(axis=1, how="all")
        params = _param_columns(ds, x_col)
        keyed = ds.assign(_g=ds[params].astype(str).agg("|".join, axis=1) if params else "")
        for _, dg in keyed.groupby("_g", sort=False):
            if dg[x_col].nunique() < 2:
                continue
            slopes = []
            for _, dseed in dg.groupby("seed"):
                if dseed[x_col].nunique() >= 2 and (dseed.value > 0).all():
                    slopes.append(np.polyfit(np.log(dseed[x_col].astype(float)), np.log(dseed.value), 1)[0])
            if not slopes:
                continue
            means = dg.groupby(x_col).value.mean()
            rows.append({"solver": solver, "group": _strip_field(dg.overrides.iloc[0], x_col[2:]),
                         "slope": float(np.mean(slopes)),
                         "slope_sd": float(np.std(slopes, ddof=1)) if len(slopes) > 1 else float("nan"),
                         "seeds": len(slopes), "n_min": int(means.index.min()), "n_max": int(means.index.max()),
                         "points": [(int(n), float(v)) for n, v in means.items()]})
    return pd.DataFrame(rows)


def cheapest_within(stats: pd.DataFrame, factor: float = AT_FLOOR) -> pd.DataFrame:
    """Per solver: the cheapest rung (by mean solve_s) at its floor, or, if none, the rung closest to its floor;
    column `reached` says which. At its floor: where `stats` has a boolean column `at_floor` (inside the floor band:
    harness.report.evidence), that; else mean metric <= factor x its mean floor (a run with one floor draw)."""
    rows = []
    if stats.empty:
        return pd.DataFrame()
    for solver, g in stats.dropna(subset=["floor"]).groupby("solver", sort=True):
        g = g.sort_values("solve_s")
        ok = g[g["at_floor"].fillna(False).astype(bool)] if "at_floor" in g.columns else g[g.y <= factor * g.floor]
        best = ok.iloc[0] if not ok.empty else g.loc[(g.y / g.floor).idxmin()]
        rows.append({"solver": solver, "overrides": best.overrides, "solve_s": best.solve_s, "y": best.y,
                     "floor": best.floor, "ratio": best.y / best.floor, "reached": not ok.empty})
    return pd.DataFrame(rows)
