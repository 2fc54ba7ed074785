"""The verdict at a glance: which method is more accurate, at what cost, on which problem (top of summary.md).

One table, rows = problems, columns = solvers: W1 at the last snapshot over its Monte Carlo floor (the W1 of
exact or reference samples of the same n; the reference kind beside the problem) and the cell's solve
seconds (training + stepping, evaluation excluded). Bold marks the best ratio of a row, a trailing ✓ a
ratio within FLOOR_TOLERANCE of 1 or below ("at its floor": the measurement cannot tell it from exact
samples). A second table gives the energy drift and, on Maxwell problems, the covariance error. Then one
sentence per problem. Ties are "on par" (within ON_PAR of each other). The thresholds (FLOOR_TOLERANCE, ON_PAR,
ENERGY_FLAG, COV_FLAG) are declared in `harness.report.thresholds`.

A solver with several settings in the run (a grid or a sweep) is shown at its most expensive setting (the
most resolved rung), named in a footnote; means over seeds.
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

from metrics.specs import METRICS, LiveView

from harness.report.convergence import FLOORS
from harness.report.thresholds import AT_FLOOR as FLOOR_TOLERANCE, COV_FLAG, ENERGY_FLAG, ON_PAR, percent_over

W1_METRICS = LiveView(lambda: tuple(m for m in METRICS if METRICS[m].family == "w1"))


def _w1_metric(df: pd.DataFrame) -> str | None:
    present = set(df.metric)
    return next((m for m in W1_METRICS if m in present), None)


def chosen_settings(table: pd.DataFrame, timings: pd.DataFrame) -> dict[tuple[str, str], str]:
    """{(problem, solver): overrides label} of the setting shown: the profile's ('') if present, else the one
    with the largest mean solve seconds."""
    out = {}
    for (problem, solver), g in table.groupby(["problem", "solver"], sort=True):
        labels = sorted(g.overrides.fillna("").unique())
        if "" in labels or timings.empty or "solve_s" not in timings.columns:
            out[problem, solver] = "" if "" in labels else labels[0]
            continue
        tm = timings[(timings.problem == problem) & (timings.solver == solver)]
        cost = tm.groupby(tm.overrides.fillna("")).solve_s.mean()
        out[problem, solver] = max(labels, key=lambda lab: cost.get(lab, -1.0))
    return out


def verdict_frame(table: pd.DataFrame, timings: pd.DataFrame) -> pd.DataFrame:
    """Rows (problem, solver, setting, reference, t, ratio, w1, floor, solve_s, energy_drift, cov_err): the
    numbers of the verdict tables (last snapshot, means over seeds)."""
    if table.empty:
        return pd.DataFrame()
    table = table.assign(overrides=table.overrides.fillna(""))
    chosen = chosen_settings(table, timings)
    rows = []
    for (problem, solver), setting in chosen.items():
        df = table[(table.problem == problem) & (table.solver == solver) & (table.overrides == setting)]
        t_last = float(df.t.max())
        at = df[np.isclose(df.t, t_last)]
        vals = at.groupby("metric").value.mean()
        w1 = _w1_metric(at)
        ratio = w1_value = floor = math.nan
        ref = ""
        if w1 is not None and FLOORS.get(w1) in vals.index:
            w1_value, floor = float(vals[w1]), float(vals[FLOORS[w1]])
            ratio = w1_value / floor if floor > 0 else math.nan
            kinds = sorted(set(at[at.metric == w1].reference.dropna()) - {""}) if "reference" in at else []
            ref = ", ".join(kinds)
        solve = math.nan
        if not timings.empty and "solve_s" in timings.columns:
            tm = timings[(timings.problem == problem) & (timings.solver == solver)
                         & (timings.overrides.fillna("") == setting)]
            solve = float(tm.solve_s.mean()) if len(tm) else math.nan
        rows.append({"problem": problem, "solver": solver, "setting": setting, "reference": ref, "t": t_last,
                     "ratio": ratio, "w1": w1_value, "floor": floor, "solve_s": solve,
                     "energy_drift": float(vals.get("energy_drift", math.nan)),
                     "cov_err": float(vals.get("cov_err", math.nan))})
    return pd.DataFrame(rows)


def _seconds(s: float) -> str:
    if not math.isfinite(s):
        return "-"
    return f"{s:.0f} s" if s >= 10 else f"{s:.1f} s"


def _problem_order(frame: pd.DataFrame) -> list[str]:
    return sorted(frame.problem.unique())


def fold_sentences(folds: pd.DataFrame | None) -> list[str]:
    """One sentence per (problem, solver setting) whose flow map folds (harness.report.folds.first_folds): 'S folds
    at t = T on P (min det J = D): its densities, KDE and certificates are not reported.'"""
    from harness.report.folds import fold_summary, row_label
    if folds is None or folds.empty:
        return []
    out = []
    for r in fold_summary(folds).itertuples(index=False):
        name = row_label(r.solver, r.overrides)
        seeds = "" if r.seeds_run <= 1 else f"; in seed{'s' if len(r.seeds) > 1 else ''} {', '.join(map(str, r.seeds))} " \
                                             f"of {r.seeds_run}"
        out.append(f"{name} folds at t = {r.t:g} on {r.problem} (min det J = {r.min_det_j:.3g}{seeds}): its densities, "
                   f"KDE and certificates are not reported.")
    return out


