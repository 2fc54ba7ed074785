"""Figures from the particle files a run stored (RUN/cells/<cell>.npz): marginals and density slices beside
the exact or reference density, 2D density panels, particle and score scatter plots; and the checks a particle
file passes before it is drawn (its size from the headers alone, then its shapes)."""
from __future__ import annotations

import math
import sys
from pathlib import Path

from harness.report.figures.common import plt, save_figure, setting_label
from harness.report.figures.marginals import MARGINAL_NODES, judged_if_cached, reference_marginal

#: numbers a particle file may hold before `report` refuses to decompress it (the paper profile's largest cell
#: writes about 2e6: N = 64,000 in 3D, particles and scores at 3 snapshots); a file of 2e8 zeros compresses to 1.5 MB
MAX_PARTICLE_FILE_ELEMENTS = 2**25
#: a density slice f(x, 0[, 0]) of N particles at bandwidth h is drawn only if N h^d >= this (about the number of
#: particles within one bandwidth of the slice's centre; 1,000 particles at h = 0.15 in 3D give 3: spikes)
SLICE_MIN_COUNT = 20


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


def load_cells(run_dir: Path, problem: str, records: list) -> dict:
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
                out[setting_label(solver, label(sorted(r.overrides.items())))] = arrays
            else:
                print(f"warning: particle file {path.name} does not fit {problem} (d = {dim}, {n_times} snapshots); "
                      f"skipped", file=sys.stderr)
        except FileNotFoundError:  # a cell that stored no particles: the figure goes without it
            continue
        except Exception as exc:  # a damaged particle file: the figure goes without it, and says so
            print(f"warning: particle file {path.name} is damaged ({type(exc).__name__}); skipped", file=sys.stderr)
            continue
    return out


_load_cells = load_cells  # the name tests and older callers use


def particle_marginal(x, axis: int, grid, h: float):
    """A 1D Gaussian KDE (bandwidth h) of coordinate `axis` of particles x (N, d) on `grid` (M,)."""
    from metrics import kde_on_axes
    return kde_on_axes(x[:, axis:axis + 1], [grid], h).reshape(-1)


def _marginals(name, problem, times, particles, judged, ref_label, fig_dir: Path) -> Path:
    """`<problem>_marginals.png`: every coordinate's marginal at every snapshot, particles beside the reference."""
    import torch
    h, d = problem.kde_bandwidth, problem.dim
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
    return save_figure(fig, fig_dir / f"{name}_marginals.png", dpi=90)


def _density2d(name, problem, times, particles, judged, ref_label, fig_dir: Path) -> Path:
    """`<problem>_density2d.png`: the density at the last snapshot, reference and each solver's KDE, one scale."""
    from metrics import kde_on_axes
    h = problem.kde_bandwidth
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
    return save_figure(fig, fig_dir / f"{name}_density2d.png", dpi=90)


def _slices(name, problem, times, sliced, judged, ref_label, fig_dir: Path) -> Path:
    """`<problem>_density_slices.png`: f(x, 0[, 0]) of the solvers in `sliced` beside the reference."""
    import torch

    from metrics import kde_on_axes
    h, d = problem.kde_bandwidth, problem.dim
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
    return save_figure(fig, fig_dir / f"{name}_density_slices.png", dpi=100)


def _scatters(name, problem, times, cells, fig_dir: Path) -> list[Path]:
    """`<problem>_particles.png` (first two coordinates) and `<problem>_scores.png` (s_1 against v_1, the exact
    score where known)."""
    import numpy as np
    import torch
    paths = []
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
        paths.append(save_figure(fig, fig_dir / f"{name}_{kind_}.png", dpi=100))
    return paths


def write_particle_figures(run_dir: Path, fig_dir: Path, records: list | None = None,
                           resolution: str | None = "fine") -> list[Path]:
    """Per problem (lowest seed):

    * `<problem>_marginals.png`: the 1D marginal of every coordinate at every snapshot, a KDE of each solver's
      particles (bandwidth: the problem's KDE bandwidth) beside the exact or reference marginal (quadrature of
      its density over the other axes, `reference_marginal`);
    * `<problem>_density2d.png` (2D problems): the density at the last snapshot, the reference beside a KDE of
      each solver's particles on the evaluation grid, one colour scale;
    * `<problem>_density_slices.png`: slices f(x, 0[, 0]) only for solvers whose N h^d >= SLICE_MIN_COUNT
      (fewer particles near the slice make spikes, not a density), none if no solver qualifies;
    * particle snapshots (first two coordinates) and score scatter plots (s_1 against v_1, exact where known).

    The reference (at `resolution`, the run's recorded profile's; None: none is drawn) is drawn only if it is cached
    (`judged_if_cached`): a report never builds one.
    """
    import numpy as np
    import torch

    import problems as problem_registry

    from harness.store import tables as store
    records = store.load_records(run_dir) if records is None else records
    paths = []
    for name in sorted({r.problem for r in records}):
        try:
            problem = problem_registry.get_problem(name)
        except ValueError:
            continue
        cells = load_cells(run_dir, name, records)
        if not cells:
            continue
        times = list(next(iter(cells.values()))["times"])
        h, d = problem.kde_bandwidth, problem.dim
        judged, kind = judged_if_cached(problem, resolution)
        ref_label = "exact" if kind == "exact" else f"{kind} reference"
        particles = {solver: [torch.from_numpy(arr[f"x{k}"].astype(np.float64)) for k in range(len(times))]
                     for solver, arr in cells.items()}
        paths.append(_marginals(name, problem, times, particles, judged, ref_label, fig_dir))
        if d == 2:
            paths.append(_density2d(name, problem, times, particles, judged, ref_label, fig_dir))
        sliced = {s: xs_k for s, xs_k in particles.items() if xs_k[0].shape[0] * h ** d >= SLICE_MIN_COUNT}
        if sliced:  # only where they carry information
            paths.append(_slices(name, problem, times, sliced, judged, ref_label, fig_dir))
        paths += _scatters(name, problem, times, cells, fig_dir)
    return paths
