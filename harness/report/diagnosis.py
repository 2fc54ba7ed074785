"""The PINN-PM diagnosis as a report: `diagnosis_table` reads the last snapshot of each variant of a diagnosis run
(`harness.plan.diagnosis` plans it) from the long table, `verdict` turns it into one sentence (which of Theorem 1's
three error sources dominates, by measurement), `markdown` and `diagnosis_lines` write it for diagnosis.md and
summary.md. Thresholds: `harness.report.thresholds`.
"""
from __future__ import annotations

import math

import pandas as pd

from harness.plan.diagnosis import SOLVER, VARIANTS
from harness.report.thresholds import (AT_FLOOR as NEAR_FLOOR, ENERGY_FLAG, LARGE_DRIFT_ERROR, LARGE_RESIDUAL,
                                       REGION_MASS_FLAG)

#: table columns: (metric or ratio, heading)
COLUMNS = [("w1_over_floor", "W1/floor"), ("energy_drift", "energy drift"), ("cov_err", "cov err"), ("rfd", "RFD"),
           ("score_rel_err", "score err"), ("drift_rel_err", "drift err"),
           ("residual_to_signal", "resid/signal"), ("residual_to_exact", "resid/exact"),
           ("min_det_j", "min det J"), ("core_mass_over_floor", "core mass/floor"),
           ("hdr_mass_over_floor", "HDR mass/floor")]
#: the column read over every snapshot, not the last one: the smallest det J (and the first t where the map folds)
OVER_TIME = ("min_det_j",)
LEGEND = ("Last snapshot, seed 0, every variant at the same budget. W1/floor: W1 against exact (reference) samples "
          "over the W1 of exact samples of the same n. score err / drift err: relative L2 error of the learned score "
          "and of the particle drift built from it, at i.i.d. samples of the true f_t. resid/signal: L_phys over "
          "E|U_theta|^2 on held-out particles (1 = the flow ignores its drift); resid/exact: the same against the "
          "drift of the true score. min det J: the smallest det J of the flow map over the particles and snapshots, with "
          "the first t where it is <= 0 (the map folds: its densities are not reported). core mass/floor: the error of "
          "the mass in the ball |v - m| < core_radius (truncated2d's hole) over its Monte Carlo floor, last snapshot; "
          "HDR mass/floor: the error of the mass in the reference's highest-density region (half its mass: the modes, "
          "the bulk) over its floor, last snapshot. Bold: best W1/floor and smallest |energy drift|.")


def diagnosis_table(table: pd.DataFrame, problem: str, variant_labels: dict[str, str]) -> pd.DataFrame:
    """One row per variant present in `table` (the long table of a run) for `problem`, at its last snapshot:
    the COLUMNS (NaN where a metric does not apply). variant_labels: {overrides label: variant name}."""
    df = table[(table.problem == problem) & (table.solver == SOLVER)]
    if df.empty:
        return pd.DataFrame(columns=["variant", "t"] + [c for c, _ in COLUMNS])
    t_last = df.t.max()
    rows = []
    for label, name in variant_labels.items():
        d = df[(df.overrides == label) & (df.t == t_last)]
        if d.empty:
            continue
        vals = d.groupby("metric").value.mean().to_dict()
        row = {"variant": name, "t": float(t_last), "w1_over_floor": _ratio(vals, "w1", "w1_mc_floor"),
               "core_mass_over_floor": _ratio(vals, "core_mass_err", "core_mass_mc_floor"),
               "hdr_mass_over_floor": _ratio(vals, "hdr_mass_err", "hdr_mass_mc_floor")}
        row.update({c: vals.get(c, math.nan) for c, _ in COLUMNS if c not in row and c not in OVER_TIME})
        row.update(_over_time(df[df.overrides == label]))
        rows.append(row)
    order = {name: k for k, name in enumerate(VARIANTS)}
    return pd.DataFrame(rows).sort_values("variant", key=lambda s: s.map(order)).reset_index(drop=True)


