"""summary.md from the stored long table: the verdict first, then per problem a few small tables.

First the verdict (`harness.report.verdict`: W1/floor and cost per problem and solver, one sentence per problem)
and, for a diagnosis run, the PINN-PM diagnosis (`harness.report.diagnosis`). Then per problem:
* W1 and KDE L2 tables: rows = solver settings, columns = snapshot times, the floors as their own
  rows, the best value in bold; the KDE, marginal and 2D density figures embedded below;
* the other errors and drifts at the last snapshot, one column each;
* one cost table and one neural-training table for the run, the certificates at the last snapshot;
* for a sweep (a solver with several settings): the cheapest setting at its W1 floor (within
  `harness.report.thresholds.AT_FLOOR`),
  the fitted W1-vs-N slopes, and the work-precision figures.
Last, a short Provenance section (`harness.report.provenance`): commit and dirty flag, hardware, threads, BLAS, GPU,
environment, plugin hashes, and the cells' memory peaks and kernels.
No table is wider than 8 columns; the wide data stay in metrics.csv / metrics.parquet. Values are
means over seeds with their t interval [lo, hi] where there are several (harness.report.evidence); Monte Carlo
floors are the means of their floor distributions ± their standard error. Built only from files in the run
directory, so `report` reproduces it byte for byte.
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

from metrics.specs import METRICS, W1_SUB, LiveView, with_show

from harness.report.convergence import FLOORS, cheapest_within, rung_stats, slope_fits
from harness.report.a_posteriori import a_posteriori_section, is_a_posteriori
from harness.report.frontier import frontier_lines
from harness.report.folds import FOLDED, first_folds, fold_note, mask_certificates, mask_folds, validity_table
from harness.report.evidence import row_evidence, t_interval
from harness.report.provenance import provenance_lines
from harness.report.thresholds import AT_FLOOR, BAND_LEVEL, CI_LEVEL, percent_over

#: metric tables (one column per snapshot time), in order: metric -> its floor rows and whether lower |value| is
#: better (metrics.specs: show='per_time')
TABLES = LiveView(lambda: {m: (list(METRICS[m].floors), METRICS[m].better == "lower") for m in with_show("per_time")})
#: metrics shown at the last snapshot only, one column each, in one table per problem (show='last')
LAST_SNAPSHOT = LiveView(lambda: tuple(with_show("last")))
#: metrics kept out of the markdown (in metrics.csv / metrics.parquet and, where drawn, figures/)
PARQUET_ONLY = LiveView(lambda: tuple(with_show("parquet")))
FLOOR_NAMES = LiveView(lambda: {m: METRICS[m].label for m in with_show("floor")})
MAX_TIMES = 7  # 1 label column + at most 7 snapshot columns
#: the work-precision section of a sweep ranks settings by the first of these present (exact W1, else subsampled)
SWEEP_W1 = ("w1", W1_SUB)
#: without a W1, its work-precision and convergence figures are those of the first of these present
SWEEP_FALLBACK = ("cov_err", "moment4_err")
#: the density error whose work-precision figure a sweep section shows beside the W1 one
SWEEP_DENSITY = "kde_l2"
#: a floor with one value for every solver setting (the KDE's bias, n = inf): its row names no setting
SETTING_FREE_FLOOR = "kde_l2_bias_floor"
#: metrics whose name starts with this have their per-time figure embedded under their table (the KDE errors)
FIGURE_UNDER_TABLE = "kde"


def row_label(solver: str, overrides: str) -> str:
    """'sbp' or 'sbp [n=4000]'."""
    return solver if not overrides else f"{solver} [{overrides}]"


def _fmt(mean: float, lo: float = float("nan"), hi: float = float("nan")) -> str:
    """'0.1234' or, with an interval, '0.1234 [0.11, 0.14]'."""
    if not math.isfinite(mean):
        return "nan"
    s = f"{mean:.4g}"
    return s if not math.isfinite(lo) else f"{s} [{lo:.2g}, {hi:.2g}]"


def _stats(df: pd.DataFrame) -> pd.DataFrame:
    """mean, its t interval (lo, hi: harness.report.evidence.t_interval, NaN for one seed) and count over seeds per
    (solver, overrides, metric, t); 'folded': some seed's value there is hidden because its flow map folds
    (harness.report.folds.mask_folds)."""
    if "folded" not in df.columns:
        df = df.assign(folded=False)
    grouped = df.groupby(["solver", "overrides", "metric", "t"], sort=True)
    ci = grouped["value"].apply(lambda v: t_interval(list(v)))
    return pd.DataFrame({"mean": ci.map(lambda c: c[0]), "lo": ci.map(lambda c: c[1]), "hi": ci.map(lambda c: c[2]),
                         "count": grouped["value"].count(), "folded": grouped["folded"].any()}).reset_index()


def _stat_text(hit: pd.DataFrame, best: float | None) -> str:
    """'mean [lo, hi]' of one row of `_stats` (the interval where there are several seeds), bold when |mean| == best;
    'folded' where a seed's flow map folds there (its value hidden)."""
    if hit.empty:
        return ""
    if "folded" in hit.columns and bool(hit["folded"].iloc[0]):
        return FOLDED
    mean = float(hit["mean"].iloc[0])
    text = _fmt(mean, float(hit["lo"].iloc[0]), float(hit["hi"].iloc[0]))
    return f"**{text}**" if best is not None and abs(mean) == best else text


