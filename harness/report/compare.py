"""`python -m harness compare RUN_A RUN_B`: the same cells in two runs, cell by cell and metric by metric, and
whether B got worse (issue 40: a regression gate with a real test; docs/evidence.md).

Cells are matched by (solver, problem, seed, overrides); where each run has one setting per (solver, problem),
the setting is not part of the match and a differing one is named beside the row. The status of every cell comes
from its record (RUN/cells/*.json): a cell ok in A and failed in B, planned in B without a record, or of a solver
setting with no ok cell left in B is a **regression**; a seed B did not plan beside other ok seeds of it is "not run
in B" (runs of different seed sets are compared over their seeds). For every (solver setting, t, metric) of A,
`compare_metrics` gives A, B and B/A (means over each run's ok seeds) and flags B as worse, for an accuracy metric
(lower |value| is better), when mean |B| > mean |A| (1 + rtol) and a test says so:

* runs at the same commit, a seed in both: the same code and random streams, so a seed whose |B| > |A| (1 + rtol)
  is a change (the planted-change check);
* runs at different commits, seeds in both (at least 3): the paired t test on log(|B| / |A|) at p < COMPARE_P;
* else asv's rule (`is_different`: the exact two-sided Mann-Whitney U at p < COMPARE_P where the seed counts let it
  reach that, else non-overlapping COMPARE_CI t intervals).

Before the tables `compare` names every provenance difference between A and B (harness.report.provenance: commit,
dirty diff, hardware, threads, BLAS, GPU, environment, plugin hashes; never the exit status).

A metric of A missing in B, NaN in B where A has a number, a new fold, and a metrics.parquet out of date with its
cell records are regressions too. Solve seconds are compared in a second table and never flagged. `compare` exits 1
on a regression, 0 otherwise, and 2 (one line, CompareError) when the runs cannot be compared: a missing or foreign
directory, a damaged manifest.json, metrics.parquet or timings.csv (or one without the columns compare reads), a run
A without an ok cell, or two runs that share no (solver, problem).
"""
from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from metrics.specs import METRICS, LiveView, with_role

from infra.files import UnsafePath, open_regular, read_text

from harness.report.evidence import t_interval
from harness.report.provenance import compare_lines as provenance_compare_lines
from harness.report.thresholds import (COMPARE_CI, COMPARE_P, REGRESSION_ABS_TOL as ABS_TOL,
                                       REGRESSION_RTOL as DEFAULT_RTOL)

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
    #: why metrics.parquet does not hold what the cell records hold ('' if it does): compare then reads the
    #: records' rows and says so, and the run counts as a regression until `harness report` rebuilds its table
    stale: str = ""
    #: the cells its manifest planned, as (solver, problem, seed, overrides label)
    planned: frozenset = frozenset()
    #: the manifest's provenance object (harness.store.provenance; {} for a manifest without one)
    provenance: dict = field(default_factory=dict)


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
    """The parquet or CSV table at `path` (none or an empty file: no rows), checked by `_checked`. It is read through
    one descriptor of a regular file (infra.files.open_regular): a FIFO, a device or a folder at the name, or a link
    to one, is a CompareError, never waited on or read forever, also when it was swapped in after load_run's
    checks."""
    if not os.path.lexists(path):
        return _checked(pd.DataFrame(), path, columns)
    try:
        with open_regular(path, "rb") as fh:
            if path.suffix == ".csv" and os.fstat(fh.fileno()).st_size <= 1:
                frame = pd.DataFrame()
            else:
                frame = pd.read_parquet(fh) if path.suffix == ".parquet" else pd.read_csv(fh)
    except UnsafePath:
        raise CompareError(f"{str(path)!r} is not a regular file (a pipe, a device, a socket or a folder, or a link "
                           f"to one); refusing to read it. `python -m harness report {path.parent}` rebuilds it "
                           f"once it is removed") from None
    except (OSError, ValueError) as exc:  # pandas' ParserError, EmptyDataError, UnicodeDecodeError, ArrowInvalid
        why = str(exc).strip().splitlines()[0][:120] if str(exc).strip() else ""
        raise CompareError(f"{str(path)!r} is damaged ({type(exc).__name__}{': ' + why if why else ''}); "
                           f"`python -m harness report {path.parent}` rebuilds it") from None
    return _checked(frame, path, columns)


