"""Figures from the long table: each metric over time per solver, one PNG per (problem, metric)."""
from __future__ import annotations

import math
import os
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from metrics.specs import METRICS, LiveView, mc_floor  # noqa: E402
from infra.files import replacing  # noqa: E402

#: metrics drawn against t, with their Monte Carlo floor (None: none), and those on a log axis (metrics.specs)
PLOTTED = LiveView(lambda: {m.name: mc_floor(m.name) for m in METRICS.values() if m.plotted})
LOG_SCALE = LiveView(lambda: {m.name for m in METRICS.values() if m.scale == "log"})


def _save(fig, path: Path, dpi: int = 110) -> Path:
    """tight_layout, write the PNG atomically (creating its folder; a symbolic link at `path` is replaced,
    never written through), close the figure; returns path."""
    fig.tight_layout()
    try:
        with replacing(path, suffix=".png") as tmp:
            fig.savefig(tmp, dpi=dpi, format="png")
    finally:
        plt.close(fig)
    return path


def figure_path(fig_dir: Path, name: str) -> Path | None:
    """fig_dir / name, or None (with one warning line) when `name` is not a plain file name: metric and
    certificate names come from plugins and cell records, and a '/' in one would write outside fig_dir."""
    if not name or name in (".", "..") or "\0" in name or any(sep and sep in name for sep in (os.sep, os.altsep)):
        print(f"warning: figure {name!r} skipped: its name would place it outside {str(fig_dir)!r}", file=sys.stderr)
        return None
    return fig_dir / name


def _label(solver: str, overrides: str) -> str:
    return solver if not overrides else f"{solver} [{overrides}]"


def metric_over_time(table: pd.DataFrame, problem: str, metric: str, floor: str | None, path: Path) -> None:
    """Mean over seeds of `metric` against t per solver setting; its floor dashed in the same colour."""
    df = table[table.problem == problem]
    fig, ax = plt.subplots(figsize=(5, 3.5))
    for i, ((solver, overrides), g) in enumerate(df[df.metric == metric].groupby(["solver", "overrides"])):
        m = g.groupby("t")["value"].mean()
        ax.plot(m.index, m.values, "o-", color=f"C{i % 10}", label=_label(solver, overrides))
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
    _save(fig, path)


def work_precision(table: pd.DataFrame, timings: pd.DataFrame, problem: str, metric: str, path: Path) -> Path | None:
    """Work-precision diagram: x = solve seconds (training + stepping), y = metric at the last snapshot,
    log-log; one line per solver ladder (settings that override the same fields), min-max over seeds
    as error bars, each setting's Monte Carlo floor dashed in the solver's colour."""
    import numpy as np

    from harness.report.convergence import rung_stats
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
    return _save(fig, path)


def convergence_in_n(table: pd.DataFrame, problem: str, metric: str, path: Path) -> Path | None:
    """metric at the last snapshot against N (log-log) for every ladder in N, the fitted slope
    (mean ± sd over seeds) in the legend."""
    import math

    from harness.report.convergence import slope_fits
    fits = slope_fits(table, problem, metric)
    if fits.empty:
        return None
    fig, ax = plt.subplots(figsize=(5.5, 4))
    for i, r in enumerate(fits.itertuples()):
        n, y = zip(*r.points)
        sd = "" if math.isnan(r.slope_sd) else f" ± {r.slope_sd:.2f}"
        ax.plot(n, y, "o-", color=f"C{i % 10}", label=f"{_label(r.solver, r.group)}: slope {r.slope:.2f}{sd}")
    return _finish_loglog(fig, ax, table, problem, metric, "N (particles; PINN-PM: training particles)",
                          f"{problem}: {metric} against N", path)


def write_sweep_figures(table: pd.DataFrame, timings: pd.DataFrame, fig_dir: Path) -> list[Path]:
    """Work-precision and N-convergence figures of every problem where a solver ran several settings."""
    from harness.report.convergence import FLOORS
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


def write_figures(table: pd.DataFrame, fig_dir: Path) -> list[Path]:
    """Every (problem, metric) figure the table supports; returns the paths written."""
    paths = []
    if table.empty:
        return paths
    for problem in sorted(table.problem.unique()):
        present = set(table[table.problem == problem].metric)
        for metric, floor in PLOTTED.items():
            path = figure_path(fig_dir, f"{problem}_{metric}.png") if metric in present else None
            if path is not None:
                metric_over_time(table, problem, metric, floor if floor in present else None, path)
                paths.append(path)
    return paths


