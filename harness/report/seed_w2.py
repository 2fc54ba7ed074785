"""W2 between two seeds of one solver setting on a Maxwell problem (issue 43, item 3): read the two lowest seeds'
snapshot particles (RUN/cells/<cell>.npz), compute metrics.seed_w2 at every snapshot, and flag a step whose debiased
W2^2 between the runs' laws rises by more than MONOTONE_Z paired standard errors (metrics.monotone.violations): the
verdict marks that cell like the other monotonicity violations (harness.report.monotone)."""
from __future__ import annotations

import zipfile

import numpy as np
import pandas as pd

from metrics.monotone import violations
from metrics.seed_w2 import seed_w2_series
from problems import get_problem

from harness.store import tables as store
from harness.report.folds import row_label
from harness.report.monotone import COLUMNS
from harness.report.thresholds import MONOTONE_Z

#: the quantity's name in the violations frame and the sentence
QUANTITY = "w2sq_between_seeds"
FRAME_COLUMNS = ["problem", "solver", "overrides", "seed_a", "seed_b", "t", "w2", "d2", "se", "step_se", "n", "batches"]


def _maxwell(problem: str) -> bool:
    try:
        return get_problem(problem).gamma == 0
    except Exception:  # a problem this code no longer knows: not checked
        return False


def _clouds(run_dir, rec):
    """(times, [(N, d) arrays]) of a cell's particle file, or None where it is missing, damaged or larger than the
    figures read (harness.report.figures.particles.MAX_PARTICLE_FILE_ELEMENTS: the figures warn about it)."""
    from harness.report.figures.particles import MAX_PARTICLE_FILE_ELEMENTS, npz_elements
    path = store.particles_path(run_dir, rec.cell_id)
    try:
        if not path.exists() or npz_elements(path) > MAX_PARTICLE_FILE_ELEMENTS:
            return None
        with np.load(path) as z:
            return list(z["times"]), [z[f"x{k}"] for k in range(len(z["times"]))]
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):  # damaged: no check for this cell
        return None


def seed_w2_frame(run_dir, records) -> pd.DataFrame:
    """One row per snapshot (FRAME_COLUMNS) for every (gamma = 0 problem, solver, overrides) with ok records of at least
    two seeds whose particle files exist and share their snapshot times: the two lowest such seeds' metrics.seed_w2."""
    groups: dict = {}
    for rec in records:
        if rec.ok and _maxwell(rec.problem):
            k = rec.key
            groups.setdefault((k["problem"], k["solver"], k["overrides"]), []).append(rec)
    rows = []
    for (problem, solver, overrides), recs in sorted(groups.items()):
        loaded = [(rec.seed, c) for rec in sorted(recs, key=lambda r: r.seed) if (c := _clouds(run_dir, rec))]
        if len(loaded) < 2 or loaded[0][1][0] != loaded[1][1][0]:
            continue
        (sa, (times, a)), (sb, (_, b)) = loaded[:2]
        for s in seed_w2_series(times, a, b):
            rows.append({"problem": problem, "solver": solver, "overrides": overrides, "seed_a": sa, "seed_b": sb,
                         "t": s.t, "w2": s.w2, "d2": s.d2, "se": s.se, "step_se": s.step_se, "n": s.n,
                         "batches": s.batches})
    return pd.DataFrame(rows, columns=FRAME_COLUMNS)


def seed_w2_violations(frame: pd.DataFrame | None, z: float = MONOTONE_Z) -> pd.DataFrame:
    """The steps of `frame` (seed_w2_frame) where d2 rises by more than z step_se, as rows of the monotonicity
    violations (harness.report.monotone.COLUMNS; quantity QUANTITY, seed = seed_b)."""
    out = []
    if frame is not None and not frame.empty:
        for (problem, solver, overrides, sb), g in frame.groupby(["problem", "solver", "overrides", "seed_b"]):
            for v in violations(list(g.t), list(g.d2), list(g.se), z, "increases", list(g.step_se)):
                out.append({"problem": problem, "solver": solver, "overrides": overrides, "seed": int(sb),
                            "quantity": QUANTITY, "never": "increases", "t0": v.t0, "t1": v.t1, "v0": v.v0,
                            "v1": v.v1, "change": v.change, "allowed": v.allowed})
    return pd.DataFrame(out, columns=COLUMNS)


def seed_w2_section(frame: pd.DataFrame | None) -> list[str]:
    """Lines of summary.md's section (empty without rows): per problem and setting, at every snapshot
    'W2 between the clouds; d2 ± se' (d2 the debiased W2^2 between the runs' laws, metrics.seed_w2)."""
    if frame is None or frame.empty:
        return []
    out = ["## W2 between two seeds (Maxwell problems)", "",
           "W2 between two Maxwell-Landau solutions never increases, and two seeds start from the same f0: per snapshot "
           "the exact W2 between the two runs' clouds (it holds the sampling floor, which moves with f_t) and d2 ± s.e., "
           f"the batch-debiased W2^2 between the runs' laws (metrics.seed_w2); a rise of d2 by more than {MONOTONE_Z:g} "
           "paired step standard errors marks the cell in the verdict.", ""]
    for problem, g in frame.groupby("problem"):
        times = sorted(g.t.unique())
        out += [f"### {problem}", "", "| solver | seeds | " + " | ".join(f"t = {t:g}" for t in times) + " |",
                "|---|---" + "|---" * len(times) + "|"]
        for (solver, overrides), gc in g.groupby(["solver", "overrides"], sort=True):
            by_t = {float(r.t): f"{r.w2:.3g}; {r.d2:.2g} ± {r.se:.2g}" for r in gc.itertuples()}
            seeds = f"{int(gc.seed_a.iloc[0])}, {int(gc.seed_b.iloc[0])}"
            out.append(f"| {row_label(solver, overrides)} | {seeds} | "
                       + " | ".join(by_t.get(float(t), "") for t in times) + " |")
        out.append("")
    return out