def _measured_records(run_dir: Path) -> list:
    """The run's trustworthy cell records (store.load_records, read-only: a damaged one, a value outside its metric's
    domain among them, is named in one line and left as it is) less those with a row at a time outside its problem's [t0, T] (harness.plan.trust.time_outside),
    each left out with one warning line, as `report` leaves them out."""
    import sys
    from harness.plan.trust import time_outside
    from harness.store.tables import load_records
    kept = []
    for rec in load_records(run_dir, read_only=True):
        why = time_outside(rec) if rec.ok else None
        if why:
            print(f"warning: cell record {rec.cell_id}.json of {str(run_dir)!r} is not compared: {why}",
                  file=sys.stderr)
        else:
            kept.append(rec)
    return kept


def _cell_statuses(records: list) -> pd.DataFrame:
    """One row (CELLS_COLUMNS) per record of `records` (`_measured_records`)."""
    from infra.text import one_line
    rows = [{**rec.key, "status": rec.status, "error": one_line(rec.error)} for rec in records]
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
        manifest = json.loads(read_text(manifest_path))  # a FIFO swapped in after the check is refused, never waited on
        if not isinstance(manifest, dict):
            raise ValueError("not an object")
    except UnsafePath:
        raise CompareError(f"{str(manifest_path)!r} is not a regular file (a pipe, a device, a socket or a folder, "
                           f"or a link to one); refusing to read it") from None
    except (OSError, ValueError, RecursionError) as exc:
        raise CompareError(f"{str(manifest_path)!r} is damaged ({type(exc).__name__}); it is not a JSON object") from None
    metrics = _read_table(metrics_path, METRICS_COLUMNS)
    timings = _read_table(p / "timings.csv", TIMINGS_COLUMNS)
    provenance = manifest.get("provenance") if isinstance(manifest.get("provenance"), dict) else {}
    config = manifest.get("config") if isinstance(manifest.get("config"), dict) else {}
    from harness.store.tables import collect_tables
    records = _measured_records(p)
    recorded = _checked(collect_tables(p, records)[0], metrics_path, METRICS_COLUMNS)
    stale = _stale(metrics, recorded)
    return RunTables(p, recorded if stale else metrics, timings, _run_commit(provenance),
                     str(config.get("profile", "?")), _cell_statuses(records), stale, _planned(manifest), provenance)


def _run_commit(provenance: dict) -> str:
    """The commit the run's cells ran at (the manifest's `commits`, harness.execute.runner; else its git_commit);
    'mixed: A, B' when a resume at another commit ran some of them: such a run is never 'the same commit' as
    another."""
    commits = [c for c in provenance.get("commits") or [] if isinstance(c, str)]
    if len(commits) > 1:
        return "mixed: " + ", ".join(c[:12] for c in commits)
    return commits[0] if commits else str(provenance.get("git_commit", "unknown"))


def _planned(manifest: dict) -> frozenset:
    """{(solver, problem, seed, overrides label)} of the manifest's cell list (malformed entries left out)."""
    from harness.plan.cell import Cell
    from harness.store.identity import label
    out = set()
    for item in manifest.get("cells") or []:
        try:
            cell = Cell.from_json(item)
        except (ValueError, TypeError):
            continue
        out.add((cell.solver, cell.problem, int(cell.seed), label(cell.overrides)))
    return frozenset(out)


