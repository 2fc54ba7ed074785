"""The PINN-PM diagnosis as a report: `diagnosis_table` reads the last snapshot of each variant of a diagnosis run
(`harness.plan.diagnosis` plans it) from the long table, over its seeds, with W1's evidence (interval, floor band:
harness.report.evidence); `diagnose` turns it into one `Diagnosis` (which of Theorem 1's three error sources
dominates, by measurement), and every sentence of it is rendered from that one value (`render`), so no two sentences
can name different causes (issue 40); `markdown` and `diagnosis_lines` write it for diagnosis.md and summary.md.
Levels: `harness.report.thresholds`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd

from harness.plan.diagnosis import COMPANIONS, SOLVER, VARIANTS, split_key
from harness.report.convergence import FLOORS
from harness.report.evidence import row_evidence
from harness.report.thresholds import (AT_FLOOR, ENERGY_FLAG, LARGE_DRIFT_ERROR, LARGE_RESIDUAL, REGION_MASS_FLAG)

#: table columns: (metric or ratio, heading)
COLUMNS = [("w1_over_floor", "W1/floor"), ("energy_drift", "energy drift"), ("cov_err", "cov err"), ("rfd", "RFD"),
           ("score_rel_err", "score err"), ("drift_rel_err", "drift err"),
           ("residual_to_signal", "resid/signal"), ("residual_to_exact", "resid/exact"),
           ("min_det_j", "min det J"), ("core_mass_over_floor", "core mass/floor"),
           ("hdr_mass_over_floor", "HDR mass/floor")]
#: the column read over every snapshot, not the last one: the smallest det J (and the first t where the map folds)
OVER_TIME = ("min_det_j",)
#: ratio column -> (metric, where its floor evidence goes): the floored metrics the diagnosis tests against their band
FLOORED = {"w1_over_floor": ("w1", "w1"), "core_mass_over_floor": ("core_mass_err", "core"),
           "hdr_mass_over_floor": ("hdr_mass_err", "hdr")}
LEGEND = ("Last snapshot, every variant at the same budget; means over the seeds (K in the table), W1/floor with its "
          "95% t interval where K > 1. W1/floor: W1 against exact (reference) samples over the floor (the mean W1 of "
          "independent pairs of exact samples of the same n); ✓ inside the floor band (what exact samples read for a "
          "mean over K seeds: at the floor). score err / drift err: relative L2 error of the learned score and of the "
          "particle drift built from it, at i.i.d. samples of the true f_t. resid/signal: L_phys over E|U_theta|^2 on "
          "held-out particles (1 = the flow ignores its drift); resid/exact: the same against the drift of the true "
          "score. min det J: the smallest det J of the flow map over the particles, snapshots and seeds, with the "
          "first t where it is <= 0 (the map folds: its densities are not reported). core mass/floor: the error of the "
          "mass in the ball |v - m| < core_radius (truncated2d's hole) over its floor, last snapshot; HDR mass/floor: "
          "the error of the mass in the reference's highest-density region (half its mass: the modes, the bulk) over "
          "its floor; ▲ above its floor band. Bold: best W1/floor and smallest |energy drift|.")


def _w1_metric(df: pd.DataFrame) -> str | None:
    from harness.report.verdict import w1_metric
    return w1_metric(df)


def diagnosis_table(table: pd.DataFrame, problem: str, variant_labels: dict[str, str],
                    floors: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per variant present in `table` (the long table of a run) for `problem`, at its last snapshot, means
    over its seeds: the COLUMNS (NaN where a metric does not apply), k (seeds), w1_lo / w1_hi (the t interval of
    W1/floor) and, for each floored ratio, its place against the floor band ('w1_place', 'core_place', 'hdr_place':
    'at', 'above', 'below', '' without a floor; harness.report.evidence, `floors` the run's floor distributions).
    W1 is found by family (w1, or w1_sub4000 above 4,000 points). variant_labels: {variant key (the overrides label,
    or '<solver>:<label>' for a companion: harness.plan.diagnosis.variant_key): variant name}."""
    keyed = {key: split_key(key) for key in variant_labels}
    wanted = {solver for solver, _ in keyed.values()}
    df_all = table[(table.problem == problem) & table.solver.isin(wanted)]
    if df_all[df_all.solver == SOLVER].empty:
        return pd.DataFrame(columns=["variant", "t", "k"] + [c for c, _ in COLUMNS])
    t_last = df_all[df_all.solver == SOLVER].t.max()
    rows = []
    for key, name in variant_labels.items():
        solver, label = keyed[key]
        df = df_all[df_all.solver == solver]
        d = df[(df.overrides == label) & (df.t == t_last)]
        if d.empty:
            continue
        vals = d.groupby("metric").value.mean().to_dict()
        row = {"variant": name, "t": float(t_last), "k": int(d.seed.nunique())}
        for column, (metric, short) in FLOORED.items():
            metric = _w1_metric(d) if short == "w1" else metric
            ev = row_evidence(df, floors, problem, solver, label, float(t_last), metric, FLOORS.get(metric) or
                              _floor_name(metric), AT_FLOOR if short == "w1" else REGION_MASS_FLAG
                              ) if metric in vals else None
            row[column] = ev.ratio if ev else math.nan
            row[f"{short}_place"] = ev.place if ev else ""
            row[f"{short}_band"] = (ev.band_lo, ev.band_hi) if ev else (math.nan, math.nan)
            if short == "w1":
                row["w1_lo"], row["w1_hi"] = (ev.lo, ev.hi) if ev else (math.nan, math.nan)
        row.update({c: vals.get(c, math.nan) for c, _ in COLUMNS if c not in row and c not in OVER_TIME})
        row.update(_over_time(df[df.overrides == label]))
        rows.append(row)
    order = {name: k for k, name in enumerate([*VARIANTS, *COMPANIONS])}
    return pd.DataFrame(rows).sort_values("variant", key=lambda s: s.map(order)).reset_index(drop=True)


