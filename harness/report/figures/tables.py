"""Figures drawn from the long table alone: each metric over time per solver setting (one PNG per (problem,
metric)), and for sweeps the work-precision diagram and the convergence in N."""
from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from metrics.specs import METRICS, LiveView, mc_floor

from harness.report.convergence import FLOORS, rung_stats, slope_fits
from harness.report.figures.common import figure_path, plt, save_figure, setting_label

#: metrics drawn against t, with their Monte Carlo floor (None: none), and those on a log axis (metrics.specs)
PLOTTED = LiveView(lambda: {m.name: mc_floor(m.name) for m in METRICS.values() if m.plotted})
LOG_SCALE = LiveView(lambda: {m.name for m in METRICS.values() if m.scale == "log"})


def _floor_band(floors: pd.DataFrame | None, problem: str, metric: str) -> pd.DataFrame:
    """Per (n, t): the central BAND_LEVEL of the metric for exact samples (its floor draws), absolute values."""
    import numpy as np
    from harness.report.thresholds import BAND_LEVEL
    if floors is None or floors.empty:
        return pd.DataFrame(columns=["n", "t", "lo", "hi"])
    f = floors[(floors.problem == problem) & (floors.metric == metric)].drop_duplicates(["n", "t"])
    q = ((1 - BAND_LEVEL) / 2, (1 + BAND_LEVEL) / 2)
    rows = [{"n": r.n, "t": r.t, "lo": float(np.quantile(r.values, q[0])), "hi": float(np.quantile(r.values, q[1]))}
            for r in f.itertuples(index=False)]
    return pd.DataFrame(rows, columns=["n", "t", "lo", "hi"])


def metric_over_time(table: pd.DataFrame, problem: str, metric: str, floor: str | None, path: Path,
                     floors: pd.DataFrame | None = None) -> None:
    """Mean over seeds of `metric` against t per solver setting with its 95% t interval over seeds as a band (K > 1);
    its floor dashed in the same colour, and the central 95% of one exact sample's values (its floor draws, `floors`)
    as a grey band per N (the spread of one seed, not of a mean over K)."""
    from harness.report.evidence import t_interval
    df = table[table.problem == problem]
    fig, ax = plt.subplots(figsize=(5, 3.5))
    for j, ((n, band)) in enumerate(_floor_band(floors, problem, metric).groupby("n")):
        band = band.sort_values("t")
        ax.fill_between(band.t, band.lo, band.hi, color="0.5", alpha=0.15, lw=0,
                        label="one exact sample: central 95%" if j == 0 else None)
    for i, ((solver, overrides), g) in enumerate(df[df.metric == metric].groupby(["solver", "overrides"])):
        ci = g.groupby("t")["value"].apply(lambda v: t_interval(list(v)))
        m = ci.map(lambda c: c[0])
        ax.plot(m.index, m.values, "o-", color=f"C{i % 10}", label=setting_label(solver, overrides))
        lo, hi = ci.map(lambda c: c[1]), ci.map(lambda c: c[2])
        if lo.notna().any():
            ax.fill_between(lo.index, lo.values, hi.values, color=f"C{i % 10}", alpha=0.2, lw=0)
        if floor:
            f = df[(df.metric == floor) & (df.solver == solver) & (df.overrides == overrides)].groupby("t")["value"].mean()
            if not f.empty:
                ax.plot(f.index, f.values, "--", color=f"C{i % 10}", alpha=0.6)
    ax.set_xlabel("t")
    ax.set_ylabel(metric)
    ax.set_title(f"{problem}: {metric}")
    if metric in LOG_SCALE and (df[df.metric == metric].value > 0).all():
        ax.set_yscale("log")
    ax.legend(fontsize=6 if df.overrides.nunique() > 1 else 7)
    if floor:
        ax.plot([], [], "k--", alpha=0.6, label="floor (dashed, same colour)")
        ax.legend(fontsize=6 if df.overrides.nunique() > 1 else 7)
    save_figure(fig, path)