def _stale(table: pd.DataFrame, recorded: pd.DataFrame) -> str:
    """'' if the long `table` (metrics.parquet) holds exactly the (cell, t, metric, value) rows of the cell records
    (`recorded`), else a phrase saying how it differs."""
    keys = list(METRICS_COLUMNS)

    def rows(frame):
        frame = frame[keys].copy()
        frame["value"] = frame["value"].astype(float).map(lambda v: "nan" if v != v else repr(float(v)))
        frame["t"] = frame["t"].astype(float).map(repr)
        frame["seed"] = frame["seed"].astype(int)
        return set(map(tuple, frame.astype(str).itertuples(index=False)))

    have, want = rows(table), rows(recorded)
    if have == want:
        return ""
    missing, extra = len(want - have), len(have - want)
    return (f"its metrics.parquet is out of date with its cell records ({missing} recorded row"
            f"{'' if missing == 1 else 's'} missing or changed, {extra} not in a record); compared from the records")


def _one_setting(frame: pd.DataFrame) -> bool:
    return frame.empty or frame.groupby(["solver", "problem"]).overrides.nunique().max() <= 1


def _by_setting(a: RunTables, b: RunTables) -> bool:
    """Whether cells are matched by setting too: unless each run has one setting per (solver, problem)."""
    return not (_one_setting(a.cells) and _one_setting(b.cells))


def _keyed(frame: pd.DataFrame, with_setting: bool) -> pd.DataFrame:
    keys = ["solver", "problem", "seed"] + (["overrides"] if with_setting else [])
    return frame.assign(_key=frame[keys].astype(str).agg("/".join, axis=1) if len(frame) else pd.Series(dtype=str))


def _ok_in_both(frame: pd.DataFrame, cells: pd.DataFrame, with_setting: bool, side: str) -> pd.DataFrame:
    """The rows of run `side`'s ('a' or 'b') metrics or timings `frame` that belong to a cell ok in that run, of a
    (solver, problem[, setting]) with an ok cell in both runs (`compare_cells`): the seeds each run has."""
    ok = cells[cells[side] == "ok"]
    keys = set(_keyed(ok.assign(overrides=ok[f"overrides_{side}"]), with_setting)._key)
    group = ["solver", "problem"] + (["overrides"] if with_setting else [])
    both = cells[(cells.a == "ok") | (cells.b == "ok")]
    shared = set()
    for g, rows in both.assign(overrides=both.overrides_a.where(both.a == "ok", both.overrides_b)).groupby(group):
        if (rows.a == "ok").any() and (rows.b == "ok").any():
            shared.add(tuple(map(str, g if isinstance(g, tuple) else (g,))))
    mine = frame[_keyed(frame, with_setting)._key.isin(keys)]
    in_shared = mine[group].astype(str).apply(tuple, axis=1).isin(shared) if len(mine) else pd.Series(dtype=bool)
    return mine[in_shared] if len(mine) else mine


def compare_cells(a: RunTables, b: RunTables) -> pd.DataFrame:
    """Rows (solver, problem, seed, overrides_a, overrides_b, a, b, error_a, error_b, change, regression), one per
    cell of either run: a and b are 'ok', 'failed', 'missing' (planned in that run's manifest, or the run has no ok
    cell of that solver, problem and setting, but no record) or 'not run' (not planned there while other seeds of it
    are ok: runs of different seed sets are compared over their seeds). change is 'ok in both', 'regression' (ok in
    A, failed or missing in B), 'failed in both', 'fixed in B', 'new in B', 'not run in B' or 'only in A'."""
    with_setting = _by_setting(a, b)
    keys = ["solver", "problem", "seed"] + (["overrides"] if with_setting else [])
    both = a.cells.merge(b.cells, on=keys, how="outer", suffixes=("_a", "_b"))
    if with_setting:
        both = both.assign(overrides_a=both.overrides, overrides_b=both.overrides)
    sa, sb = both.status_a.fillna("missing"), both.status_b.fillna("missing")
    group = ["solver", "problem"] + (["overrides"] if with_setting else [])
    ok_groups_b = set(map(tuple, b.cells[b.cells.status == "ok"][group].astype(str).itertuples(index=False))) \
        if len(b.cells) else set()
    for i in both.index[(sa == "ok") & (sb == "missing")]:
        r = both.loc[i]
        label = r["overrides"] if with_setting else r["overrides_a"]
        planned = (r.solver, r.problem, int(r.seed), label) in b.planned
        if not planned and tuple(str(r[c]) for c in group) in ok_groups_b:
            sb[i] = "not run"
    change = pd.Series("only in A", index=both.index, dtype=object)
    change[sb != "missing"] = "new in B"
    change[(sa == "ok") & (sb == "not run")] = "not run in B"
    change[(sa == "failed") & (sb == "ok")] = "fixed in B"
    change[(sa == "failed") & (sb == "failed")] = "failed in both"
    change[(sa == "ok") & sb.isin(["failed", "missing"])] = "regression"
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