def _floor_text(g: pd.DataFrame, t: float, se: pd.Series | None) -> str:
    """A floor row's cell: the mean over seeds, '± se' where its floor distribution gives one."""
    if not (g.t == t).any():
        return ""
    text = _fmt(float(g[g.t == t]["mean"].iloc[0]))
    key = (g.solver.iloc[0], g.overrides.iloc[0], t)
    if se is not None and key in se.index and math.isfinite(se[key]):
        text += f" ± {se[key]:.1g}"
    return text


def metric_table(stats: pd.DataFrame, metric: str, floor_table: pd.DataFrame | None = None) -> list[str]:
    """Markdown lines of one metric's table: solver settings x times, floor rows (the Monte Carlo floor ± its
    standard error where `floors`, the run's floor distributions, has it), best in bold."""
    floors, lower_better = TABLES[metric]
    m = stats[stats.metric == metric]
    times = sorted(m.t.unique())[:MAX_TIMES]
    rows = m.groupby(["solver", "overrides"], sort=True)
    lines = ["| " + " | ".join(["solver"] + [f"t = {t:g}" for t in times]) + " |", "|---" * (len(times) + 1) + "|"]
    best = {}
    if lower_better:
        for t in times:
            at = m[m.t == t]
            if len(at) > 1:
                best[t] = at["mean"].abs().min()
    for (solver, overrides), g in rows:
        cells = [_stat_text(g[g.t == t], best.get(t)) for t in times]
        lines.append(f"| {row_label(solver, overrides)} | " + " | ".join(cells) + " |")
    se = None
    if floor_table is not None and not floor_table.empty:
        mine = floor_table[floor_table.metric == metric]
        se = mine.groupby(["solver", "overrides", "t"]).se.mean() if not mine.empty else None
    for floor in floors:
        f = stats[stats.metric == floor]
        if f.empty:
            continue
        groups: dict[tuple, list[str]] = {}
        for (solver, overrides), g in f.groupby(["solver", "overrides"], sort=True):
            vals = tuple(_floor_text(g, t, se if floor == floors[0] else None) for t in times)
            groups.setdefault(vals, []).append(row_label(solver, overrides))
        for vals, who in groups.items():
            name = FLOOR_NAMES.get(floor, floor)
            whose = "" if floor == SETTING_FREE_FLOOR else (" of " + ", ".join(who) if len(groups) > 1 else "")
            lines.append(f"| *{name}{whose}* | " + " | ".join(f"*{v}*" if v else "" for v in vals) + " |")
    return lines


