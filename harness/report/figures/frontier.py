"""The accuracy-per-second frontier of a sweep (issue 45): error at the last snapshot against solve seconds, every
rung of every method, the frontier drawn, the CPU budgets marked."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from harness.report.convergence import rung_stats
from harness.report.figures.common import figure_path, plt, save_figure
from harness.report.frontier import cost_clock, cost_exponents, frontier, frontier_metric, has_n_ladder
from harness.report.thresholds import FRONTIER_BUDGETS_S


def frontier_figure(table: pd.DataFrame, timings: pd.DataFrame, problem: str, metric: str, path: Path) -> Path | None:
    """Log-log: x = mean solve seconds of a rung, y = its mean `metric` at the last snapshot (min-max over seeds as
    bars), one colour per solver with its cost exponent in the legend, each rung's Monte Carlo floor as a small
    dash, the frontier (harness.report.frontier.frontier) as a black step line, the budgets as dotted verticals.
    None when fewer than two rungs have seconds. Seconds on the clock `cost_clock` picks (CPU where recorded)."""
    timings, clock = cost_clock(timings, problem)
    stats = rung_stats(table, timings, problem, metric).dropna(subset=["y", "solve_s"])
    if len(stats) < 2 or not (stats.y > 0).all() or not (stats.solve_s > 0).all():
        return None
    expo = cost_exponents(table, timings, problem)
    fig, ax = plt.subplots(figsize=(6, 4.2))
    for i, (solver, g) in enumerate(stats.groupby("solver", sort=True)):
        g = g.sort_values("solve_s")
        row = expo[expo.solver == solver] if not expo.empty else expo
        label = solver + (f" (cost ~ N^{row.exponent.iloc[0]:.2f})" if len(row) == 1 else "")
        err = np.vstack([g.y - g.y_min, g.y_max - g.y]) if (g.seeds > 1).any() else None
        ax.errorbar(g.solve_s, g.y, yerr=err, fmt="o-", color=f"C{i}", capsize=2, alpha=0.85, label=label, ms=4)
        if g.floor.notna().any():
            ax.plot(g.solve_s, g.floor, "_", color=f"C{i}", ms=10, alpha=0.7)
    front = frontier(stats)
    xs, ys = front.solve_s.to_numpy(), front.y.to_numpy()
    ax.step(np.append(xs, stats.solve_s.max()), np.append(ys, ys[-1]), where="post", color="k", lw=1.2,
            label="frontier")
    for b in FRONTIER_BUDGETS_S:
        ax.axvline(b, color="grey", ls=":", lw=0.8)
    ax.plot([], [], "_", color="k", ms=10, label="MC floor of a rung")
    ax.set_xscale("log")
    ax.set_yscale("log")
    budgets = ", ".join(f"{b:g}" for b in FRONTIER_BUDGETS_S)
    ax.set_xlabel(f"solve {clock} seconds (one thread; budgets {budgets} s dotted)")
    ax.set_ylabel(f"{metric} at t = {table[table.problem == problem].t.max():g}")
    ax.set_title(f"{problem}: error per CPU second")
    ax.legend(fontsize=6)
    return save_figure(fig, path)


def write_frontier_figures(table: pd.DataFrame, timings: pd.DataFrame, fig_dir: Path) -> list[Path]:
    """The frontier figure of every problem where some solver ran several N ({problem}_frontier.png)."""
    paths = []
    if table.empty:
        return paths
    for problem in sorted(table.problem.unique()):
        metric = frontier_metric(table, problem)
        if metric is None or not has_n_ladder(table, problem):
            continue
        path = figure_path(fig_dir, f"{problem}_frontier.png")
        out = frontier_figure(table, timings, problem, metric, path) if path is not None else None
        if out is not None:
            paths.append(out)
    return paths