def _floor_name(metric: str | None) -> str | None:
    from metrics.specs import mc_floor
    return mc_floor(metric) if metric else None


def _over_time(df: pd.DataFrame) -> dict:
    """{'min_det_j', 'fold_t'} of one variant's rows over every snapshot and seed: the smallest det J and the first t
    where it is <= 0 (NaN if never). (A region mass is read at the last snapshot: its largest ratio over many
    snapshots would be a maximum of noise, about 2.8 floors over 20 snapshots of exact samples.)"""
    per_t = df.groupby(["t", "metric"]).value.min().unstack("metric") if not df.empty else pd.DataFrame()
    out = {"min_det_j": math.nan, "fold_t": math.nan}
    if "min_det_j" in per_t:
        det = per_t["min_det_j"].dropna()
        if len(det):
            out["min_det_j"] = float(det.min())
            folded = det[det <= 0]
            out["fold_t"] = float(folded.index.min()) if len(folded) else math.nan
    return out


#: the causes `diagnose` can name, in the order it tests them, each with the phrase only its sentence uses (the
#: test of issue 40 asserts that a rendered diagnosis holds exactly the phrase of its cause)
CAUSES = {
    "fold": "the flow map folds",
    "singular initial score": "the singular initial score",
    "none": "nothing to attribute",
    "score drift": "the learned score inside the drift",
    "undertrained": "the flow does not follow its own drift",
    "score error": "the learned score's drift error",
    "misplaced mass": "misplaced mass",
    "particle error": "particle (Monte Carlo) error",
    "none run": "no default PINN-PM cell finished",
}


@dataclass(frozen=True)
class Diagnosis:
    """One problem's diagnosis, the only value its sentences are rendered from: cause (a key of CAUSES), the default
    row and the drift_score=flow row (dicts of the table's columns, or None), and fixes: the variants that reach the
    floor and keep energy where only the score inside the drift changed."""

    cause: str
    default: dict | None
    flow: dict | None
    fixes: tuple[str, ...] = ()