def timing_lines(timings: pd.DataFrame) -> list[str]:
    """One table for the run: per problem and solver setting, solve seconds and the phases (8 columns)."""
    if timings.empty:
        return []
    phases = [c for c in ("training_s", "drift_s", "stepping_s", "inference_s", "evaluation_s")
              if c in timings.columns and timings[c].notna().any()]
    cols = (["solve_s"] if "solve_s" in timings.columns else []) + phases
    cols = cols[:6]
    agg = timings.assign(overrides=timings.overrides.fillna("")).groupby(
        ["problem", "solver", "overrides"], sort=True)[cols].mean().reset_index()
    lines = ["| problem | solver | " + " | ".join(c[:-2].replace("solve", "solve (total)") for c in cols) + " |",
             "|---" * (len(cols) + 2) + "|"]
    for _, r in agg.iterrows():
        lines.append(f"| {r.problem} | {row_label(r.solver, r.overrides)} | "
                     + " | ".join("" if pd.isna(r[c]) else f"{r[c]:.2f}" for c in cols) + " |")
    return lines


def last_snapshot_lines(stats: pd.DataFrame) -> list[str]:
    """One table of the LAST_SNAPSHOT metrics present (columns) per solver setting (rows) at the last
    snapshot; the best |value| of each column bold."""
    present = [m for m in LAST_SNAPSHOT if m in set(stats.metric)]
    if not present:
        return []
    t_last = float(stats.t.max())
    at = stats[np.isclose(stats.t, t_last) & stats.metric.isin(present)]
    out = [f"### Errors and drifts at t = {t_last:g}", "", "| solver | " + " | ".join(present) + " |",
           "|---" * (len(present) + 1) + "|"]
    best = {m: at[at.metric == m]["mean"].abs().min() for m in present if (at.metric == m).sum() > 1}
    for (solver, overrides), g in at.groupby(["solver", "overrides"], sort=True):
        cells = [_stat_text(g[g.metric == m], best.get(m)) for m in present]
        out.append(f"| {row_label(solver, overrides)} | " + " | ".join(cells) + " |")
    return out + [""]


TRAINING_COLUMNS = [("info_iterations", "iterations", "{:.0f}"), ("info_train_s", "training s", "{:.1f}"),
                    ("info_s_per_iter", "s / iteration", "{:.4f}"), ("info_loss_phys", "final L_phys", "{:.3g}"),
                    ("info_loss_ism", "final L_ISM", "{:.4g}"), ("info_query_1e5_s", "query 1e5 at T (s)", "{:.4f}")]


def training_lines(timings: pd.DataFrame) -> list[str]:
    """Neural training of the run, one table: per problem and setting its cost, final losses and one
    10^5-particle query at T (8 columns); the Cost table above has the steppers' time to T beside it."""
    if timings.empty or "info_train_s" not in timings.columns:
        return []
    trained = timings[timings.info_train_s.notna()]
    if trained.empty:
        return []
    cols = [c for c in TRAINING_COLUMNS if c[0] in trained.columns]
    out = ["One training serves pinn_pm_particle and pinn_pm_score (pinn_pm_sc trains its own, drift_score=flow); "
           "training s is the full training of the model used.", "",
           "| problem | solver | " + " | ".join(c[1] for c in cols) + " |", "|---" * (len(cols) + 2) + "|"]
    agg = trained.assign(overrides=trained.overrides.fillna("")).groupby(
        ["problem", "solver", "overrides"], sort=True)[[c[0] for c in cols]].mean().reset_index()
    for _, r in agg.iterrows():
        cells = ["" if pd.isna(r[c]) else fmt.format(r[c]) for c, _, fmt in cols]
        out.append(f"| {r.problem} | {row_label(r.solver, r.overrides)} | " + " | ".join(cells) + " |")
    return out


