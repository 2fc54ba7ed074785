"""The verdict at a glance: which method is more accurate, at what cost, on which problem (top of summary.md),
saying only what its evidence supports (issue 40).

One table, rows = problems, columns = solvers: W1 at the last snapshot over its Monte Carlo floor (the mean W1 of
R pairs of exact or reference samples of the same n: metrics.floor_distribution), the mean over the K seeds with
its t interval, and the cell's solve seconds (training + stepping, evaluation excluded). A column gives the floor
band (what exact samples read, for a mean over K seeds); ✓ marks a ratio inside it (*at the floor*), ↓ one below
it. **Bold** marks the best ratio and every solver that no test over seeds shows to be worse than it (paired t,
Holm-adjusted: harness.report.evidence); with one seed no test is possible and nothing is bold. A second table gives
the energy drift and, on Maxwell problems, the covariance error, with their intervals. Then one sentence per problem
from the same numbers and tests. The levels are declared in `harness.report.thresholds`.

A solver with several settings in the run (a grid or a sweep) is shown at its most expensive setting (the
most resolved rung), named in a footnote.
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

from metrics.specs import METRICS, LiveView

from harness.report.convergence import FLOORS
from harness.report.evidence import RowEvidence, best_set, comparable, rankings, row_evidence, t_interval
from harness.report.thresholds import AT_FLOOR, BAND_LEVEL, CI_LEVEL, COV_FLAG, ENERGY_FLAG, RANK_ALPHA, percent_over

W1_METRICS = LiveView(lambda: tuple(m for m in METRICS if METRICS[m].family == "w1"))


def w1_metric(df: pd.DataFrame) -> str | None:
    """The first metric of the W1 family (metrics.specs: family 'w1') with a row in `df`, or None."""
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


def verdict_frame(table: pd.DataFrame, timings: pd.DataFrame, floors: pd.DataFrame | None = None) -> pd.DataFrame:
    """Rows (problem, solver, setting, reference, t, k, n, ratio, lo, hi, band_lo, band_hi, place, one_draw, seeds,
    ratios, w1, floor, solve_s, energy_drift, energy_lo, energy_hi, cov_err, cov_lo, cov_hi): the numbers of the
    verdict tables at the last snapshot: W1's RowEvidence (harness.report.evidence) and the means over seeds with
    their t intervals. `floors`: the run's floor distributions (store.collect_floors; None: judged on one draw)."""
    if table.empty:
        return pd.DataFrame()
    table = table.assign(overrides=table.overrides.fillna(""))
    chosen = chosen_settings(table, timings)
    rows = []
    for (problem, solver), setting in chosen.items():
        df = table[(table.problem == problem) & (table.solver == solver) & (table.overrides == setting)]
        t_last = float(df.t.max())
        at = df[np.isclose(df.t, t_last)]
        w1 = w1_metric(at)
        ev = row_evidence(table, floors, problem, solver, setting, t_last, w1, FLOORS.get(w1)) if w1 else None
        kinds = sorted(set(at[at.metric == w1].reference.dropna()) - {""}) if w1 and "reference" in at else []
        solve = math.nan
        if not timings.empty and "solve_s" in timings.columns:
            tm = timings[(timings.problem == problem) & (timings.solver == solver)
                         & (timings.overrides.fillna("") == setting)]
            solve = float(tm.solve_s.mean()) if len(tm) else math.nan
        energy = t_interval(at[at.metric == "energy_drift"].value)
        cov = t_interval(at[at.metric == "cov_err"].value)
        seeds = sorted(at.seed.unique())
        rows.append({"problem": problem, "solver": solver, "setting": setting, "reference": ", ".join(kinds),
                     "metric": w1 or "",
                     "t": t_last, "k": ev.k if ev else len(seeds), "n": ev.n if ev else 0,
                     "ratio": ev.ratio if ev else math.nan, "lo": ev.lo if ev else math.nan,
                     "hi": ev.hi if ev else math.nan, "band_lo": ev.band_lo if ev else math.nan,
                     "band_hi": ev.band_hi if ev else math.nan, "place": ev.place if ev else "",
                     "one_draw": bool(ev.one_draw) if ev else False, "seeds": ev.seeds if ev else tuple(seeds),
                     "ratios": ev.ratios if ev else (),
                     "w1": float(np.mean(ev.values)) if ev else math.nan,
                     "floor": float(np.mean(ev.floors)) if ev else math.nan, "solve_s": solve,
                     "energy_drift": energy[0], "energy_lo": energy[1], "energy_hi": energy[2],
                     "cov_err": cov[0], "cov_lo": cov[1], "cov_hi": cov[2]})
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