def _at_floor(r: dict, short: str, column: str, factor: float) -> bool:
    """Whether a floored ratio is at its floor: inside (or below) its band where the table has its place, else (a
    run with one floor draw) at most `factor`."""
    place = r.get(f"{short}_place")
    if isinstance(place, str) and place:
        return place in ("at", "below")
    return _finite(r.get(column)) and r[column] <= factor


def _above(r: dict, short: str, column: str, factor: float) -> bool:
    place = r.get(f"{short}_place")
    if isinstance(place, str) and place:
        return place == "above"
    return _finite(r.get(column)) and r[column] > factor


def _banded(r: dict, short: str) -> bool:
    """Whether the row's `short` ratio was judged against a floor band (else against one floor draw)."""
    band = r.get(f"{short}_band")
    return isinstance(band, tuple) and len(band) == 2 and _finite(band[0])


def _over_text(r: dict, short: str) -> str:
    """'above its band', or for a run with one floor draw 'over REGION_MASS_FLAG one-draw floors'."""
    return "above its band" if _banded(r, short) else f"over {REGION_MASS_FLAG:g} floors of one floor draw"


def _kept(r: dict) -> bool:
    """W1 at its floor and energy kept (|mean drift| <= ENERGY_FLAG)."""
    return (_at_floor(r, "w1", "w1_over_floor", AT_FLOOR) and _finite(r.get("energy_drift"))
            and abs(r["energy_drift"]) <= ENERGY_FLAG)


def diagnose(frame: pd.DataFrame) -> Diagnosis:
    """The Diagnosis of a diagnosis table: the first cause that holds of the default variant, in CAUSES' order:
    'fold' (its flow map folds: min det J <= 0 at some snapshot), 'singular initial score' (the mass in the hole around
    the mean above its floor band: f0 vanishes there and its score is singular, and a smooth invertible map cannot
    move mass in), 'none' (W1 at its floor and energy kept), 'score drift' (a variant that replaces only the score
    inside the drift, the exact score or the flow's own push-forward score, reaches the floor and keeps energy),
    'undertrained' (resid/signal above LARGE_RESIDUAL), 'score error' (the learned drift off by more than
    LARGE_DRIFT_ERROR), 'misplaced mass' (the highest-density region's mass above its floor band), else 'particle
    error'. Without floor bands (a run with one floor draw) the bands are AT_FLOOR and REGION_MASS_FLAG floors."""
    rows = {r["variant"]: r for r in frame.to_dict("records")}
    d, flow = rows.get("default"), rows.get("drift_score=flow")
    if d is None:
        return Diagnosis("none run", None, flow)
    if _finite(d.get("fold_t")):
        return Diagnosis("fold", d, flow)
    if _above(d, "core", "core_mass_over_floor", REGION_MASS_FLAG):
        return Diagnosis("singular initial score", d, flow)
    if _kept(d):
        return Diagnosis("none", d, flow)
    fixes = tuple(name for name in ("drift_score=exact", "drift_score=flow") if name in rows and _kept(rows[name]))
    if fixes:
        return Diagnosis("score drift", d, flow, fixes)
    if _finite(d.get("residual_to_signal")) and d["residual_to_signal"] > LARGE_RESIDUAL:
        return Diagnosis("undertrained", d, flow)
    if _finite(d.get("drift_rel_err")) and d["drift_rel_err"] > LARGE_DRIFT_ERROR:
        return Diagnosis("score error", d, flow)
    if _above(d, "hdr", "hdr_mass_over_floor", REGION_MASS_FLAG):
        return Diagnosis("misplaced mass", d, flow)
    return Diagnosis("particle error", d, flow)