def sweep_lines(table: pd.DataFrame, timings: pd.DataFrame, problem: str, figures: set[str],
                floors: pd.DataFrame | None = None) -> list[str]:
    """Work-precision section of a problem whose run has several settings of a solver; a setting is at its floor
    when its mean ratio is inside the floor band (harness.report.evidence; within AT_FLOOR of one floor draw for a
    run made before floor distributions)."""
    df = table[table.problem == problem]
    if df.groupby("solver").overrides.nunique().max() < 2:
        return []
    w1 = next((m for m in SWEEP_W1 if m in set(df.metric)), None)
    out = ["### Work-precision", ""]
    if w1 is not None:
        stats = rung_stats(table, timings, problem, w1)
        banded = floors is not None and not floors.empty
        if not stats.empty:
            t_last = float(df.t.max())
            evidence = [row_evidence(table, floors, problem, r.solver, r.overrides, t_last, w1, FLOORS.get(w1))
                        for r in stats.itertuples()]
            stats = stats.assign(at_floor=[e is not None and e.at_floor for e in evidence])
        best = cheapest_within(stats, AT_FLOOR)
        if not best.empty:
            where = (f"inside its floor band (the central {BAND_LEVEL:.0%} of exact samples' W1 over the floor)"
                     if banded else f"within {percent_over(AT_FLOOR)} of its one-draw Monte Carlo floor")
            out += [f"Cheapest setting of each solver whose {w1} at t = {df.t.max():g} is {where} (else the setting "
                    f"closest to it). Cost = solve seconds (training + stepping).", "",
                    f"| solver | setting | solve (s) | {w1} | floor | ratio |", "|---" * 6 + "|"]
            for _, r in best.iterrows():
                setting = (r.overrides or "(profile)") + ("" if r.reached else " (not reached)")
                out.append(f"| {r.solver} | {setting} | {r.solve_s:.1f} | {r.y:.4g} | {r.floor:.4g} | {r.ratio:.2f} |")
            out.append("")
        slopes = slope_fits(table, problem, w1)
        if not slopes.empty:
            out += [f"Fitted slope of log {w1} against log N at t = {df.t.max():g} (mean ± sd over seeds; the "
                    f"Monte Carlo rate is about -1/2):", "", "| solver | fixed | N | slope | seeds |", "|---" * 5 + "|"]
            for _, r in slopes.iterrows():
                sd = "" if math.isnan(r.slope_sd) else f" ± {r.slope_sd:.2f}"
                out.append(f"| {r.solver} | {r.group or '-'} | {r.n_min}..{r.n_max} | {r.slope:.3f}{sd} | {r.seeds} |")
            out.append("")
    shown = [w1] if w1 else [m for m in SWEEP_FALLBACK if m in set(df.metric)][:1]
    for name in [f"{problem}_wp_{m}.png" for m in shown + [SWEEP_DENSITY]] + [f"{problem}_convergence_{m}.png" for m in shown]:
        if name in figures:
            out += [f"![{name[:-4]}](figures/{name})", ""]
    out = out if len(out) > 2 else []
    return out + frontier_lines(table, timings, problem, figures)