def _evidence(f: pd.DataFrame) -> dict[str, RowEvidence]:
    """{solver: RowEvidence} rebuilt from one problem's verdict rows (for the tests: seeds and ratios)."""
    return {r.solver: RowEvidence(r.problem, r.solver, r.setting, r.t, r.metric, tuple(r.seeds), (), (), tuple(r.ratios),
                                  r.ratio, r.lo, r.hi, r.band_lo, r.band_hi, r.place, r.one_draw, r.n, math.nan)
            for r in f.itertuples(index=False) if math.isfinite(r.ratio)}


def _ratio_text(r) -> str:
    """'0.94 [0.85, 1.03]' (the interval where there are several seeds) or '0.94'."""
    text = f"{r.ratio:.2f}"
    return text + (f" [{r.lo:.2f}, {r.hi:.2f}]" if math.isfinite(r.lo) else "")


def _bands(f: pd.DataFrame) -> str:
    """The floor band(s) of one problem's rows: '0.91-1.09', or one per N where the solvers' N differ."""
    bands = {}
    for r in f.itertuples(index=False):
        if math.isfinite(r.band_lo):
            bands.setdefault((r.n, round(r.band_lo, 2), round(r.band_hi, 2)), None)
    if not bands:
        return f"one draw (✓: <= {AT_FLOOR:g})" if f.one_draw.any() else "-"
    ns = {n for n, _, _ in bands}
    return "; ".join(f"{lo:.2f}-{hi:.2f}" + (f" (N = {n:,})" if len(ns) > 1 else "") for n, lo, hi in sorted(bands))


def _k_line(frame: pd.DataFrame) -> str:
    ks = sorted({int(k) for k in frame.k if k})
    if not ks:
        return ""
    if ks == [1]:
        return ("One seed: the values carry no interval, and no test can rank two solvers, so none is marked best. "
                "Run with `--seeds 0,1,2,3,4` for intervals and tests.")
    return (f"K = {'-'.join(map(str, (ks[0], ks[-1]))) if len(ks) > 1 else ks[0]} seeds per cell: means with their "
            f"{CI_LEVEL:.0%} t interval over seeds.")