def _ratio(vals: dict, metric: str, floor: str) -> float:
    value, below = vals.get(metric, math.nan), vals.get(floor, math.nan)
    return value / below if _finite(below) and below > 0 else math.nan


def _over_time(df: pd.DataFrame) -> dict:
    """{'min_det_j', 'fold_t'} of one variant's rows over every snapshot: the smallest det J and the first t where it
    is <= 0 (NaN if never). (A region mass is read at the last snapshot: its largest ratio over many snapshots would
    be a maximum of noise, about 2.8 floors over 20 snapshots of exact samples.)"""
    per_t = df.groupby(["t", "metric"]).value.mean().unstack("metric") if not df.empty else pd.DataFrame()
    out = {"min_det_j": math.nan, "fold_t": math.nan}
    if "min_det_j" in per_t:
        det = per_t["min_det_j"].dropna()
        if len(det):
            out["min_det_j"] = float(det.min())
            folded = det[det <= 0]
            out["fold_t"] = float(folded.index.min()) if len(folded) else math.nan
    return out


def dominant_cause(frame: pd.DataFrame) -> tuple[str, str]:
    """(cause, sentence) of the default variant's error, from the numbers, the first that holds of:
    'fold' (its flow map folds: min det J <= 0 at some snapshot), 'singular initial score' (the mass in the hole
    around the mean is off by more than REGION_MASS_FLAG times its floor: f0 vanishes there and its score is
    singular, and a smooth invertible map cannot move mass in), 'none' (W1 at its floor and energy kept),
    'score drift' (a variant that replaces only the score inside the drift, the exact score or the flow's own
    push-forward score, reaches the floor and keeps energy), 'undertrained' (the flow does not follow its own drift:
    resid/signal above LARGE_RESIDUAL), 'score error' (the learned drift off by more than LARGE_DRIFT_ERROR),
    'misplaced mass' (the highest-density region's mass off by more than REGION_MASS_FLAG floors), else
    'particle error'."""
    frame = frame.reindex(columns=list(dict.fromkeys(list(frame.columns) + ["variant", "t", "fold_t"]
                                                     + [c for c, _ in COLUMNS])))
    rows = {r.variant: r for r in frame.itertuples(index=False)}
    d = rows.get("default")
    if d is None:
        return "none run", "No default PINN-PM cell finished: no cause to name."
    if _finite(d.fold_t):
        return "fold", (f"Dominant cause: the flow map folds (min det J {d.min_det_j:.3g}, first <= 0 at t = "
                        f"{d.fold_t:g}): characteristics cross, so its densities, KDE and certificates are not a "
                        f"transport of f0.")
    if _finite(d.core_mass_over_floor) and d.core_mass_over_floor > REGION_MASS_FLAG:
        return "singular initial score", (
            f"Dominant cause: the singular initial score: the mass in the hole around the mean is off by "
            f"{d.core_mass_over_floor:.0f}x its floor; f0 vanishes there, its score's singular part is not in "
            f"initial_score, and a smooth invertible map cannot move mass into a region f0 leaves empty.")
    kept = lambda r: (_finite(r.w1_over_floor) and r.w1_over_floor <= NEAR_FLOOR and _finite(r.energy_drift)
                      and abs(r.energy_drift) <= ENERGY_FLAG)
    if kept(d):
        hdr = d.hdr_mass_over_floor
        return "none", ("Dominant cause: none at this N (W1 at its floor, energy kept)" + (
            f"; but the highest-density region's mass is off by {hdr:.1f}x its floor, which W1 does not see here."
            if _finite(hdr) and hdr > REGION_MASS_FLAG else "."))
    fixes = [name for name in ("drift_score=exact", "drift_score=flow") if name in rows and kept(rows[name])]
    if fixes:
        return "score drift", (f"Dominant cause: the learned score inside the drift ({' and '.join(fixes)} "
                               f"{'reaches' if len(fixes) == 1 else 'reach'} the floor and keep"
                               f"{'s' if len(fixes) == 1 else ''} energy with the same flow training).")
    if _finite(d.residual_to_signal) and d.residual_to_signal > LARGE_RESIDUAL:
        return "undertrained", (f"Dominant cause: undertrained: the flow does not follow its own drift (resid/signal "
                                f"{d.residual_to_signal:.2f}) and no variant here reaches the floor.")
    if _finite(d.drift_rel_err) and d.drift_rel_err > LARGE_DRIFT_ERROR:
        return "score error", f"Dominant cause: the learned score (its drift is off by {d.drift_rel_err:.0%})."
    if _finite(d.hdr_mass_over_floor) and d.hdr_mass_over_floor > REGION_MASS_FLAG:
        return "misplaced mass", (f"Dominant cause: misplaced mass: the highest-density region's mass is off by "
                                  f"{d.hdr_mass_over_floor:.0f}x its floor.")
    return "particle error", "Dominant cause: particle (Monte Carlo) error: no larger source is measured."