def render_summary(table: pd.DataFrame, timings: pd.DataFrame, failures: pd.DataFrame, manifest: dict,
                   certs: pd.DataFrame | None = None, set_aside: list[str] | None = None,
                   figures: list[str] | None = None, floors: pd.DataFrame | None = None,
                   older: list[tuple[str, str]] | None = None, seed_w2: pd.DataFrame | None = None) -> str:
    """The whole summary.md text. `figures`: names of the files in RUN/figures (embedded where relevant); `floors`:
    the run's floor distributions (store.collect_floors; None or empty for a run made before them); `older`: (cell
    id, why) of the cells that ran with an older configuration than today's code plans (harness.plan.trust);
    `seed_w2`: the W2 between two seeds on Maxwell problems (harness.report.seed_w2.seed_w2_frame; None: none)."""
    cfg = manifest.get("config", {})
    figs = set(figures or [])
    per_cell = table.groupby(["problem", "solver", "overrides"]).seed.nunique() if not table.empty else pd.Series([0])
    k = int(per_cell.max())
    k_text = str(k) if per_cell.min() == k else f"{int(per_cell.min())}-{k}"
    has_floors = floors is not None and not floors.empty
    pairs = sorted({int(p) for p in floors.pairs}) if has_floors else []
    out = ["# landau-bench summary", "",
           f"profile `{cfg.get('profile')}`, device `{cfg.get('device')}`, seeds {cfg.get('seeds')} (K = {k_text} per "
           f"cell), "
           f"commit `{str(manifest.get('provenance', {}).get('git_commit', 'unknown'))[:12]}`"
           + (f", overrides `{' '.join(cfg['overrides'])}`" if cfg.get("overrides") else ""), "",
           (f"Values are means over each cell's seeds (K = {k_text}) with their {CI_LEVEL:.0%} Student t interval "
            f"[lo, hi]" if k > 1 else "One seed: values without intervals (`--seeds 0,1,2,3,4` gives intervals and "
            "tests)")
           + "; bold marks the smallest mean of each column (a mark, not a test: the verdict's sentences are the "
           "tested claims). Floors (italic rows): the *MC floor* is the error of the same "
           "number of exact i.i.d. samples"
           + (f" (the mean of {'/'.join(map(str, pairs))} independent draws ± its standard error; their central "
              f"{BAND_LEVEL:.0%} is the floor band the verdict tests against)" if has_floors else
              " (one draw per cell: a run made before floor distributions)")
           + ", the *bias floor* the KDE error with infinitely many. A number at its floor is as good as the "
           "measurement can tell (a deterministic method such as Blob can sit below the i.i.d. floor). Wide data: "
           "metrics.csv / metrics.parquet; floor draws: floors.csv.", ""]
    from harness.plan.missing import missing_line  # planned cells with no record: said before any table
    out += missing_line(manifest, timings, failures)
    from harness.report.diagnosis import LEGEND, diagnosis_lines
    from harness.report.verdict import verdict_frame, verdict_lines
    folds = first_folds(table)
    table = mask_folds(table, folds)  # density-based values of a folded flow map: hidden from its first fold on
    certs = mask_certificates(certs, folds)
    if not table.empty:
        from harness.report.monotone import monotone_violations
        from harness.report.seed_w2 import seed_w2_violations
        found = [f for f in (monotone_violations(table), seed_w2_violations(seed_w2)) if not f.empty]
        monotone = pd.concat(found, ignore_index=True) if found else None
        out += verdict_lines(verdict_frame(table, timings, floors), folds, monotone)
    diagnosis = diagnosis_lines(table, manifest, floors) if not table.empty else []
    if diagnosis:
        out += ["## PINN-PM diagnosis", "", LEGEND, ""] + diagnosis
    if not table.empty:
        out += ["Per problem below: W1 and KDE L2 at every snapshot with their floors, the other errors at the last "
                "snapshot (every snapshot, entropy dissipation and kinetic energy: metrics.parquet and figures/).", ""]
        for problem in sorted(table.problem.unique()):
            df = table[table.problem == problem]
            stats = _stats(df)
            out += [f"## {problem}", ""]
            for metric in TABLES:
                if metric not in set(stats.metric):
                    continue
                kinds = sorted(set(df[df.metric == metric].get("reference", pd.Series(dtype=str)).dropna()) - {""})
                against = f" (against the {'exact solution' if kinds == ['exact'] else ', '.join(kinds) + ' reference'})" \
                    if kinds and metric in FLOORS else ""
                out += [f"### {metric}{against}", ""] + metric_table(stats, metric, floors) + [""]
                if stats[stats.metric == metric].folded.any():
                    out += [fold_note(folds, problem), ""]
                if metric.startswith(FIGURE_UNDER_TABLE) and f"{problem}_{metric}.png" in figs:
                    out += [f"![{problem} {metric}](figures/{problem}_{metric}.png)", ""]
            validity = validity_table(df, problem, MAX_TIMES)
            if validity:
                out += ["### Flow map validity (min det J of v -> Phi(v, t) over the particles; fold fraction where it "
                        "folds)", ""] + validity + [""]
            for name in (f"{problem}_marginals.png", f"{problem}_density2d.png"):
                if name in figs:
                    out += [f"![{name[:-4]}](figures/{name})", ""]
            last = last_snapshot_lines(stats)
            out += last
            if last and stats[stats.metric.isin(list(LAST_SNAPSHOT)) & np.isclose(stats.t, stats.t.max())].folded.any():
                out += [fold_note(folds, problem), ""]
            out += sweep_lines(table, timings, problem, figs, floors)
    if not timings.empty:
        out += ["## Cost (solve seconds by phase, mean over seeds)", ""] + timing_lines(timings) + [""]
        train = training_lines(timings)
        if train:
            out += ["## Neural training", ""] + train + [""]
    out += certificate_section(certs)
    out += a_posteriori_section(certs)
    from harness.report.seed_w2 import seed_w2_section
    out += seed_w2_section(seed_w2)
    if not failures.empty:
        out += ["## Failed cells", ""]
        for _, r in failures.iterrows():
            out.append(f"- {row_label(r.solver, r.overrides)} / {r.problem} / seed {r.seed}: {r.error}")
        out.append("")
    if set_aside:
        out += ["## Damaged cell records set aside", "",
                "These records could not be read (truncated, not JSON, wrong shape, or another cell's); they were "
                "renamed and are not in the tables. `run --resume` runs their cells again.", ""]
        out += [f"- cells/{name}" for name in set_aside] + [""]
    if older:
        out += ["## Cells from an older configuration", "",
                f"{len(older)} cell(s) ran with a configuration today's code no longer plans; their numbers are in the "
                "tables as they ran (`run --resume` keeps them; delete a cell's record to run it again):", ""]
        out += [f"- {cell}: {why}" for cell, why in older] + [""]
    out += provenance_lines(manifest, timings)
    return "\n".join(out)