def _w1_text(r: dict) -> str:
    """'1.35x its W1 floor' with the interval and the band where the table has them."""
    text = f"{r['w1_over_floor']:.2f}x its W1 floor" if _finite(r.get("w1_over_floor")) else "without a W1 floor"
    if _finite(r.get("w1_lo")):
        text += f" (95% interval {r['w1_lo']:.2f}-{r['w1_hi']:.2f} over {int(r.get('k', 0))} seeds)"
    if _banded(r, "w1"):
        band = r["w1_band"]
        text += (f", {'inside' if _at_floor(r, 'w1', 'w1_over_floor', AT_FLOOR) else 'outside'} its floor band "
                 f"{band[0]:.2f}-{band[1]:.2f}")
    elif _finite(r.get("w1_over_floor")) and isinstance(r.get("w1_place"), str) and r.get("w1_place"):
        text += " (against one floor draw)"
    return text


def _status(d: dict) -> str:
    """The first sentence: where the default stands, numbers only."""
    energy = f" with energy drift {d['energy_drift']:+.1%}" if _finite(d.get("energy_drift")) else ""
    return f"At t = {d['t']:g} the default is {_w1_text(d)}{energy}."


def _cause_sentence(diag: Diagnosis) -> str:
    """'Dominant cause: ...' with the numbers that decided it."""
    d = diag.default
    if diag.cause == "none run":
        return "Dominant cause: none to name: no default PINN-PM cell finished."
    head = f"Dominant cause: {CAUSES[diag.cause]}"
    if diag.cause == "fold":
        return (f"{head} (min det J {d['min_det_j']:.3g}, first <= 0 at t = {d['fold_t']:g}): characteristics cross, "
                f"so its densities, KDE and certificates are not a transport of f0.")
    if diag.cause == "singular initial score":
        return (f"{head}: the mass in the hole around the mean is off by {d['core_mass_over_floor']:.1f}x its floor "
                f"({_over_text(d, 'core')}); f0 vanishes there, its score's singular part is not in initial_score, and a smooth "
                f"invertible map cannot move mass into a region f0 leaves empty.")
    if diag.cause == "none":
        hdr = d.get("hdr_mass_over_floor")
        extra = (f"; but the highest-density region's mass is off by {hdr:.1f}x its floor ({_over_text(d, 'hdr')}), "
                 f"which W1 does not see here" if _above(d, "hdr", "hdr_mass_over_floor", REGION_MASS_FLAG) else "")
        resid = d.get("residual_to_signal")
        extra += (f"; resid/signal is {resid:.2f}, but what that leaves is below what W1 sees at this N"
                  if _finite(resid) and resid > LARGE_RESIDUAL else "")
        return f"{head} at this N (W1 at its floor, energy kept){extra}."
    if diag.cause == "score drift":
        n = len(diag.fixes)
        return (f"{head} ({' and '.join(diag.fixes)} {'reaches' if n == 1 else 'reach'} the floor and "
                f"keep{'s' if n == 1 else ''} energy with the same flow training).")
    if diag.cause == "undertrained":
        return (f"{head} (resid/signal {d['residual_to_signal']:.2f}: undertrained) and no variant that changes only "
                f"the score in the drift reaches the floor while keeping energy.")
    if diag.cause == "score error":
        return f"{head}: the drift built from the learned score is off by {d['drift_rel_err']:.0%}."
    if diag.cause == "misplaced mass":
        return (f"{head}: the highest-density region's mass is off by {d['hdr_mass_over_floor']:.1f}x its floor "
                f"({_over_text(d, 'hdr')}).")
    return f"{head}: no larger source is measured."


def _flow_sentence(diag: Diagnosis) -> str:
    """The drift_score=flow row's numbers (no oracle: the flow's own push-forward score in the drift), numbers only."""
    f = diag.flow
    if f is None or diag.default is None or not _finite(f.get("w1_over_floor")):
        return ""
    energy = f" and energy drift {f['energy_drift']:+.1%}" if _finite(f.get("energy_drift")) else ""
    return f"Without an oracle, the flow's own push-forward score in the drift (drift_score=flow) gives {_w1_text(f)}" \
           f"{energy}."


