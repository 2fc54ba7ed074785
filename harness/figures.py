"""Figures from the long table: each metric over time per solver, one PNG per (problem, metric)."""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

PLOTTED = {"kde_l2": "kde_l2_mc_floor", "w1": "w1_mc_floor", "rfd": None, "trajectory_error": None,
           "energy_drift": None, "entropy_dissipation": None, "kinetic_energy": None, "cov_err": None}
LOG_SCALE = {"kde_l2", "w1", "rfd", "trajectory_error", "cov_err"}


def metric_over_time(table: pd.DataFrame, problem: str, metric: str, floor: str | None, path: Path) -> None:
    """Mean over seeds of `metric` against t per solver; its floor dashed in the same colour."""
    df = table[table.problem == problem]
    fig, ax = plt.subplots(figsize=(5, 3.5))
    for i, (solver, g) in enumerate(df[df.metric == metric].groupby("solver")):
        m = g.groupby("t")["value"].mean()
        ax.plot(m.index, m.values, "o-", color=f"C{i}", label=solver)
        if floor:
            f = df[(df.metric == floor) & (df.solver == solver)].groupby("t")["value"].mean()
            if not f.empty:
                ax.plot(f.index, f.values, "--", color=f"C{i}", alpha=0.6, label=f"{solver} floor")
    ax.set_xlabel("t")
    ax.set_ylabel(metric)
    ax.set_title(f"{problem}: {metric}")
    if metric in LOG_SCALE and (df[df.metric == metric].value > 0).all():
        ax.set_yscale("log")
    ax.legend(fontsize=7)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_figures(table: pd.DataFrame, fig_dir: Path) -> list[Path]:
    """Every (problem, metric) figure the table supports; returns the paths written."""
    paths = []
    if table.empty:
        return paths
    for problem in sorted(table.problem.unique()):
        present = set(table[table.problem == problem].metric)
        for metric, floor in PLOTTED.items():
            if metric in present:
                path = fig_dir / f"{problem}_{metric}.png"
                metric_over_time(table, problem, metric, floor if floor in present else None, path)
                paths.append(path)
    return paths
