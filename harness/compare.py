"""`python -m harness compare RUN_A RUN_B`: the same cells in two runs, metric by metric, and whether B got worse.

Cells are matched by (solver, problem, seed, overrides); where a run has one setting per (solver, problem),
the setting is not part of the match and a differing one is named beside the row. For every (t, metric)
present in both, the comparison gives A, B and B/A, and flags B as worse when, for an accuracy metric
(ACCURACY: lower |value| is better),

    |B| > |A| (1 + rtol) + spread,   spread = 2 x (sd over seeds of A and of B, pooled) where both have several seeds,

and |B| - |A| exceeds ABS_TOL (differences in the last bits are never a regression). Solve seconds are
compared in a second table and never flagged (machines are noisy). `compare` exits 1 when any accuracy
metric got worse (for CI), 0 otherwise, 2 for a missing or foreign directory.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from metrics.specs import LiveView, with_role

#: metrics for which lower |value| is better and a rise is a regression (metrics.specs roles)
ACCURACY = LiveView(lambda: tuple(with_role("accuracy") + with_role("regression")))
ABS_TOL = 1e-12
DEFAULT_RTOL = 0.1


class CompareError(ValueError):
    """A directory that is not a finished run: one line, exit 2."""


@dataclass(frozen=True)
class RunTables:
    """What `compare` reads from one run directory."""

    path: Path
    metrics: pd.DataFrame
    timings: pd.DataFrame
    commit: str
    profile: str


def load_run(path: str | Path) -> RunTables:
    """The metrics and timings of a run directory; CompareError naming what is missing."""
    p = Path(path)
    if not p.is_dir():
        raise CompareError(f"{str(p)!r} is not a directory; give two run directories (results/<timestamp>)")
    manifest_path, metrics_path = p / "manifest.json", p / "metrics.parquet"
    if not manifest_path.exists() or not metrics_path.exists():
        raise CompareError(f"{str(p)!r} is not a finished run directory (no manifest.json or metrics.parquet); "
                           f"`python -m harness report {p}` rebuilds the tables of an interrupted run")
    try:
        manifest = json.loads(manifest_path.read_text())
        metrics = pd.read_parquet(metrics_path)
    except (OSError, ValueError) as exc:
        raise CompareError(f"{str(p)!r}: cannot read its tables ({type(exc).__name__}); `report` rebuilds them") from None
    timings_path = p / "timings.csv"
    timings = pd.read_csv(timings_path) if timings_path.exists() and timings_path.stat().st_size > 1 else pd.DataFrame()
    for frame in (metrics, timings):
        if "overrides" in frame:
            col = frame["overrides"].astype(object)
            frame["overrides"] = col.where(col.notna(), "").astype(str)
    provenance = manifest.get("provenance") or {}
    return RunTables(p, metrics, timings, str(provenance.get("git_commit", "unknown")),
                     str((manifest.get("config") or {}).get("profile", "?")))


def _one_setting(frame: pd.DataFrame) -> bool:
    return frame.empty or frame.groupby(["solver", "problem"]).overrides.nunique().max() <= 1


def _keyed(frame: pd.DataFrame, with_setting: bool) -> pd.DataFrame:
    keys = ["solver", "problem", "seed"] + (["overrides"] if with_setting else [])
    return frame.assign(_key=frame[keys].astype(str).agg("/".join, axis=1))


def compare_metrics(a: RunTables, b: RunTables, rtol: float = DEFAULT_RTOL) -> pd.DataFrame:
    """Rows (solver, problem, overrides_a, overrides_b, t, metric, a, b, ratio, spread, worse) for every
    (cell, t, metric) present in both runs (floors left out), means over seeds."""
    with_setting = not (_one_setting(a.metrics) and _one_setting(b.metrics))
    ma = a.metrics[~a.metrics.metric.str.endswith("_floor")]
    mb = b.metrics[~b.metrics.metric.str.endswith("_floor")]
    group = ["solver", "problem"] + (["overrides"] if with_setting else []) + ["t", "metric"]

    def agg(m):
        g = m.groupby(group, sort=True)
        return pd.DataFrame({"mean": g.value.mean(), "sd": g.value.std(ddof=1), "n": g.value.count(),
                             "setting": g.overrides.first()}).reset_index()

    both = agg(ma).merge(agg(mb), on=group, suffixes=("_a", "_b"))
    if both.empty:
        return pd.DataFrame(columns=["solver", "problem", "overrides_a", "overrides_b", "t", "metric", "a", "b",
                                     "ratio", "spread", "worse"])
    spread = 2 * ((both.sd_a.fillna(0) ** 2 + both.sd_b.fillna(0) ** 2) / 2) ** 0.5
    spread = spread.where((both.n_a > 1) & (both.n_b > 1), 0.0)
    aa, bb = both.mean_a.abs(), both.mean_b.abs()
    worse = both.metric.isin(tuple(ACCURACY)) & (bb > aa * (1 + rtol) + spread) & (bb - aa > ABS_TOL)
    ratio = (both.mean_b / both.mean_a).where(both.mean_a != 0, math.nan)
    return pd.DataFrame({"solver": both.solver, "problem": both.problem, "overrides_a": both.setting_a,
                         "overrides_b": both.setting_b, "t": both.t, "metric": both.metric, "a": both.mean_a,
                         "b": both.mean_b, "ratio": ratio, "spread": spread, "worse": worse})


def compare_seconds(a: RunTables, b: RunTables) -> pd.DataFrame:
    """Rows (solver, problem, a, b, ratio) of mean solve seconds of the cells in both runs."""
    if a.timings.empty or b.timings.empty or "solve_s" not in a.timings or "solve_s" not in b.timings:
        return pd.DataFrame(columns=["solver", "problem", "a", "b", "ratio"])
    with_setting = not (_one_setting(a.timings) and _one_setting(b.timings))
    group = ["solver", "problem"] + (["overrides"] if with_setting else [])
    sa = a.timings.groupby(group).solve_s.mean().rename("a")
    sb = b.timings.groupby(group).solve_s.mean().rename("b")
    both = pd.concat([sa, sb], axis=1, join="inner").reset_index()
    return both.assign(ratio=both.b / both.a)


def report_lines(a: RunTables, b: RunTables, rows: pd.DataFrame, seconds: pd.DataFrame, rtol: float,
                 show_all: bool = False) -> list[str]:
    """Markdown: provenance, the accuracy rows at the last snapshot (every row with show_all; every worse row
    always), the seconds table, and one closing line."""
    out = [f"# compare: A = {a.path} ({a.profile}, commit {a.commit[:12]}), B = {b.path} ({b.profile}, commit "
           f"{b.commit[:12]})", ""]
    if a.commit != b.commit:
        out += ["The two runs were made at different commits.", ""]
    if a.profile != b.profile:
        out += [f"The two runs used different profiles ({a.profile} vs {b.profile}).", ""]
    if rows.empty:
        return out + ["No cell, time and metric is present in both runs.", ""]
    t_last = rows.groupby(["solver", "problem"]).t.transform("max")
    shown = rows[rows.worse | (show_all | ((rows.t == t_last) & rows.metric.isin(tuple(ACCURACY))))]
    out += [f"Accuracy (lower is better); **worse** = B above A by more than {rtol:.0%} (and the seed spread):", "",
            "| solver / problem | t | metric | A | B | B/A | |", "|---" * 7 + "|"]
    for r in shown.itertuples(index=False):
        setting = "" if r.overrides_a == r.overrides_b else f" (settings differ: `{r.overrides_a or '-'}` vs `{r.overrides_b or '-'}`)"
        mark = "**worse**" if r.worse else ""
        ratio = f"{r.ratio:.3g}" if math.isfinite(r.ratio) else "-"
        out.append(f"| {r.solver} / {r.problem}{setting} | {r.t:g} | {r.metric} | {r.a:.4g} | {r.b:.4g} | {ratio} | {mark} |")
    out.append("")
    if not seconds.empty:
        out += ["Solve seconds (noisy; never flagged):", "", "| solver / problem | A | B | B/A |", "|---" * 4 + "|"]
        for r in seconds.itertuples(index=False):
            out.append(f"| {r.solver} / {r.problem} | {r.a:.3g} | {r.b:.3g} | {r.ratio:.2f} |")
        out.append("")
    n_worse = int(rows.worse.sum())
    cells = rows.groupby(["solver", "problem"]).ngroups
    out.append(f"{n_worse} of {int(rows.metric.isin(tuple(ACCURACY)).sum())} accuracy values over {cells} matched cells are "
               f"worse in B" + ("." if n_worse else "; no regression."))
    return out
