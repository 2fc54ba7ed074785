"""Certificate figures: each certificate's bound beside what was observed, over time."""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from harness.report.figures.common import figure_path, plt, save_figure


def write_certificate_figures(certs: pd.DataFrame, fig_dir: Path) -> list[Path]:
    """Per (problem, certificate): log10 of bound (solid) and observed (dashed) against t per solver
    (lowest seed). log10 because several bounds exceed the float range."""
    import numpy as np

    paths = []
    if certs is None or certs.empty:
        return paths
    certs = certs[certs.seed == certs.seed.min()]
    for (problem, cert), g in certs.groupby(["problem", "certificate"]):
        path = figure_path(fig_dir, f"{problem}_cert_{cert}.png")
        if path is None:
            continue
        fig, ax = plt.subplots(figsize=(5, 3.5))
        for i, (solver, gs) in enumerate(g.groupby("solver")):
            gs = gs.sort_values("t")
            obs = np.log10(gs.observed.clip(lower=1e-300))
            ax.plot(gs.t, gs.log10_bound, "-", color=f"C{i}", label=f"{solver} bound")
            ax.plot(gs.t, obs, "--", color=f"C{i}", label=f"{solver} observed")
        ax.set_xlabel("t")
        ax.set_ylabel("log10")
        ax.set_title(f"{problem}: {cert}")
        ax.legend(fontsize=7)
        paths.append(save_figure(fig, path))
    return paths