def is_different(a: list[float], b: list[float], p_threshold: float = COMPARE_P,
                 ci_level: float = COMPARE_CI) -> tuple[bool, str]:
    """(whether A's and B's values differ by a test, which test and its result): asv's rule
    (asv.statistics.is_different): the exact two-sided Mann-Whitney U test at p < p_threshold where the sample sizes
    let it reach that (its smallest p, 2 / binom(m + n, m), below p_threshold: 6 + 7 values or more), else the
    non-overlap of the two `ci_level` Student t intervals over seeds (each side at least 2 values), else no test.
    One deviation from asv's code, which checks the one-sided 1 / binom(m + n, m) and so, at 6 + 6, runs a test that
    can never return True (2/924 = 0.0022) and skips the interval check: here the interval check decides there."""
    from scipy import stats
    a = [x for x in a if math.isfinite(x)]
    b = [x for x in b if math.isfinite(x)]
    if not a or not b:
        return False, "no values"
    if 2 / math.comb(len(a) + len(b), min(len(a), len(b))) < p_threshold:
        p = float(stats.mannwhitneyu(b, a, alternative="two-sided", method="exact").pvalue)
        return p < p_threshold, f"Mann-Whitney U p = {p:.2g}"
    if len(a) >= 2 and len(b) >= 2:
        _, lo_a, hi_a = t_interval(a, ci_level)
        _, lo_b, hi_b = t_interval(b, ci_level)
        apart = lo_b > hi_a or lo_a > hi_b
        return apart, f"{ci_level:.0%} intervals {'apart' if apart else 'overlap'}"
    return False, "too few seeds for a test"


#: the columns of compare_metrics
METRIC_ROW_COLUMNS = ["solver", "problem", "overrides_a", "overrides_b", "t", "metric", "a", "b", "ratio", "seeds_a",
                      "seeds_b", "test", "worse", "issue"]


def _groups(frame: pd.DataFrame, group: list[str]) -> dict:
    """{group key: {seed: value}} of a long table."""
    out: dict = {}
    for key, g in frame.groupby(group, sort=True, dropna=False):
        out[key] = dict(zip(g.seed.astype(int), g.value.astype(float)))
    return out


def _seeds_ok(cells: pd.DataFrame, named: dict, side: str, with_setting: bool) -> set:
    """The seeds of (solver, problem[, setting]) ok in run `side` (cells of compare_cells)."""
    hit = cells[(cells.solver == named["solver"]) & (cells.problem == named["problem"]) & (cells[side] == "ok")]
    if with_setting:
        hit = hit[hit[f"overrides_{side}"] == named["overrides"]]
    return set(hit.seed.astype(int))