def verdict_lines(frame: pd.DataFrame, folds: pd.DataFrame | None = None) -> list[str]:
    """The verdict section: the W1/floor table, the energy drift / covariance table, a sentence per problem, and a
    sentence per flow map that folds (`fold_sentences`; `folds` from harness.report.folds.first_folds)."""
    folded = [f"- {sentence}" for sentence in fold_sentences(folds)]
    if frame.empty or frame.ratio.isna().all():
        return ["## Verdict", ""] + folded + [""] if folded else []
    solvers = sorted(frame.solver.unique())
    out = ["## Verdict", "",
           f"W1 / Monte Carlo floor at the last snapshot (solve seconds). **Bold**: best of the row; ✓: within "
           f"{percent_over(FLOOR_TOLERANCE)} of the floor or below it (exact samples of the same N would do no better).", "",
           "| problem (t, reference) | " + " | ".join(solvers) + " |", "|---" * (len(solvers) + 1) + "|"]
    notes = []
    for problem in _problem_order(frame):
        f = frame[frame.problem == problem].set_index("solver")
        best = f.ratio.min() if f.ratio.notna().any() else math.nan
        ref = next((r for r in f.reference if r), "")
        cells = []
        for s in solvers:
            if s not in f.index or not math.isfinite(f.ratio.get(s, math.nan)):
                cells.append("-" if s not in f.index else f"n/a ({_seconds(f.solve_s[s])})")
                continue
            r = f.loc[s]
            text = f"{r.ratio:.2f}" + (" ✓" if r.ratio <= FLOOR_TOLERANCE else "")
            text = f"**{text}**" if r.ratio == best else text
            cells.append(f"{text} ({_seconds(r.solve_s)})")
            if r.setting:
                notes.append(f"{problem} / {s}: setting `{r.setting}`")
        out.append(f"| {problem} (t = {f.t.iloc[0]:g}, {ref or 'no reference'}) | " + " | ".join(cells) + " |")
    out.append("")
    if notes:
        out += ["Settings shown where a solver ran several: " + "; ".join(notes) + ".", ""]
    out += _drift_table(frame, solvers)
    out += [f"- {sentence}" for sentence in map(lambda p: problem_sentence(frame[frame.problem == p]),
                                                _problem_order(frame)) if sentence] + folded + [""]
    return out


def _drift_table(frame: pd.DataFrame, solvers: list[str]) -> list[str]:
    has_cov = frame.cov_err.notna().any()
    head = "relative energy drift (%)" + (" / covariance error (Maxwell problems)" if has_cov else "")
    out = [f"{head[0].upper() + head[1:]} at the last snapshot:", "",
           "| problem | " + " | ".join(solvers) + " |", "|---" * (len(solvers) + 1) + "|"]
    for problem in _problem_order(frame):
        f = frame[frame.problem == problem].set_index("solver")
        cells = []
        for s in solvers:
            if s not in f.index:
                cells.append("-")
                continue
            e, c = f.energy_drift[s], f.cov_err[s]
            text = f"{100 * e:+.2g}%" if math.isfinite(e) else "-"
            if math.isfinite(c):
                text += f" / {c:.2g}"
            cells.append(text)
        out.append(f"| {problem} | " + " | ".join(cells) + " |")
    return out + [""]


def problem_sentence(f: pd.DataFrame) -> str:
    """One plain sentence for one problem's verdict rows: who is at the floor (W1 cannot rank them further), else
    who is most accurate and who is on par (within ON_PAR); who is above the floor by how much; the cheapest solver
    at the floor; energy drifts beyond ENERGY_FLAG and covariance errors beyond COV_FLAG by name."""
    f = f[f.ratio.notna()].sort_values(["ratio", "solve_s"])
    if f.empty:
        return ""
    problem = f.problem.iloc[0]
    at_floor = f[f.ratio <= FLOOR_TOLERANCE]
    above = f[f.ratio > FLOOR_TOLERANCE]
    parts = []
    if len(at_floor) == 1:
        parts.append(f"only {at_floor.solver.iloc[0]} is at its W1 floor ({at_floor.ratio.iloc[0]:.2f})")
    elif len(at_floor):
        names = ", ".join(f"{r.solver} {r.ratio:.2f}" for r in at_floor.itertuples())
        parts.append(f"at the W1 floor (this N cannot rank them): {names}")
        cheapest = at_floor.sort_values("solve_s").iloc[0]
        if len(at_floor) > 1 and math.isfinite(cheapest.solve_s):
            parts.append(f"{cheapest.solver} is the cheapest of them ({_seconds(cheapest.solve_s)})")
    else:
        best = f.iloc[0]
        par = f[(f.ratio <= best.ratio * ON_PAR) & (f.solver != best.solver)]
        text = f"{best.solver} is most accurate ({best.ratio:.2f}x its floor)"
        if len(par):
            text += f", {', '.join(par.solver)} on par (within {percent_over(ON_PAR)})"
        parts.append(text)
        above = above[~above.solver.isin([best.solver, *par.solver])]
    if len(above):
        parts.append("above it: " + ", ".join(f"{r.solver} {r.ratio:.2f}x" for r in above.itertuples()))
    flags = [f"{r.solver} drifts {r.energy_drift:+.1%} in energy" for r in f.itertuples()
             if math.isfinite(r.energy_drift) and abs(r.energy_drift) > ENERGY_FLAG]
    flags += [f"{r.solver}'s covariance is off by {r.cov_err:.0%}" for r in f.itertuples()
              if math.isfinite(r.cov_err) and r.cov_err > COV_FLAG]
    if flags:
        parts.append(", ".join(flags))
    return f"**{problem}**: " + "; ".join(parts) + "."