def verdict(frame: pd.DataFrame) -> str:
    """One sentence from a diagnosis table: where the default stands and which source dominates; and, where the
    table has the drift_score=flow row (no oracle: the flow's own push-forward score in the drift), one on it."""
    return _source_sentence(frame) + _flow_sentence(frame) + " " + dominant_cause(frame)[1]


def _flow_sentence(frame: pd.DataFrame) -> str:
    """' Without an oracle, ...' from the drift_score=flow row, or '' without one."""
    rows = {r.variant: r for r in frame.itertuples(index=False)}
    flow, d = rows.get("drift_score=flow"), rows.get("default")
    if flow is None or d is None or not _finite(flow.w1_over_floor):
        return ""
    fixed = flow.w1_over_floor <= NEAR_FLOOR and _finite(flow.energy_drift) and abs(flow.energy_drift) <= ENERGY_FLAG
    return (f" Without an oracle, the flow's own push-forward score in the drift (drift_score=flow) gives "
            f"{flow.w1_over_floor:.2f}x the floor and energy drift {flow.energy_drift:+.1%}"
            + (": the score network is what the default gets wrong." if fixed else "."))


def _source_sentence(frame: pd.DataFrame) -> str:
    """verdict's first sentence: where the default stands and which source dominates."""
    rows = {r.variant: r for r in frame.itertuples(index=False)}
    if "default" not in rows:
        return "No default PINN-PM cell finished: nothing to diagnose."
    d = rows["default"]
    head = (f"At t = {d.t:g} the default is {d.w1_over_floor:.2f}x its W1 floor"
            + (" (at the floor: W1 cannot see its error)" if d.w1_over_floor <= NEAR_FLOOR else "")
            + f" with energy drift {d.energy_drift:+.1%}")
    if d.w1_over_floor <= NEAR_FLOOR and _finite(d.energy_drift) and abs(d.energy_drift) <= ENERGY_FLAG:
        return (f"{head}: nothing to attribute at this N (W1 cannot tell it from exact samples and energy is kept"
                f" to {abs(d.energy_drift):.1%})" + (f"; resid/signal is {d.residual_to_signal:.2f}: the flow does not"
                                                    f" follow its drift, but what that leaves is below what W1 sees here."
                                                    if _finite(d.residual_to_signal) and
                                                    d.residual_to_signal > LARGE_RESIDUAL else "."))
    oracle = rows.get("drift_score=exact")
    w1f = lambda r: r.w1_over_floor
    resid = d.residual_to_signal
    if oracle is not None:
        if w1f(oracle) <= NEAR_FLOOR and abs(oracle.energy_drift) <= ENERGY_FLAG < abs(d.energy_drift):
            return (f"{head}; with the exact score in the drift the flow reaches {w1f(oracle):.2f}x its floor and keeps "
                    f"energy to {abs(oracle.energy_drift):.1%}: the learned score (its drift is off by "
                    f"{d.drift_rel_err:.0%} although the score is off by only {d.score_rel_err:.0%}) dominates the error.")
        if w1f(oracle) > NEAR_FLOOR and _finite(oracle.residual_to_exact) and oracle.residual_to_exact > LARGE_RESIDUAL:
            return (f"{head}; even with the exact score in the drift the flow does not follow the dynamics (residual "
                    f"{oracle.residual_to_exact:.0%} of the true drift, W1 {w1f(oracle):.2f}x its floor): at this budget "
                    f"the physics residual (the flow's training) dominates.")
        if w1f(oracle) <= NEAR_FLOOR:
            return (f"{head}; with the exact score in the drift W1 is at its floor ({w1f(oracle):.2f}x) but energy drifts "
                    f"{oracle.energy_drift:+.1%}: the score error dominates W1, the residual the energy.")
    if _finite(resid) and resid > LARGE_RESIDUAL:
        return (f"{head}; the physics residual is {resid:.0%} of E|U|^2 (the flow does not follow its own drift), so "
                f"the physics residual dominates" + (f" (the learned drift is also off by {d.drift_rel_err:.0%})."
                                                    if _finite(d.drift_rel_err) else "."))
    if _finite(d.drift_rel_err) and d.drift_rel_err > LARGE_DRIFT_ERROR:
        return (f"{head}; the flow follows its drift (residual {resid:.0%}) but the drift is off by "
                f"{d.drift_rel_err:.0%}: the learned score dominates.")
    return (f"{head}; the residual ({resid:.0%}) and the drift error are small: what remains is particle "
            f"(Monte Carlo) error.")


