"""Training curves of the neural solvers (the `curves` a cell record stores), one figure per problem."""
from __future__ import annotations

from pathlib import Path

from harness.report.figures.common import plt, save_figure


def write_training_figures(run_dir: Path, fig_dir: Path, records: list | None = None) -> list[Path]:
    """One figure per problem of the training curves stored by neural solvers (cell 'curves'):
    L_phys and, where the curves have it, L_phys / E|U_theta|^2 (log scale, left; dotted) and L_ISM (right)
    against iteration, one line per training (the longest
    curve of each training key, so the rungs of a sweep draw one line)."""
    from harness.store import tables as store
    trainings: dict[str, dict[str, dict]] = {}
    for rec in store.load_records(run_dir) if records is None else records:
        curves = rec.curves
        if not rec.ok or not {"iteration", "phys", "ism"} <= set(curves):
            continue
        if not all(isinstance(curves[k], list) and len(curves[k]) == len(curves["iteration"]) for k in ("phys", "ism")):
            continue
        key = str(rec.info.get("training_key", rec.cell_id))
        old = trainings.get(rec.problem, {}).get(key)
        if old is not None and len(old["iteration"]) >= len(curves["iteration"]):
            continue
        trainings.setdefault(rec.problem, {})[key] = {**curves, "seed": rec.seed}
    paths = []
    for problem, runs in sorted(trainings.items()):
        fig, ax = plt.subplots(figsize=(5.5, 3.5))
        ax2 = ax.twinx()
        for i, (key, c) in enumerate(sorted(runs.items())):
            ax.plot(c["iteration"], c["phys"], color=f"C{i}", label=f"L_phys seed {c['seed']}")
            if isinstance(c.get("signal"), list) and len(c["signal"]) == len(c["phys"]):
                ratio = [p / s if s and s > 0 else float("nan") for p, s in zip(c["phys"], c["signal"])]
                ax.plot(c["iteration"], ratio, ":", color=f"C{i}", label=f"L_phys / E|U|^2 seed {c['seed']}")
            ax2.plot(c["iteration"], c["ism"], "--", color=f"C{i}", alpha=0.7, label=f"L_ISM seed {c['seed']}")
        ax.set_yscale("log")
        ax.set_xlabel("iteration")
        ax.set_ylabel("L_phys (solid), L_phys / E|U|^2 (dotted)")
        ax2.set_ylabel("L_ISM (dashed)")
        ax.set_title(f"{problem}: PINN-PM training")
        fig.legend(fontsize=7, loc="upper right")
        paths.append(save_figure(fig, fig_dir / f"{problem}_training.png"))
    return paths