def particles_fit(arrays: dict, dim: int, n_times: int) -> bool:
    """True if a stored particle file holds what `store.write_particles` writes for a problem of dimension
    `dim` with `n_times` snapshots: a 1D `times` of that length and, per snapshot k, x{k} of shape (N, dim)
    and optionally s{k} of the same shape."""
    times = arrays.get("times")
    if times is None or times.ndim != 1 or len(times) != n_times:
        return False
    for k in range(len(times)):
        x = arrays.get(f"x{k}")
        if x is None or x.ndim != 2 or x.shape[1] != dim or x.shape[0] < 1:
            return False
        s = arrays.get(f"s{k}")
        if s is not None and s.shape != x.shape:
            return False
    return True


#: numbers a particle file may hold before `report` refuses to decompress it (the paper profile's largest cell
#: writes about 2e6: N = 64,000 in 3D, particles and scores at 3 snapshots); a file of 2e8 zeros compresses to 1.5 MB
MAX_PARTICLE_FILE_ELEMENTS = 2**25


def npz_elements(path: Path) -> int:
    """The number of array elements an .npz file holds, read from each member's .npy header (nothing is
    decompressed beyond the headers); ValueError for a member that is not a plain .npy array."""
    import zipfile

    import numpy as np
    total = 0
    with zipfile.ZipFile(path) as zf:
        for info in zf.infolist():
            with zf.open(info) as fh:
                major, _ = np.lib.format.read_magic(fh)
                read_header = np.lib.format.read_array_header_1_0 if major == 1 else np.lib.format.read_array_header_2_0
                shape, _, _ = read_header(fh)
            total += math.prod(shape)
    return total


def _load_cells(run_dir: Path, problem: str, records: list) -> dict:
    """{label: npz arrays} of the ok cells of `problem` with the lowest seed that stored particles: per
    solver the setting with the largest solve time (the most resolved rung of a sweep). A particle file
    that does not load, or holds arrays that do not fit the problem (`particles_fit`), is skipped."""
    import numpy as np
    recs = [r for r in records if r.problem == problem and r.ok]
    if not recs:
        return {}
    seed = min(r.seed for r in recs)
    try:
        import problems
        spec = problems.get_problem(problem)
        dim, n_times = spec.dim, len(spec.snapshot_times)
    except Exception:  # a problem no longer registered: no figure
        return {}
    chosen: dict = {}
    for r in sorted(recs, key=lambda r: r.cell_id):
        if r.seed == seed and (r.solver not in chosen or (r.solve_s or 0) > (chosen[r.solver].solve_s or 0)):
            chosen[r.solver] = r
    out = {}
    for solver, r in sorted(chosen.items()):
        path = run_dir / "cells" / f"{r.cell_id}.npz"
        try:
            if npz_elements(path) > MAX_PARTICLE_FILE_ELEMENTS:
                print(f"warning: particle file {path.name} holds more than {MAX_PARTICLE_FILE_ELEMENTS:,} numbers; "
                      f"skipped (no solver writes that many)", file=sys.stderr)
                continue
            with np.load(path, allow_pickle=False) as z:
                arrays = {k: z[k] for k in z.files}
            if particles_fit(arrays, dim, n_times):
                from harness.plan.overrides import label
                out[_label(solver, label(sorted(r.overrides.items())))] = arrays
            else:
                print(f"warning: particle file {path.name} does not fit {problem} (d = {dim}, {n_times} snapshots); "
                      f"skipped", file=sys.stderr)
        except FileNotFoundError:  # a cell that stored no particles: the figure goes without it
            continue
        except Exception as exc:  # a damaged particle file: the figure goes without it, and says so
            print(f"warning: particle file {path.name} is damaged ({type(exc).__name__}); skipped", file=sys.stderr)
            continue
    return out


#: a density slice f(x, 0[, 0]) of N particles at bandwidth h is drawn only if N h^d >= this (about the number of
#: particles within one bandwidth of the slice's centre; 1,000 particles at h = 0.15 in 3D give 3: spikes)
SLICE_MIN_COUNT = 20
MARGINAL_NODES = 160  # nodes along the marginal's axis
MARGINAL_CROSS_NODES = {2: 160, 3: 48}  # nodes along each integrated axis (midpoint quadrature on grid_box)


