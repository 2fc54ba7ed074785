"""summary.md from the stored long table: per problem, solvers as rows, metric@t as columns.

Mean over seeds, with the standard deviation over seeds when there are several. Floors stand
right after the metric they belong to. Built only from files in the run directory, so
`report` reproduces it byte for byte.
"""
from __future__ import annotations

import math

import pandas as pd

from .evaluate import W1_MAX_EXACT

#: metrics shown, in order; each followed by its floors where present
SHOWN = ["w1", "w1_mc_floor", f"w1_sub{W1_MAX_EXACT}", f"w1_sub{W1_MAX_EXACT}_mc_floor", "kde_l2", "kde_l2_bias_floor",
         "kde_l2_mc_floor", "trajectory_error", "rfd", "cov_err", "moment4_err", "energy_drift",
         "momentum_drift", "entropy_dissipation"]


def _fmt(mean: float, std: float) -> str:
    if not math.isfinite(mean):
        return "nan"
    s = f"{mean:.4g}"
    return s if not math.isfinite(std) else f"{s} ± {std:.2g}"


def problem_table(df: pd.DataFrame) -> str:
    """Markdown table for one problem's rows."""
    g = df.groupby(["solver", "metric", "t"])["value"]
    stats = pd.DataFrame({"mean": g.mean(), "std": g.std(ddof=1), "count": g.count()}).reset_index()
    metrics_here = [m for m in SHOWN if m in set(stats.metric)]
    times = sorted(stats.t.unique())
    cols = [(m, t) for m in metrics_here for t in times if ((stats.metric == m) & (stats.t == t)).any()]
    header = "| solver | " + " | ".join(f"{m} @ t={t:g}" for m, t in cols) + " |"
    lines = [header, "|---" * (len(cols) + 1) + "|"]
    for solver in sorted(stats.solver.unique()):
        cells = []
        for m, t in cols:
            hit = stats[(stats.solver == solver) & (stats.metric == m) & (stats.t == t)]
            cells.append("" if hit.empty else _fmt(float(hit["mean"].iloc[0]),
                                                    float(hit["std"].iloc[0]) if hit["count"].iloc[0] > 1 else float("nan")))
        lines.append(f"| {solver} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


TRAINING_COLUMNS = [("info_iterations", "iterations", "{:.0f}"), ("info_train_s", "training s", "{:.1f}"),
                    ("info_s_per_iter", "s / iteration", "{:.4f}"), ("info_loss_phys", "final L_phys", "{:.3g}"),
                    ("info_loss_ism", "final L_ISM", "{:.4g}"), ("info_query_1e5_s", "query 1e5 at T (s)", "{:.4f}")]


def training_section(timings: pd.DataFrame) -> list[str]:
    """Lines of the neural-training table (solvers reporting info_train_s): cost, final losses, and
    the time of one 10^5-particle query at T beside SBP's wall time to reach T (its whole solve:
    initial fit, per-step training and stepping; evaluation excluded)."""
    if timings.empty or "info_train_s" not in timings.columns:
        return []
    trained = timings[timings.info_train_s.notna()]
    if trained.empty:
        return []
    sbp_rows = timings[timings.solver == "sbp"]
    sbp = (sbp_rows.total_s - sbp_rows.get("evaluation_s", 0)).groupby(sbp_rows.problem).mean() if len(sbp_rows) else {}
    cols = [c for c in TRAINING_COLUMNS if c[0] in trained.columns]
    out = ["## Neural training (mean over seeds; one training serves both PINN-PM variants)", "",
           "| problem | solver | " + " | ".join(c[1] for c in cols) + " | SBP wall to T (s) |",
           "|---" * (len(cols) + 3) + "|"]
    agg = trained.groupby(["problem", "solver"])[[c[0] for c in cols]].mean().reset_index()
    for _, r in agg.iterrows():
        cells = ["" if pd.isna(r[c]) else fmt.format(r[c]) for c, _, fmt in cols]
        ref = sbp.get(r.problem, float("nan")) if len(sbp) else float("nan")
        out.append(f"| {r.problem} | {r.solver} | " + " | ".join(cells) + f" | {'' if pd.isna(ref) else f'{ref:.2f}'} |")
    return out + [""]


def _cert_cell(r) -> str:
    if r.certificate == "lemma2":
        return f"{r.bound:.3g} vs {r.observed:.3g} (±{r.mc_se:.1g}) {'ok' if r.holds else 'GAP'}"
    bound = f"1e{r.log10_bound:.0f}" if not math.isfinite(r.bound) or r.bound > 1e6 else f"{r.bound:.3g}"
    verdict = "holds" if r.holds else "VIOLATED"
    ratio = "" if not math.isfinite(r.ratio) else f", x{r.ratio:.3g}"
    return f"{bound} vs {r.observed:.3g} ({verdict}{ratio})"


def certificate_section(certs: pd.DataFrame | None) -> list[str]:
    """Lines of the certificates section: per problem and solver, 'bound vs observed (verdict, ratio)' at
    each snapshot (lowest seed), Lemma 2 as 'ISM difference vs score error (± MC s.e.)'."""
    if certs is None or certs.empty:
        return []
    snap = certs[certs.on_snapshot.astype(bool)]
    snap = snap[snap.seed == snap.seed.min()]
    out = ["## Certificates (seed %d; bound vs observed; see certificates.csv)" % int(snap.seed.min()), "",
           "A bound of 1eK is 10^K (computed in log space). `thm2_*`: E(t), the mean squared distance to the "
           "exact characteristics; `thm4_score`: delta_2N^2; `thm5_w1`: W1 to f_t; `thm6_kde`: squared L2 "
           "KDE error; `lemma2`: L_ISM(s_theta) - L_ISM(s) vs delta_2^2 on exact samples.", ""]
    for (problem, solver), g in snap.groupby(["problem", "solver"]):
        times = sorted(g.t.unique())
        out += [f"### {problem} / {solver}", "", "| certificate | " + " | ".join(f"t={t:g}" for t in times) + " |",
                "|---" * (len(times) + 1) + "|"]
        for cert, gc in g.groupby("certificate", sort=False):
            cells = []
            for t in times:
                hit = gc[gc.t == t]
                cells.append("" if hit.empty else _cert_cell(hit.iloc[0]))
            out.append(f"| {cert} | " + " | ".join(cells) + " |")
        out.append("")
    return out


def render_summary(table: pd.DataFrame, timings: pd.DataFrame, failures: pd.DataFrame, manifest: dict,
                   certs: pd.DataFrame | None = None) -> str:
    """The whole summary.md text."""
    cfg = manifest.get("config", {})
    out = ["# landau-bench summary", "",
           f"profile `{cfg.get('profile')}`, device `{cfg.get('device')}`, seeds {cfg.get('seeds')}, "
           f"commit `{manifest.get('provenance', {}).get('git_commit', 'unknown')[:12]}`", "",
           "Values are means over seeds (± standard deviation over seeds where there are several). "
           "Floors: `w1_mc_floor` is W1 between two exact samples of the same n; `kde_l2_bias_floor` is "
           "the KDE error with infinitely many exact samples; `kde_l2_mc_floor` the KDE error of n exact "
           "samples. A number at its floor is as good as the measurement can tell.", ""]
    if not table.empty:
        for problem in sorted(table.problem.unique()):
            out += [f"## {problem}", "", problem_table(table[table.problem == problem]), ""]
    if not timings.empty:
        out += ["## Wall time (s, mean over seeds)", ""]
        tcols = [c for c in timings.columns if c.endswith("_s") and not c.startswith("info_")]
        agg = timings.groupby(["problem", "solver"])[tcols].mean().reset_index()
        out.append("| problem | solver | " + " | ".join(c[:-2] for c in tcols) + " |")
        out.append("|---" * (len(tcols) + 2) + "|")
        for _, r in agg.iterrows():
            out.append(f"| {r.problem} | {r.solver} | " + " | ".join("" if pd.isna(r[c]) else f"{r[c]:.2f}" for c in tcols) + " |")
        out.append("")
    out += training_section(timings)
    out += certificate_section(certs)
    if not failures.empty:
        out += ["## Failed cells", ""]
        for _, r in failures.iterrows():
            out.append(f"- {r.solver} / {r.problem} / seed {r.seed}: {r.error}")
        out.append("")
    return "\n".join(out)