def _accuracy_worse(va: dict, vb: dict, rtol: float, same_commit: bool) -> tuple[bool, str]:
    """(worse, the test that decided) for one row of an accuracy metric, on |value| by seed ({seed: value} of A and
    B, finite values only): mean |B| > mean |A| (1 + rtol) (and by more than ABS_TOL) and a test: at the same commit,
    a seed in both that moved by more than rtol (the same code and streams: any move is a change); at different
    commits with at least 3 seeds in both, the paired t test on log(|B| / |A|) at p < COMPARE_P (one-sided, B
    larger); else asv's rule (`is_different`)."""
    from scipy import stats
    if not va or not vb:
        return False, "no values"
    xa, xb = {k: abs(v) for k, v in va.items()}, {k: abs(v) for k, v in vb.items()}
    mean_a, mean_b = sum(xa.values()) / len(xa), sum(xb.values()) / len(xb)
    shared = sorted(set(xa) & set(xb))
    if same_commit and shared:
        moved = [k for k in shared if xb[k] > xa[k] * (1 + rtol) and xb[k] - xa[k] > ABS_TOL]
        if moved:
            return True, f"same commit, seed{'s' if len(moved) > 1 else ''} {', '.join(map(str, moved))} moved"
        if all(xa[k] == xb[k] for k in shared) and set(shared) == set(xa) == set(xb):
            return False, "same commit, same values"
    larger = mean_b > mean_a * (1 + rtol) and mean_b - mean_a > ABS_TOL
    positive = [k for k in shared if xa[k] > 0 and xb[k] > 0]
    if not same_commit and len(positive) >= 3:
        logs = [math.log(xb[k] / xa[k]) for k in positive]
        if max(logs) == min(logs):
            p = 0.0 if logs[0] > 0 else 1.0
        else:
            p = float(stats.ttest_1samp(logs, 0.0, alternative="greater").pvalue)
        return larger and p < COMPARE_P, f"paired t over {len(positive)} seeds p = {p:.2g}"
    differs, test = is_different(list(xa.values()), list(xb.values()))
    return larger and differs, test


def _new_fold(metric: str, a: dict, b: dict) -> bool:
    """A flow map that folds in B where it did not in A: fold_fraction 0 -> > 0, or min det J > 0 -> <= 0."""
    fa, fb = [v for v in a.values() if math.isfinite(v)], [v for v in b.values() if math.isfinite(v)]
    if not fa or not fb:
        return False
    if metric == "fold_fraction":
        return max(fa) <= 0 < max(fb)
    if metric == "min_det_j":
        return min(fa) > 0 >= min(fb)
    return False