def _finite(x) -> bool:
    return isinstance(x, (int, float)) and math.isfinite(x)


def _fmt(x: float, column: str) -> str:
    if not _finite(x):
        return "-"
    if column == "energy_drift":
        return f"{x:+.2%}"
    return f"{x:.3g}"


def _cell(r, column: str) -> str:
    """A table cell: min det J with the t of the first fold, else _fmt."""
    text = _fmt(r[column], column)
    if column == "min_det_j" and _finite(r.get("fold_t")):
        return f"{text} (folds at t = {r['fold_t']:g})"
    return text


def markdown(frame: pd.DataFrame, problem: str) -> list[str]:
    """The diagnosis of one problem as markdown lines: a table (rows: variants) and the verdict; the best
    W1/floor and the smallest |energy drift| in bold."""
    if frame.empty:
        return []
    present = [(c, h) for c, h in COLUMNS if frame[c].notna().any()]
    lines = [f"### PINN-PM diagnosis: {problem} (t = {frame.t.iloc[0]:g})", "",
             "| variant | " + " | ".join(h for _, h in present) + " |", "|---" * (len(present) + 1) + "|"]
    best = {c: frame[c].abs().idxmin() for c in ("w1_over_floor", "energy_drift") if frame[c].notna().any()}
    for i, r in frame.iterrows():
        cells = []
        for c, _ in present:
            text = _cell(r, c)
            cells.append(f"**{text}**" if best.get(c) == i else text)
        lines.append(f"| {r.variant} | " + " | ".join(cells) + " |")
    return lines + ["", verdict(frame), ""]


def variant_labels_of(manifest: dict) -> dict[str, dict[str, str]]:
    """{problem: {overrides label: variant name}} stored in a diagnosis run's manifest (empty otherwise)."""
    stored = (manifest.get("config") or {}).get("diagnosis") or {}
    return {p: dict(v) for p, v in stored.items() if isinstance(v, dict)}


def diagnosis_lines(table: pd.DataFrame, manifest: dict) -> list[str]:
    """Markdown of every problem's diagnosis in a diagnosis run (empty for other runs); a variant whose flow map
    folds has its RFD hidden from the fold on (harness.report.folds: '-' in the table)."""
    from harness.report.folds import mask_folds
    out = []
    table = mask_folds(table) if variant_labels_of(manifest) else table
    for problem, labels in sorted(variant_labels_of(manifest).items()):
        out += markdown(diagnosis_table(table, problem, labels), problem)
    return out