def _cert_cell(r) -> str:
    if bool(getattr(r, "folded", False)):
        return f"not reported ({FOLDED})"
    if r.certificate == "lemma2":
        return f"{r.bound:.3g} vs {r.observed:.3g} (±{r.mc_se:.1g}) {'ok' if r.holds else 'GAP'}"
    bound = f"1e{r.log10_bound:.0f}" if not math.isfinite(r.bound) or r.bound > 1e6 else f"{r.bound:.3g}"
    verdict = "holds" if r.holds else "VIOLATED"
    ratio = "" if not math.isfinite(r.ratio) else f", x{r.ratio:.3g}"
    return f"{bound} vs {r.observed:.3g} ({verdict}{ratio})"


def certificate_section(certs: pd.DataFrame | None) -> list[str]:
    """Lines of the certificates section: per problem, at the last snapshot (lowest seed), one table with a row
    per certificate and a column per solver setting (at most 7), each cell 'bound vs observed (verdict, ratio)',
    Lemma 2 as 'ISM difference vs score error (± MC s.e.)'. Every time: certificates.csv."""
    if certs is None or certs.empty:
        return []
    if "on_snapshot" not in certs.columns:  # rows of a foreign or hand-edited record: no snapshot to show
        return []
    certs = certs[~certs.certificate.map(is_a_posteriori)]  # their own section (harness.report.a_posteriori)
    if certs.empty:
        return []
    snap = certs[certs.on_snapshot.map(lambda v: v == v and bool(v))]  # NaN (a row without it): not a snapshot
    if snap.empty:  # rows between snapshots only: certificates.csv holds them, there is no table to show
        return []
    snap = snap[snap.seed == snap.seed.min()]
    out = ["## Certificates (seed %d, last snapshot; bound vs observed; every time: certificates.csv)"
           % int(snap.seed.min()), "",
           "A bound of 1eK is 10^K (computed in log space). `thm2_*`: E(t), the mean squared distance to the "
           "exact characteristics; `thm4_score`: delta_2N^2; `thm5_w1`: W1 to f_t; `thm6_kde`: squared L2 "
           "KDE error; `lemma2`: L_ISM(s_theta) - L_ISM(s) vs delta_2^2 on exact samples.", ""]
    for problem, g in snap.groupby("problem"):
        t_last = float(g.t.max())
        g = g[np.isclose(g.t, t_last)]
        settings = sorted({(r.solver, r.overrides) for r in g.itertuples()})[:MAX_TIMES]
        out += [f"### {problem} (t = {t_last:g})", "",
                "| certificate | " + " | ".join(row_label(s, o) for s, o in settings) + " |",
                "|---" * (len(settings) + 1) + "|"]
        for cert, gc in g.groupby("certificate", sort=False):
            cells = []
            for solver, overrides in settings:
                hit = gc[(gc.solver == solver) & (gc.overrides == overrides)]
                cells.append("" if hit.empty else _cert_cell(hit.iloc[0]))
            out.append(f"| {cert} | " + " | ".join(cells) + " |")
        out.append("")
    return out