def compare_metrics(a: RunTables, b: RunTables, rtol: float = DEFAULT_RTOL, cells: pd.DataFrame | None = None
                    ) -> pd.DataFrame:
    """Rows (METRIC_ROW_COLUMNS) for every (cell setting, t, metric) of A over the cells ok in both runs (floors left
    out): a, b the means over their seeds, test the test that decided, worse whether B regressed there, issue what
    else is wrong ('missing in B', 'NaN in B', 'new fold' for fold_fraction / min_det_j), each of which is a
    regression. An accuracy metric (ACCURACY) is worse when, on |value|, either a seed in both runs (the same random
    streams: a difference is a change of the code) has |B| > |A| (1 + rtol) and |B| - |A| > ABS_TOL, or
    mean |B| > mean |A| (1 + rtol) and `is_different` says B's values are larger (asv's rule); the tolerance is never
    widened by either run's spread."""
    with_setting = _by_setting(a, b)
    cells = compare_cells(a, b) if cells is None else cells
    ma = _ok_in_both(a.metrics[~is_floor(a.metrics.metric)], cells, with_setting, "a")
    mb = _ok_in_both(b.metrics[~is_floor(b.metrics.metric)], cells, with_setting, "b")
    group = ["solver", "problem"] + (["overrides"] if with_setting else []) + ["t", "metric"]
    ga, gb = _groups(ma, group), _groups(mb, group)
    setting_a = ma.groupby(["solver", "problem"]).overrides.first().to_dict() if len(ma) else {}
    setting_b = mb.groupby(["solver", "problem"]).overrides.first().to_dict() if len(mb) else {}
    accuracy = set(ACCURACY)
    rows = []
    for key, va in ga.items():
        named = dict(zip(group, key))
        vb = gb.get(key, {})
        sa, sb = (named["overrides"],) * 2 if with_setting else (setting_a.get((named["solver"], named["problem"]), ""),
                                                                 setting_b.get((named["solver"], named["problem"]), ""))
        metric = named["metric"]
        finite_a = {s: v for s, v in va.items() if math.isfinite(v)}
        issue, test, worse = "", "", False
        ok_in_b = _seeds_ok(cells, named, "b", with_setting)
        if not vb or any(s in ok_in_b and s not in vb for s in va):
            issue = "missing in B"
        elif finite_a and any(not math.isfinite(v) for v in vb.values()):
            issue = "NaN in B"
        elif _new_fold(metric, va, vb):
            issue = "new fold"
        elif metric in accuracy:
            worse, test = _accuracy_worse(finite_a, {k: v for k, v in vb.items() if math.isfinite(v)}, rtol,
                                          a.commit == b.commit and a.commit != "unknown"
                                          and not a.commit.startswith("mixed"))
        mean = lambda v: sum(v.values()) / len(v) if v else math.nan
        ma_, mb_ = mean(va), mean(vb)
        rows.append({"solver": named["solver"], "problem": named["problem"], "overrides_a": sa, "overrides_b": sb,
                     "t": float(named["t"]), "metric": metric, "a": ma_, "b": mb_,
                     "ratio": mb_ / ma_ if ma_ not in (0, 0.0) and math.isfinite(ma_) else math.nan,
                     "seeds_a": len(va), "seeds_b": len(vb), "test": test, "worse": worse or bool(issue),
                     "issue": issue})
    return pd.DataFrame(rows, columns=METRIC_ROW_COLUMNS).astype({"worse": bool})


def compare_seconds(a: RunTables, b: RunTables, cells: pd.DataFrame | None = None) -> pd.DataFrame:
    """Rows (solver, problem, a, b, ratio) of mean solve seconds over the cells ok in both runs (`cells`:
    compare_cells(a, b))."""
    if "solve_s" not in a.timings or "solve_s" not in b.timings:
        return pd.DataFrame(columns=["solver", "problem", "a", "b", "ratio"])
    with_setting = _by_setting(a, b)
    cells = compare_cells(a, b) if cells is None else cells
    group = ["solver", "problem"] + (["overrides"] if with_setting else [])
    sa = _ok_in_both(a.timings, cells, with_setting, "a").groupby(group).solve_s.mean().rename("a")
    sb = _ok_in_both(b.timings, cells, with_setting, "b").groupby(group).solve_s.mean().rename("b")
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

    #: the runs (A, B) whose metrics.parquet is out of date with their cell records, with why
    stale: tuple = ()

    @property
    def regressed(self) -> bool:
        """Whether B lost a cell of A, got worse in an accuracy metric, lost a metric of A or got a NaN or a new fold
        where A had none, or a run's table is out of date with its records (compare's exit 1)."""
        return bool(self.cells.regression.any() or self.rows.worse.any() or self.stale)