def reference_marginal(judged, t: float, axis: int, nodes: int = MARGINAL_NODES):
    """(x (nodes,), f_axis(x) (nodes,)): the marginal of the exact / reference density along `axis` on the
    problem's grid box, by the tensor-product rectangle rule over the other axes (float64)."""
    import torch
    d = judged.dim
    cross = MARGINAL_CROSS_NODES.get(d, 32)
    axes = []
    for a, (lo, hi) in enumerate(judged.grid_box):
        m = nodes if a == axis else cross
        step = (hi - lo) / m
        axes.append(lo + step * (torch.arange(m, dtype=torch.float64) + 0.5))
    mesh = torch.meshgrid(*axes, indexing="ij")
    pts = torch.stack([g.reshape(-1) for g in mesh], dim=1)
    f = judged.density(pts, float(t)).reshape(*[len(a) for a in axes])
    weight = 1.0
    for a, (lo, hi) in enumerate(judged.grid_box):
        if a != axis:
            weight *= (hi - lo) / cross
    others = tuple(a for a in range(d) if a != axis)
    return axes[axis], f.sum(dim=others) * weight


def particle_marginal(x, axis: int, grid, h: float):
    """A 1D Gaussian KDE (bandwidth h) of coordinate `axis` of particles x (N, d) on `grid` (M,)."""
    from metrics import kde_on_axes
    return kde_on_axes(x[:, axis:axis + 1], [grid], h).reshape(-1)