def work_precision(table: pd.DataFrame, timings: pd.DataFrame, problem: str, metric: str, path: Path) -> Path | None:
    """Work-precision diagram: x = solve seconds (training + stepping), y = metric at the last snapshot,
    log-log; one line per solver ladder (settings that override the same fields), min-max over seeds
    as error bars, each setting's Monte Carlo floor dashed in the solver's colour."""
    import numpy as np

    stats = rung_stats(table, timings, problem, metric)
    if stats.empty or stats.solve_s.isna().all():
        return None
    fig, ax = plt.subplots(figsize=(5.5, 4))
    ladder = lambda label: tuple(sorted(p.split("=", 1)[0] for p in str(label).split(",") if "=" in p))
    for i, (solver, gs) in enumerate(stats.groupby("solver", sort=True)):
        groups = list(gs.groupby(gs.overrides.map(ladder), sort=True))
        for j, (fields, g) in enumerate(groups):
            g = g.sort_values("solve_s")
            err = np.vstack([g.y - g.y_min, g.y_max - g.y]) if (g.seeds > 1).any() else None
            name = solver if len(groups) == 1 else f"{solver} ({', '.join(fields) or 'profile'})"
            ax.errorbar(g.solve_s, g.y, yerr=err, fmt="o-" if j == 0 else "s-.", color=f"C{i}", capsize=3, label=name)
            if g.floor.notna().any():
                ax.plot(g.solve_s, g.floor, "--", color=f"C{i}", alpha=0.6)
    if stats.floor.notna().any():
        ax.plot([], [], "k--", alpha=0.6, label="MC floor at that N")
    return _finish_loglog(fig, ax, table, problem, metric, "solve seconds (training + stepping; CPU)",
                          f"{problem}: work-precision ({metric})", path, logy=bool((stats.y > 0).all()))


def _finish_loglog(fig, ax, table, problem: str, metric: str, xlabel: str, title: str, path: Path,
                   logy: bool = True) -> Path:
    """Log axes, labels (y: the metric at the problem's last snapshot), title, legend; save."""
    ax.set_xscale("log")
    if logy:
        ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(f"{metric} at t = {table[table.problem == problem].t.max():g}")
    ax.set_title(title)
    ax.legend(fontsize=7)
    return save_figure(fig, path)


def convergence_in_n(table: pd.DataFrame, problem: str, metric: str, path: Path) -> Path | None:
    """metric at the last snapshot against N (log-log) for every ladder in N, the fitted slope
    (mean ± sd over seeds) in the legend."""
    fits = slope_fits(table, problem, metric)
    if fits.empty:
        return None
    fig, ax = plt.subplots(figsize=(5.5, 4))
    for i, r in enumerate(fits.itertuples()):
        n, y = zip(*r.points)
        sd = "" if math.isnan(r.slope_sd) else f" ± {r.slope_sd:.2f}"
        ax.plot(n, y, "o-", color=f"C{i % 10}", label=f"{setting_label(r.solver, r.group)}: slope {r.slope:.2f}{sd}")
    return _finish_loglog(fig, ax, table, problem, metric, "N (particles; PINN-PM: training particles)",
                          f"{problem}: {metric} against N", path)


def write_sweep_figures(table: pd.DataFrame, timings: pd.DataFrame, fig_dir: Path) -> list[Path]:
    """Work-precision and N-convergence figures of every problem where a solver ran several settings."""
    paths = []
    if table.empty:
        return paths
    for problem in sorted(table.problem.unique()):
        df = table[table.problem == problem]
        if df.groupby("solver").overrides.nunique().max() < 2:
            continue
        for metric in FLOORS:
            if metric in set(df.metric):
                for fn, name in ((lambda p: work_precision(table, timings, problem, metric, p), "wp"),
                                 (lambda p: convergence_in_n(table, problem, metric, p), "convergence")):
                    path = figure_path(fig_dir, f"{problem}_{name}_{metric}.png")
                    out = fn(path) if path is not None else None
                    if out is not None:
                        paths.append(out)
    return paths


def write_figures(table: pd.DataFrame, fig_dir: Path, floors: pd.DataFrame | None = None) -> list[Path]:
    """Every (problem, metric) figure the table supports (`floors`: the run's floor distributions, drawn as bands);
    returns the paths written."""
    paths = []
    if table.empty:
        return paths
    for problem in sorted(table.problem.unique()):
        present = set(table[table.problem == problem].metric)
        for metric, floor in PLOTTED.items():
            path = figure_path(fig_dir, f"{problem}_{metric}.png") if metric in present else None
            if path is not None:
                metric_over_time(table, problem, metric, floor if floor in present else None, path, floors)
                paths.append(path)
    return paths