def compare(a: RunTables, b: RunTables, rtol: float = DEFAULT_RTOL) -> Comparison:
    """The comparison of run B against run A; CompareError when there is nothing to compare: A has no ok cell,
    no cell of A has a record in B, or B lost no cell and no (cell, t, metric) is in both."""
    cells = compare_cells(a, b)
    if not (cells.a == "ok").any():
        raise CompareError(f"{str(a.path)!r} has no ok cell ({int((cells.a == 'failed').sum())} failed): "
                           f"nothing to compare {str(b.path)!r} against; give a run with an ok cell as A")
    groups = lambda cs: set(map(tuple, cs[["solver", "problem"]].itertuples(index=False))) if len(cs) else set()
    if not groups(a.cells) & groups(b.cells):
        raise CompareError(f"{str(a.path)!r} and {str(b.path)!r} share no cell (solver, problem); nothing to compare")
    stale = tuple(f"{str(r.path)!r}: {r.stale}" for r in (a, b) if r.stale)
    comparison = Comparison(cells, compare_metrics(a, b, rtol, cells), compare_seconds(a, b, cells), stale)
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
    """Markdown: provenance (commits, profiles, and every provenance difference: harness.report.provenance), the
    cells not ok in both runs (regressions first), the accuracy rows at the last snapshot (every row with show_all;
    every worse row always), the seconds table, and one closing line."""
    rows, seconds, cells = comparison.rows, comparison.seconds, comparison.cells
    out = [f"# compare: A = {a.path} ({a.profile}, commit {a.commit[:12]}), B = {b.path} ({b.profile}, commit "
           f"{b.commit[:12]})", ""]
    if a.commit != b.commit:
        out += ["The two runs were made at different commits.", ""]
    if a.profile != b.profile:
        out += [f"The two runs used different profiles ({a.profile} vs {b.profile}).", ""]
    out += provenance_compare_lines(a.provenance, b.provenance)
    for line in comparison.stale:
        out += [f"**Out of date**: {line}; `python -m harness report` of that run rebuilds its table.", ""]
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
        out += [f"Accuracy (lower is better; cells ok in both; means over seeds, K = seeds of A / B); **worse** = "
                f"B above A by more than {rtol:.0%} where a test says so (at the same commit a seed in both runs that "
                f"moved; at another commit the paired t on log(B/A) over the seeds in both at p < {COMPARE_P:g}; else "
                f"the exact two-sided Mann-Whitney U at p < {COMPARE_P:g} where the seeds let it reach that, else "
                f"non-overlap of {COMPARE_CI:.0%} t intervals), or a metric missing, NaN or newly folded in B:", "",
                "| solver / problem | t | metric | A | B | B/A | K | test | |", "|---" * 9 + "|"]
        for r in shown.itertuples(index=False):
            setting = _setting(r.overrides_a, r.overrides_b)
            mark = f"**{r.issue}**" if r.issue else "**worse**" if r.worse else ""
            ratio = f"{r.ratio:.3g}" if math.isfinite(r.ratio) else "-"
            out.append(f"| {r.solver} / {r.problem}{setting} | {r.t:g} | {r.metric} | {r.a:.4g} | {r.b:.4g} | {ratio} "
                       f"| {r.seeds_a}/{r.seeds_b} | {r.test or '-'} | {mark} |")
        out.append("")
    if not seconds.empty:
        out += ["Solve seconds (noisy; never flagged):", "", "| solver / problem | A | B | B/A |", "|---" * 4 + "|"]
        for r in seconds.itertuples(index=False):
            setting = _setting(getattr(r, "overrides", ""), getattr(r, "overrides", ""))
            out.append(f"| {r.solver} / {r.problem}{setting} | {r.a:.3g} | {r.b:.3g} | {r.ratio:.2f} |")
        out.append("")
    n_lost = len(comparison.lost)
    n_worse = int((rows.worse & (rows.issue == "")).sum()) if not rows.empty else 0
    n_issue = int((rows.issue != "").sum()) if not rows.empty else 0
    matched = rows.groupby(["solver", "problem", "overrides_a", "overrides_b"]).ngroups if not rows.empty else 0
    out.append(f"{n_lost} cell{'' if n_lost == 1 else 's'} ok in A {'is' if n_lost == 1 else 'are'} failed or missing in B; "
               f"{n_worse} of {int(rows.metric.isin(tuple(ACCURACY)).sum()) if not rows.empty else 0} accuracy values "
               f"over {matched} matched cells are worse in B"
               + (f"; {n_issue} value{'' if n_issue == 1 else 's'} of A missing, NaN or newly folded in B" if n_issue else "")
               + (f"; {len(comparison.stale)} table{'' if len(comparison.stale) == 1 else 's'} out of date"
                  if comparison.stale else "")
               + ("." if comparison.regressed else "; no regression."))
    return out