def _companion_sentences(frame: pd.DataFrame) -> str:
    """One sentence per companion row (harness.plan.diagnosis.COMPANIONS) present, numbers only: W1/floor with its
    interval and band, energy drift, and min det J (positive by construction for neural_flow)."""
    out = []
    for r in frame.to_dict("records"):
        if r.get("variant") not in COMPANIONS:
            continue
        energy = f", energy drift {r['energy_drift']:+.1%}" if _finite(r.get("energy_drift")) else ""
        det = f", min det J {r['min_det_j']:.3g}" if _finite(r.get("min_det_j")) else ""
        out.append(f"Beside it, {r['variant']} (its own profile config) gives {_w1_text(r)}{energy}{det}.")
    return " ".join(out)


def render(diag: Diagnosis, frame: pd.DataFrame | None = None) -> str:
    """Every sentence of a diagnosis, from the one value: where the default stands, the drift_score=flow numbers,
    the dominant cause, and (given the table) the companions' numbers."""
    if diag.default is None:
        return _cause_sentence(diag)
    companions = _companion_sentences(frame) if frame is not None else ""
    return " ".join(s for s in (_status(diag.default), _flow_sentence(diag), _cause_sentence(diag), companions) if s)


def dominant_cause(frame: pd.DataFrame) -> tuple[str, str]:
    """(cause, its sentence) of `diagnose(frame)`."""
    diag = diagnose(frame)
    return diag.cause, _cause_sentence(diag)


def verdict(frame: pd.DataFrame) -> str:
    """The diagnosis of a table as text: `render(diagnose(frame), frame)`."""
    return render(diagnose(frame), frame)


def _finite(x) -> bool:
    return isinstance(x, (int, float)) and math.isfinite(x)


def _fmt(x: float, column: str) -> str:
    if not _finite(x):
        return "-"
    if column == "energy_drift":
        return f"{x:+.2%}"
    return f"{x:.3g}"


def _cell(r, column: str) -> str:
    """A table cell: min det J with the t of the first fold; W1/floor with its interval and ✓ inside its band; a
    region mass with ▲ above its band; else _fmt."""
    text = _fmt(r[column], column)
    if column == "min_det_j" and _finite(r.get("fold_t")):
        return f"{text} (folds at t = {r['fold_t']:g})"
    if column == "w1_over_floor" and _finite(r[column]):
        if _finite(r.get("w1_lo")):
            text += f" [{r['w1_lo']:.3g}, {r['w1_hi']:.3g}]"
        return text + (" ✓" if r.get("w1_place") in ("at", "below") else "")
    if column in FLOORED and _finite(r[column]) and r.get(f"{FLOORED[column][1]}_place") == "above":
        return text + " ▲"
    return text


def markdown(frame: pd.DataFrame, problem: str) -> list[str]:
    """The diagnosis of one problem as markdown lines: a table (rows: variants) and the verdict; the best
    W1/floor and the smallest |energy drift| in bold."""
    if frame.empty:
        return []
    present = [(c, h) for c, h in COLUMNS if c in frame and frame[c].notna().any()]
    k = sorted({int(x) for x in frame.k}) if "k" in frame else []
    seeds = f", K = {'-'.join(map(str, (k[0], k[-1]))) if len(k) > 1 else k[0]} seed{'s' if k[-1] > 1 else ''}" if k else ""
    lines = [f"### PINN-PM diagnosis: {problem} (t = {frame.t.iloc[0]:g}{seeds})", "",
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


def diagnosis_lines(table: pd.DataFrame, manifest: dict, floors: pd.DataFrame | None = None) -> list[str]:
    """Markdown of every problem's diagnosis in a diagnosis run (empty for other runs); a variant whose flow map
    folds has its RFD hidden from the fold on (harness.report.folds: '-' in the table); `floors`: the run's floor
    distributions (the bands W1 and the region masses are tested against)."""
    from harness.report.folds import mask_folds
    out = []
    table = mask_folds(table) if variant_labels_of(manifest) else table
    for problem, labels in sorted(variant_labels_of(manifest).items()):
        out += markdown(diagnosis_table(table, problem, labels, floors), problem)
    return out