def verdict_lines(frame: pd.DataFrame, folds: pd.DataFrame | None = None,
                  monotone: pd.DataFrame | None = None) -> list[str]:
    """The verdict section: the W1/floor table with intervals and floor bands, the energy drift / covariance table,
    a sentence per problem, a sentence per flow map that folds (`fold_sentences`; `folds` from
    harness.report.folds.first_folds) and one per monotonicity violation (`monotone` from
    harness.report.monotone.monotone_violations), whose (problem, solver setting) carries MONOTONE_MARK in the table."""
    from harness.report.monotone import MONOTONE_MARK, marked, monotone_sentences
    folded = [f"- {sentence}" for sentence in fold_sentences(folds) + monotone_sentences(monotone)]
    rising = marked(monotone)
    if frame.empty:
        return ["## Verdict", ""] + folded + [""] if folded else []
    if frame.ratio.isna().all():
        return ["## Verdict", "", "No cell has a W1 row and its floor at the last snapshot (see the failed cells and "
                "the cells' warnings): there is nothing to rank.", ""] + folded + ([""] if folded else [])
    solvers = sorted(frame.solver.unique())
    out = ["## Verdict", "", _k_line(frame), "",
           f"W1 / Monte Carlo floor at the last snapshot (solve seconds). The floor is the mean W1 of independent pairs "
           f"of exact (reference) samples of the same N; the floor band is the central {BAND_LEVEL:.0%} of what exact "
           f"samples read for a mean over the row's seeds. ✓: the mean inside the band (at the floor: the measurement "
           f"cannot tell it from exact samples); ↓: below it. **Bold**: the smallest mean and every solver that no test "
           f"separates from it (paired t on log ratios over seeds, Holm-adjusted over the problem's pairs, p < "
           f"{RANK_ALPHA:g}); a solver with a wide interval can be bold because its seeds cannot separate it."
           + (f" {MONOTONE_MARK}: a quantity the theory moves one way only (entropy, 3D Fisher information) moved "
              f"the other way beyond its Monte Carlo noise in some seed (sentences below)." if rising else ""), "",
           "| problem (t, reference) | floor band | " + " | ".join(solvers) + " |", "|---" * (len(solvers) + 2) + "|"]
    notes = []
    for problem in _problem_order(frame):
        f = frame[frame.problem == problem]
        fi = f.set_index("solver")
        evidence = _evidence(f)
        bold = set(best_set(evidence, rankings(evidence)))
        ref = next((r for r in f.reference if r), "")
        cells = []
        for s in solvers:
            flag = f" {MONOTONE_MARK}" if s in fi.index and (problem, s, fi.setting[s]) in rising else ""
            if s not in fi.index or not math.isfinite(fi.ratio.get(s, math.nan)):
                cells.append("-" if s not in fi.index else f"n/a ({_seconds(fi.solve_s[s])}){flag}")
                continue
            r = fi.loc[s]
            mark = {"at": " ✓", "below": " ↓"}.get(r.place, "") + flag
            text = _ratio_text(r) + mark
            cells.append(f"{f'**{text}**' if s in bold else text} ({_seconds(r.solve_s)})")
            if r.setting:
                notes.append(f"{problem} / {s}: setting `{r.setting}`")
        out.append(f"| {problem} (t = {f.t.iloc[0]:g}, {ref or 'no reference'}) | {_bands(f)} | " + " | ".join(cells)
                   + " |")
    out.append("")
    if notes:
        out += ["Settings shown where a solver ran several: " + "; ".join(notes) + ".", ""]
    out += _drift_table(frame, solvers)
    out += [f"- {sentence}" for sentence in map(lambda p: problem_sentence(frame[frame.problem == p]),
                                                _problem_order(frame)) if sentence] + folded + [""]
    return out


def _interval_text(mean: float, lo: float, hi: float, percent: bool) -> str:
    if not math.isfinite(mean):
        return "-"
    fmt = (lambda x: f"{100 * x:+.2g}%") if percent else (lambda x: f"{x:.2g}")
    return fmt(mean) + (f" [{fmt(lo)}, {fmt(hi)}]" if math.isfinite(lo) else "")


def _drift_table(frame: pd.DataFrame, solvers: list[str]) -> list[str]:
    has_cov = frame.cov_err.notna().any()
    head = "relative energy drift (%)" + (" / covariance error (Maxwell problems)" if has_cov else "")
    out = [f"{head[0].upper() + head[1:]} at the last snapshot (mean [{CI_LEVEL:.0%} t interval] over seeds):", "",
           "| problem | " + " | ".join(solvers) + " |", "|---" * (len(solvers) + 1) + "|"]
    for problem in _problem_order(frame):
        f = frame[frame.problem == problem].set_index("solver")
        cells = []
        for s in solvers:
            if s not in f.index:
                cells.append("-")
                continue
            r = f.loc[s]
            text = _interval_text(r.energy_drift, r.energy_lo, r.energy_hi, True)
            if math.isfinite(r.cov_err):
                text += " / " + _interval_text(r.cov_err, r.cov_lo, r.cov_hi, False)
            cells.append(text)
        out.append(f"| {problem} | " + " | ".join(cells) + " |")
    return out + [""]