def write_particle_figures(run_dir: Path, fig_dir: Path, records: list | None = None,
                           profile: str = "quick") -> list[Path]:
    """Per problem (lowest seed):

    * `<problem>_marginals.png`: the 1D marginal of every coordinate at every snapshot, a KDE of each solver's
      particles (bandwidth: the problem's KDE bandwidth) beside the exact or reference marginal (quadrature of
      its density over the other axes, `reference_marginal`);
    * `<problem>_density2d.png` (2D problems): the density at the last snapshot, the reference beside a KDE of
      each solver's particles on the evaluation grid, one colour scale;
    * `<problem>_density_slices.png`: slices f(x, 0[, 0]) only for solvers whose N h^d >= SLICE_MIN_COUNT
      (fewer particles near the slice make spikes, not a density), none if no solver qualifies;
    * particle snapshots (first two coordinates) and score scatter plots (s_1 against v_1, exact where known).
    """
    import numpy as np
    import torch

    import problems as problem_registry
    from metrics import kde_on_axes

    from harness.store import tables as store
    from harness.execute.evaluate import judged_problem
    records = store.load_records(run_dir) if records is None else records
    paths = []
    names = sorted({r.problem for r in records})
    for name in names:
        try:
            problem = problem_registry.get_problem(name)
        except ValueError:
            continue
        cells = _load_cells(run_dir, name, records)
        if not cells:
            continue
        times = list(next(iter(cells.values()))["times"])
        h, d = problem.kde_bandwidth, problem.dim
        try:
            judged, kind = judged_problem(problem, profile)
        except (NotImplementedError, ValueError, OSError):
            judged, kind = None, None
        ref_label = "exact" if kind == "exact" else f"{kind} reference"
        particles = {solver: [torch.from_numpy(arr[f"x{k}"].astype(np.float64)) for k in range(len(times))]
                     for solver, arr in cells.items()}
        # marginals
        fig, axes = plt.subplots(d, len(times), figsize=(3.6 * len(times), 2.6 * d), squeeze=False)
        for a in range(d):
            for k, t in enumerate(times):
                ax = axes[a, k]
                grid = None
                if judged is not None:
                    try:
                        grid, fm = reference_marginal(judged, float(t), a)
                        ax.plot(grid, fm, "k--", lw=1.5, label=ref_label)
                    except (NotImplementedError, ValueError):
                        grid = None
                if grid is None:
                    lo, hi = problem.grid_box[a]
                    grid = torch.linspace(lo, hi, MARGINAL_NODES, dtype=torch.float64)
                for i, (solver, xs_k) in enumerate(particles.items()):
                    ax.plot(grid, particle_marginal(xs_k[k], a, grid, h), color=f"C{i}", lw=1, label=solver)
                ax.set_title(f"{name}: marginal of v_{a + 1}, t={t:g}", fontsize=8)
        axes[0, 0].legend(fontsize=6)
        paths.append(_save(fig, fig_dir / f"{name}_marginals.png", dpi=90))
        # 2D density panels at the last snapshot
        if d == 2:
            pts, grid_axes = problem.eval_grid()
            panels = []
            if judged is not None:
                try:
                    panels.append((ref_label, judged.density(pts, float(times[-1])).reshape(len(grid_axes[0]), -1)))
                except (NotImplementedError, ValueError):
                    pass
            panels += [(solver, kde_on_axes(xs_k[-1], grid_axes, h)) for solver, xs_k in particles.items()]
            vmax = max(float(p.max()) for _, p in panels)
            fig, axes = plt.subplots(1, len(panels), figsize=(3.0 * len(panels), 3.0), squeeze=False)
            (x0, x1), (y0, y1) = problem.grid_box
            for ax, (label, panel) in zip(axes[0], panels):
                ax.imshow(panel.T.numpy(), origin="lower", extent=(x0, x1, y0, y1), vmin=0, vmax=vmax, cmap="viridis")
                ax.set_title(f"{label}, t={times[-1]:g}", fontsize=8)
                ax.set_xticks([])
                ax.set_yticks([])
            paths.append(_save(fig, fig_dir / f"{name}_density2d.png", dpi=90))
        # slices, only where they carry information
        sliced = {s: xs_k for s, xs_k in particles.items() if xs_k[0].shape[0] * h ** d >= SLICE_MIN_COUNT}
        if sliced:
            lo, hi = problem.grid_box[0]
            xs = torch.linspace(lo, hi, 200, dtype=torch.float64)
            line = torch.zeros(200, d, dtype=torch.float64)
            line[:, 0] = xs
            fig, axes = plt.subplots(1, len(times), figsize=(4 * len(times), 3.2), squeeze=False)
            for k, t in enumerate(times):
                ax = axes[0, k]
                for i, (solver, xs_k) in enumerate(sliced.items()):
                    axes_1d = [xs] + [torch.zeros(1, dtype=torch.float64)] * (d - 1)
                    ax.plot(xs, kde_on_axes(xs_k[k], axes_1d, h).reshape(-1), color=f"C{i}", label=solver)
                if judged is not None:
                    try:
                        ax.plot(xs, judged.density(line, float(t)), "k--", label=ref_label)
                    except (NotImplementedError, ValueError):
                        pass
                ax.set_title(f"{name}: f(x, 0{', 0' if d == 3 else ''}) at t={t:g}", fontsize=9)
                ax.set_xlabel("v_1")
            axes[0, 0].legend(fontsize=7)
            paths.append(_save(fig, fig_dir / f"{name}_density_slices.png", dpi=100))
        # particle snapshots and score scatter
        for kind_ in ("particles", "scores"):
            fig, axes = plt.subplots(1, len(times), figsize=(4 * len(times), 3.5), squeeze=False)
            for k, t in enumerate(times):
                ax = axes[0, k]
                for i, (solver, arr) in enumerate(cells.items()):
                    x = arr[f"x{k}"][:2000]
                    if kind_ == "particles":
                        ax.scatter(x[:, 0], x[:, 1], s=2, alpha=0.4, color=f"C{i}", label=solver)
                    elif f"s{k}" in arr:
                        ax.scatter(x[:, 0], arr[f"s{k}"][:2000, 0], s=2, alpha=0.4, color=f"C{i}", label=solver)
                if kind_ == "scores" and problem.has_exact_solution:
                    x = torch.from_numpy(next(iter(cells.values()))[f"x{k}"][:2000].astype(np.float64))
                    ax.scatter(x[:, 0], problem.score(x, float(t))[:, 0], s=2, color="k", label="exact")
                ax.set_title(f"{name}: {kind_} at t={t:g}", fontsize=9)
                ax.set_xlabel("v_1")
                ax.set_ylabel("v_2" if kind_ == "particles" else "s_1")
            axes[0, 0].legend(fontsize=7, markerscale=4)
            paths.append(_save(fig, fig_dir / f"{name}_{kind_}.png", dpi=100))
    return paths


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
        paths.append(_save(fig, fig_dir / f"{problem}_training.png"))
    return paths


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
        paths.append(_save(fig, path))
    return paths
