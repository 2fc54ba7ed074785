"""`python -m harness compare RUN_A RUN_B`: the same cells in two runs, cell by cell and metric by metric, and
whether B got worse.

Cells are matched by (solver, problem, seed, overrides); where each run has one setting per (solver, problem),
the setting is not part of the match and a differing one is named beside the row. The status of every cell
comes from its record (RUN/cells/*.json, `harness.store.load_records`): a cell ok in A and failed or missing
in B is a **regression**; a cell failed in both, fixed in B, new in B or failed in A and absent from B is
listed beside it and is not one. For every (t, metric) of the cells ok in both, the comparison gives A, B and
B/A (means over those seeds), and flags B as worse when, for an accuracy metric (ACCURACY: lower |value| is
better),

    |B| > |A| (1 + rtol) + spread,   spread = 2 x (sd over seeds of A and of B, pooled) where both have several seeds,

and |B| - |A| exceeds ABS_TOL (differences in the last bits are never a regression). Solve seconds are
compared in a second table and never flagged (machines are noisy). `compare` exits 1 when a cell regressed
or an accuracy metric got worse (for CI), 0 otherwise, and 2 (one line, CompareError) when the runs cannot
be compared: a missing or foreign directory, a damaged manifest.json, metrics.parquet or timings.csv (or one
without the columns compare reads), a run A without an ok cell, or two runs that share no cell.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from metrics.specs import METRICS, LiveView, with_role

from harness.report.thresholds import REGRESSION_ABS_TOL as ABS_TOL, REGRESSION_RTOL as DEFAULT_RTOL

#: metrics for which lower |value| is better and a rise is a regression (metrics.specs roles)
ACCURACY = LiveView(lambda: tuple(with_role("accuracy") + with_role("regression")))
#: floor metrics (metrics.specs): those a spec names among its `floors` and those shown as a floor row (`is_floor`)
FLOOR_METRICS = LiveView(lambda: tuple(dict.fromkeys(
    [f for m in METRICS.values() for f in m.floors] + [m.name for m in METRICS.values() if m.is_floor])))
#: how a floor the registry does not know (its plugin is not loaded: `compare` loads none) is still told apart
UNREGISTERED_FLOOR_SUFFIX = "_floor"


class CompareError(ValueError):
    """A directory that is not a finished run, a damaged table, or two runs that cannot be compared: one line, exit 2."""


#: columns (kind) each table must have: 'str' text, 'int' integers, 'num' real numbers
METRICS_COLUMNS = {"solver": "str", "problem": "str", "seed": "int", "overrides": "str", "t": "num", "metric": "str",
                   "value": "num"}
TIMINGS_COLUMNS = {"solver": "str", "problem": "str", "seed": "int", "overrides": "str"}
CELLS_COLUMNS = ["solver", "problem", "seed", "overrides", "status", "error"]


@dataclass(frozen=True)
class RunTables:
    """What `compare` reads from one run directory: its metric and timing tables and (cells) the status and
    error of every cell record, one row (solver, problem, seed, overrides, status, error) each."""

    path: Path
    metrics: pd.DataFrame
    timings: pd.DataFrame
    commit: str
    profile: str
    cells: pd.DataFrame


def _checked(frame: pd.DataFrame, path: Path, columns: dict) -> pd.DataFrame:
    """`frame` (read from `path`) with `overrides` as text; CompareError naming the missing or mistyped column.
    A table without rows (a run with no ok cell) is an empty frame of those columns."""
    if frame.empty:
        return pd.DataFrame({c: pd.Series(dtype=float if kind == "num" else object) for c, kind in columns.items()})
    missing = [c for c in columns if c not in frame]
    if missing:
        raise CompareError(f"{str(path)!r} lacks column(s) {', '.join(missing)} (it has {', '.join(map(str, frame.columns))}); "
                           f"`python -m harness report {path.parent}` rebuilds it")
    if "overrides" in frame:
        col = frame["overrides"].astype(object)
        frame["overrides"] = col.where(col.notna(), "").astype(str)
    for c, kind in list(columns.items()) + ([("solve_s", "num")] if "solve_s" in frame else []):
        col = frame[c]
        good = (col.map(lambda v: isinstance(v, str)).all() if kind == "str" else
                pd.api.types.is_integer_dtype(col) if kind == "int" else
                pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col))
        if not good:
            want = {"str": "text", "int": "integers", "num": "numbers"}[kind]
            raise CompareError(f"{str(path)!r}: column {c} holds {col.dtype} values, not {want}; "
                               f"`python -m harness report {path.parent}` rebuilds it")
    return frame


def _read_table(path: Path, columns: dict) -> pd.DataFrame:
    """The parquet or CSV table at `path` (none or an empty file: no rows), checked by `_checked`."""
    if not path.exists() or (path.suffix == ".csv" and path.stat().st_size <= 1):
        return _checked(pd.DataFrame(), path, columns)
    try:
        frame = pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path)
    except (OSError, ValueError) as exc:  # pandas' ParserError, EmptyDataError, UnicodeDecodeError, ArrowInvalid
        why = str(exc).strip().splitlines()[0][:120] if str(exc).strip() else ""
        raise CompareError(f"{str(path)!r} is damaged ({type(exc).__name__}{': ' + why if why else ''}); "
                           f"`python -m harness report {path.parent}` rebuilds it") from None
    return _checked(frame, path, columns)


def _cell_statuses(run_dir: Path) -> pd.DataFrame:
    """One row (CELLS_COLUMNS) per trustworthy cell record of the run (store.load_records sets damaged ones aside)."""
    from infra.text import one_line
    from harness.store.tables import load_records
    rows = [{**rec.key, "status": rec.status, "error": one_line(rec.error)} for rec in load_records(run_dir)]
    return pd.DataFrame(rows, columns=CELLS_COLUMNS)


def load_run(path: str | Path) -> RunTables:
    """The metrics, timings and cell statuses of a run directory; CompareError naming what is missing or damaged."""
    p = Path(path)
    if not p.is_dir():
        raise CompareError(f"{str(p)!r} is not a directory; give two run directories (results/<timestamp>)")
    manifest_path, metrics_path = p / "manifest.json", p / "metrics.parquet"
    missing = [name for name, there in (("manifest.json", manifest_path.is_file()), ("metrics.parquet", metrics_path.is_file()),
                                        ("cells/", (p / "cells").is_dir())) if not there]
    if missing:
        raise CompareError(f"{str(p)!r} is not a finished run directory (no {' or '.join(missing)}); " + (
            "give a run directory that `python -m harness run` wrote" if "cells/" in missing else
            f"`python -m harness report {p}` rebuilds the tables of an interrupted run"))
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        if not isinstance(manifest, dict):
            raise ValueError("not an object")
    except (OSError, ValueError, RecursionError) as exc:
        raise CompareError(f"{str(manifest_path)!r} is damaged ({type(exc).__name__}); it is not a JSON object") from None
    metrics = _read_table(metrics_path, METRICS_COLUMNS)
    timings = _read_table(p / "timings.csv", TIMINGS_COLUMNS)
    provenance = manifest.get("provenance") if isinstance(manifest.get("provenance"), dict) else {}
    config = manifest.get("config") if isinstance(manifest.get("config"), dict) else {}
    return RunTables(p, metrics, timings, str(provenance.get("git_commit", "unknown")),
                     str(config.get("profile", "?")), _cell_statuses(p))


def _one_setting(frame: pd.DataFrame) -> bool:
    return frame.empty or frame.groupby(["solver", "problem"]).overrides.nunique().max() <= 1


def _by_setting(a: RunTables, b: RunTables) -> bool:
    """Whether cells are matched by setting too: unless each run has one setting per (solver, problem)."""
    return not (_one_setting(a.cells) and _one_setting(b.cells))


def _keyed(frame: pd.DataFrame, with_setting: bool) -> pd.DataFrame:
    keys = ["solver", "problem", "seed"] + (["overrides"] if with_setting else [])
    return frame.assign(_key=frame[keys].astype(str).agg("/".join, axis=1) if len(frame) else pd.Series(dtype=str))


def _ok_in_both(frame: pd.DataFrame, cells: pd.DataFrame, with_setting: bool) -> pd.DataFrame:
    """The rows of a metrics or timings `frame` that belong to a cell ok in both runs (`compare_cells`; matched by
    setting, its overrides_a and overrides_b are the one setting of the cell)."""
    ok = cells[(cells.a == "ok") & (cells.b == "ok")]
    keys = set(_keyed(ok.assign(overrides=ok.overrides_a), with_setting)._key)
    return frame[_keyed(frame, with_setting)._key.isin(keys)]


def compare_cells(a: RunTables, b: RunTables) -> pd.DataFrame:
    """Rows (solver, problem, seed, overrides_a, overrides_b, a, b, error_a, error_b, change, regression), one per
    cell of either run: a and b are 'ok', 'failed' or 'missing' (no record); change is 'ok in both',
    'regression' (ok in A, failed or missing in B), 'failed in both', 'fixed in B', 'new in B' or 'only in A'."""
    with_setting = _by_setting(a, b)
    keys = ["solver", "problem", "seed"] + (["overrides"] if with_setting else [])
    both = a.cells.merge(b.cells, on=keys, how="outer", suffixes=("_a", "_b"))
    if with_setting:
        both = both.assign(overrides_a=both.overrides, overrides_b=both.overrides)
    sa, sb = both.status_a.fillna("missing"), both.status_b.fillna("missing")
    change = pd.Series("only in A", index=both.index, dtype=object)
    change[sb != "missing"] = "new in B"
    change[(sa == "failed") & (sb == "ok")] = "fixed in B"
    change[(sa == "failed") & (sb == "failed")] = "failed in both"
    change[(sa == "ok") & (sb != "ok")] = "regression"
    change[(sa == "ok") & (sb == "ok")] = "ok in both"
    out = pd.DataFrame({"solver": both.solver, "problem": both.problem, "seed": both.seed,
                        "overrides_a": both.overrides_a.fillna(""), "overrides_b": both.overrides_b.fillna(""),
                        "a": sa, "b": sb, "error_a": both.error_a.fillna(""), "error_b": both.error_b.fillna(""),
                        "change": change, "regression": change == "regression"})
    return out.sort_values(["problem", "solver", "seed"], kind="mergesort").reset_index(drop=True)


def is_floor(names: pd.Series) -> pd.Series:
    """Which metric `names` are floors: those of FLOOR_METRICS and, for a name the registry does not know,
    one ending in UNREGISTERED_FLOOR_SUFFIX. A floor is never compared (it measures the reference, not B)."""
    names = names.astype(str)
    unknown = ~names.isin(tuple(METRICS))
    return names.isin(tuple(FLOOR_METRICS)) | (unknown & names.str.endswith(UNREGISTERED_FLOOR_SUFFIX))


def compare_metrics(a: RunTables, b: RunTables, rtol: float = DEFAULT_RTOL, cells: pd.DataFrame | None = None
                    ) -> pd.DataFrame:
    """Rows (solver, problem, overrides_a, overrides_b, t, metric, a, b, ratio, spread, worse) for every
    (cell, t, metric) present in both runs (floors left out), means over the seeds ok in both (`cells`:
    compare_cells(a, b))."""
    with_setting = _by_setting(a, b)
    cells = compare_cells(a, b) if cells is None else cells
    ma = _ok_in_both(a.metrics[~is_floor(a.metrics.metric)], cells, with_setting)
    mb = _ok_in_both(b.metrics[~is_floor(b.metrics.metric)], cells, with_setting)
    group = ["solver", "problem"] + (["overrides"] if with_setting else []) + ["t", "metric"]

    def agg(m):
        g = m.groupby(group, sort=True)
        return pd.DataFrame({"mean": g.value.mean(), "sd": g.value.std(ddof=1), "n": g.value.count(),
                             "setting": g.overrides.first()}).reset_index()

    both = agg(ma).merge(agg(mb), on=group, suffixes=("_a", "_b"))
    if both.empty:
        return pd.DataFrame(columns=["solver", "problem", "overrides_a", "overrides_b", "t", "metric", "a", "b",
                                     "ratio", "spread", "worse"]).astype({"worse": bool})
    spread = 2 * ((both.sd_a.fillna(0) ** 2 + both.sd_b.fillna(0) ** 2) / 2) ** 0.5
    spread = spread.where((both.n_a > 1) & (both.n_b > 1), 0.0)
    aa, bb = both.mean_a.abs(), both.mean_b.abs()
    worse = both.metric.isin(tuple(ACCURACY)) & (bb > aa * (1 + rtol) + spread) & (bb - aa > ABS_TOL)
    ratio = (both.mean_b / both.mean_a).where(both.mean_a != 0, math.nan)
    return pd.DataFrame({"solver": both.solver, "problem": both.problem, "overrides_a": both.setting_a,
                         "overrides_b": both.setting_b, "t": both.t, "metric": both.metric, "a": both.mean_a,
                         "b": both.mean_b, "ratio": ratio, "spread": spread, "worse": worse})


def compare_seconds(a: RunTables, b: RunTables, cells: pd.DataFrame | None = None) -> pd.DataFrame:
    """Rows (solver, problem, a, b, ratio) of mean solve seconds over the cells ok in both runs (`cells`:
    compare_cells(a, b))."""
    if "solve_s" not in a.timings or "solve_s" not in b.timings:
        return pd.DataFrame(columns=["solver", "problem", "a", "b", "ratio"])
    with_setting = _by_setting(a, b)
    cells = compare_cells(a, b) if cells is None else cells
    group = ["solver", "problem"] + (["overrides"] if with_setting else [])
    sa = _ok_in_both(a.timings, cells, with_setting).groupby(group).solve_s.mean().rename("a")
    sb = _ok_in_both(b.timings, cells, with_setting).groupby(group).solve_s.mean().rename("b")
    both = pd.concat([sa, sb], axis=1, join="inner").reset_index()
    return both.assign(ratio=both.b / both.a)


@dataclass(frozen=True)
class Comparison:
    """The three tables of a comparison: cells (compare_cells), rows (compare_metrics), seconds (compare_seconds)."""

    cells: pd.DataFrame
    rows: pd.DataFrame
    seconds: pd.DataFrame

    @property
    def lost(self) -> pd.DataFrame:
        """The cells ok in A and failed or missing in B."""
        return self.cells[self.cells.regression]

    @property
    def regressed(self) -> bool:
        """Whether B lost a cell of A or got worse in an accuracy metric (compare's exit 1)."""
        return bool(self.cells.regression.any() or self.rows.worse.any())


def compare(a: RunTables, b: RunTables, rtol: float = DEFAULT_RTOL) -> Comparison:
    """The comparison of run B against run A; CompareError when there is nothing to compare: A has no ok cell,
    no cell of A has a record in B, or B lost no cell and no (cell, t, metric) is in both."""
    cells = compare_cells(a, b)
    if not (cells.a == "ok").any():
        raise CompareError(f"{str(a.path)!r} has no ok cell ({int((cells.a == 'failed').sum())} failed): "
                           f"nothing to compare {str(b.path)!r} against; give a run with an ok cell as A")
    if not ((cells.a != "missing") & (cells.b != "missing")).any():
        raise CompareError(f"{str(a.path)!r} and {str(b.path)!r} share no cell (solver, problem, seed); nothing to compare")
    comparison = Comparison(cells, compare_metrics(a, b, rtol, cells), compare_seconds(a, b, cells))
    if comparison.rows.empty and not comparison.regressed:
        raise CompareError(f"{str(a.path)!r} and {str(b.path)!r} share no (cell, time, metric); nothing to compare")
    return comparison


def _status(status: str, error: str) -> str:
    return f"failed: {error.replace('|', '/')}" if status == "failed" and error else status


def _setting(overrides_a: str, overrides_b: str) -> str:
    """How a row names its setting: ' [n=200]' when both runs ran it (matched by setting), '(settings differ:
    ...)' when the one setting of a (solver, problem) differs between the runs, '' for the profile's own."""
    if overrides_a != overrides_b:
        return f" (settings differ: `{overrides_a or '-'}` vs `{overrides_b or '-'}`)"
    return f" [{overrides_a}]" if overrides_a else ""


def report_lines(a: RunTables, b: RunTables, comparison: Comparison, rtol: float, show_all: bool = False) -> list[str]:
    """Markdown: provenance, the cells not ok in both runs (regressions first), the accuracy rows at the last
    snapshot (every row with show_all; every worse row always), the seconds table, and one closing line."""
    rows, seconds, cells = comparison.rows, comparison.seconds, comparison.cells
    out = [f"# compare: A = {a.path} ({a.profile}, commit {a.commit[:12]}), B = {b.path} ({b.profile}, commit "
           f"{b.commit[:12]})", ""]
    if a.commit != b.commit:
        out += ["The two runs were made at different commits.", ""]
    if a.profile != b.profile:
        out += [f"The two runs used different profiles ({a.profile} vs {b.profile}).", ""]
    listed = cells[cells.change != "ok in both"].sort_values("regression", ascending=False, kind="mergesort")
    if not listed.empty:
        out += ["Cells not ok in both runs (**regression**: ok in A, failed or missing in B):", "",
                "| solver / problem | seed | A | B | |", "|---" * 5 + "|"]
        for r in listed.itertuples(index=False):
            setting = _setting(r.overrides_a, r.overrides_b)
            out.append(f"| {r.solver} / {r.problem}{setting} | {r.seed} | {_status(r.a, r.error_a)} | "
                       f"{_status(r.b, r.error_b)} | {'**regression**' if r.regression else r.change} |")
        out.append("")
    if rows.empty:
        out += ["No cell, time and metric is present in both runs.", ""]
    else:
        t_last = rows.groupby(["solver", "problem"]).t.transform("max")
        shown = rows[rows.worse | (show_all | ((rows.t == t_last) & rows.metric.isin(tuple(ACCURACY))))]
        out += [f"Accuracy (lower is better; cells ok in both); **worse** = B above A by more than {rtol:.0%} "
                f"(and the seed spread):", "", "| solver / problem | t | metric | A | B | B/A | |", "|---" * 7 + "|"]
        for r in shown.itertuples(index=False):
            setting = _setting(r.overrides_a, r.overrides_b)
            mark = "**worse**" if r.worse else ""
            ratio = f"{r.ratio:.3g}" if math.isfinite(r.ratio) else "-"
            out.append(f"| {r.solver} / {r.problem}{setting} | {r.t:g} | {r.metric} | {r.a:.4g} | {r.b:.4g} | {ratio} | {mark} |")
        out.append("")
    if not seconds.empty:
        out += ["Solve seconds (noisy; never flagged):", "", "| solver / problem | A | B | B/A |", "|---" * 4 + "|"]
        for r in seconds.itertuples(index=False):
            setting = _setting(getattr(r, "overrides", ""), getattr(r, "overrides", ""))
            out.append(f"| {r.solver} / {r.problem}{setting} | {r.a:.3g} | {r.b:.3g} | {r.ratio:.2f} |")
        out.append("")
    n_lost, n_worse = len(comparison.lost), int(rows.worse.sum())
    matched = rows.groupby(["solver", "problem", "overrides_a", "overrides_b"]).ngroups if not rows.empty else 0
    out.append(f"{n_lost} cell{'' if n_lost == 1 else 's'} ok in A {'is' if n_lost == 1 else 'are'} failed or missing in B; "
               f"{n_worse} of {int(rows.metric.isin(tuple(ACCURACY)).sum())} accuracy values over {matched} matched "
               f"cells are worse in B" + ("." if comparison.regressed else "; no regression."))
    return out