def _beyond(mean: float, lo: float, hi: float, level: float) -> bool:
    """|mean| beyond `level`, and with an interval, the whole interval beyond it on that side (a t test at 5%)."""
    if not math.isfinite(mean) or abs(mean) <= level:
        return False
    if not math.isfinite(lo):
        return True
    return lo > level if mean > 0 else hi < -level


def problem_sentence(f: pd.DataFrame) -> str:
    """One plain sentence for one problem's verdict rows, every judgement from a stated test: who is inside the floor
    band (at the floor) or below it, who is above it with the ratio and interval; which pairs a test over seeds
    ranks (paired t or Welch, Holm-adjusted p), and that the rest are indistinguishable at this N and K (with one
    seed: that no test can rank them); energy drifts beyond ENERGY_FLAG and covariance errors beyond COV_FLAG (the
    whole interval beyond, with several seeds)."""
    f = f[f.ratio.notna()].sort_values(["ratio", "solve_s"])
    if f.empty:
        return ""
    problem = f.problem.iloc[0]
    ks = sorted({int(k) for k in f.k})
    ns = sorted({int(n) for n in f.n if n})
    scope = (f"N = {', '.join(f'{n:,}' for n in ns)}, " if ns else "") + (
        f"{ks[0]} seed{'s' if ks[0] > 1 else ''}" if len(ks) == 1 else f"{ks[0]}-{ks[-1]} seeds")
    one_draw = bool(f.one_draw.any())
    band = "within " + percent_over(AT_FLOOR) + " of one floor draw" if one_draw else "inside its band"
    parts = []
    at = f[f.place == "at"]
    below = f[f.place == "below"]
    above = f[f.place == "above"]
    if len(at):
        parts.append(f"at the W1 floor ({band}): " + ", ".join(f"{r.solver} {_ratio_text(r)}" for r in at.itertuples()))
    if len(below):
        parts.append("below the band (closer to the reference than exact samples): "
                     + ", ".join(f"{r.solver} {_ratio_text(r)}" for r in below.itertuples()))
    if len(above):
        parts.append("above it: " + ", ".join(f"{r.solver} {_ratio_text(r)}" for r in above.itertuples()))
    evidence = _evidence(f)
    ranked = rankings(evidence)
    significant = [r for r in ranked if r.significant]
    names = sorted(evidence)
    pairs = [(a, b) for i, a in enumerate(names) for b in names[i + 1:]]
    apart = sum(1 for a, b in pairs if not comparable(evidence[a], evidence[b]))
    untested = len(pairs) - apart - len(ranked)
    if len(f) > 1:
        for better in sorted({r.better for r in significant}, key=lambda k: evidence[k].ratio):
            beaten = sorted((r for r in significant if r.better == better), key=lambda r: evidence[r.worse].ratio)
            tests = sorted({r.test for r in beaten})
            parts.append(f"{better} is more accurate than {', '.join(r.worse for r in beaten)} ({' / '.join(tests)} on "
                         f"log ratios, Holm p <= {max(r.p for r in beaten):.2g})")
        if len(significant) < len(ranked):
            rest = "the other tested pairs are" if significant else "all tested pairs are"
            parts.append(f"{rest} indistinguishable at {scope}")
        if untested and not ranked and not apart:
            parts.append("one seed: no test can rank them")
        elif untested:
            parts.append(f"{untested} pair{'s' if untested > 1 else ''} not tested (a side with one seed)")
        if apart:
            parts.append(f"{apart} pair{'s' if apart > 1 else ''} at different N or W1 variant: not compared")
    flags = [f"{r.solver} drifts {100 * r.energy_drift:+.2g}% in energy" for r in f.itertuples()
             if _beyond(r.energy_drift, r.energy_lo, r.energy_hi, ENERGY_FLAG)]
    flags += [f"{r.solver}'s covariance is off by {r.cov_err:.0%}" for r in f.itertuples()
              if _beyond(r.cov_err, r.cov_lo, r.cov_hi, COV_FLAG)]
    if flags:
        parts.append(", ".join(flags))
    return f"**{problem}** ({scope}): " + "; ".join(parts) + "."
