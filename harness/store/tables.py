"""The run directory: manifest.json, one JSON per finished cell, the long table, timings, summary.

Layout:  RUN/manifest.json  RUN/cells/<cell id>.json (+ .npz)  RUN/metrics.{csv,parquet}
         RUN/timings.csv  RUN/summary.md  RUN/figures/*.png
Every file is written atomically (temporary file + os.replace, `infra.files.replacing`), so a
killed run leaves either the old file or the new one, never half of one, a failed write (a full disk)
leaves no temporary file, and a symbolic link in the run directory is replaced, never written through.
A cell file with status 'ok' is never redone. A record that is unreadable, truncated, of the wrong
shape or describes another cell (`validate_record`) is set aside as `<name>.corrupt` with one
warning line and treated as not done, so it runs again on --resume.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd

from infra.files import UnsafePath, make_dirs, read_text, replacing, set_aside_file

from infra.rows import FloorDistribution
from infra.text import one_line
from harness.store.record import CellRecord, DamagedRecord, is_number  # noqa: F401  (DamagedRecord re-exported)
from harness.store.provenance import git_commit, provenance  # noqa: F401  (re-exported: runs call store.provenance)

TABLE_COLUMNS = ["solver", "problem", "seed", "overrides", "t", "metric", "value", "reference"]


def atomic_write_text(path: Path, text: str) -> None:
    """Write text to path atomically, in UTF-8 whatever the locale (infra.files.replacing)."""
    with replacing(path) as tmp:
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(text)


def atomic_write_frame(df: pd.DataFrame, path: Path) -> None:
    """Write a DataFrame as CSV (UTF-8) or parquet (by suffix) atomically."""
    with replacing(path) as tmp:
        if path.suffix == ".parquet":
            df.to_parquet(tmp, index=False)
        else:
            df.to_csv(tmp, index=False, encoding="utf-8")


def cell_path(run_dir: Path, cell_id: str) -> Path:
    """The JSON record of the cell with file stem `cell_id` (see `harness.plan.cell.Cell.id`)."""
    return run_dir / "cells" / f"{cell_id}.json"


def particles_path(run_dir: Path, cell_id: str) -> Path:
    """The .npz snapshot particles of the cell with file stem `cell_id`."""
    return run_dir / "cells" / f"{cell_id}.npz"


def write_particles(path: Path, traj) -> None:
    """Snapshot particles and scores (float32) for figures, written atomically to `path` (nothing is left
    behind if the write fails)."""
    import numpy as np
    arrays = {"times": np.array(traj.times)}
    for k, (x, s) in enumerate(zip(traj.particles, traj.scores)):
        arrays[f"x{k}"] = x.numpy().astype(np.float32)
        if s is not None:
            arrays[f"s{k}"] = s.numpy().astype(np.float32)
    with replacing(path, suffix=".npz") as tmp:
        np.savez_compressed(tmp, **arrays)


def validate_record(rec, stem: str | None = None) -> CellRecord:
    """The CellRecord a JSON object holds (of file stem `stem`), else DamagedRecord (harness.store.record)."""
    return CellRecord.from_json(rec, stem)


def set_aside(path: Path, reason: str, warn=None) -> Path | None:
    """Rename a damaged record to <name>.corrupt (numbered if taken) and say so in one line on stderr; if the
    rename fails (a read-only run directory) say that instead and return None (the record is skipped)."""
    import sys
    say = warn or (lambda m: print(m, file=sys.stderr))
    try:
        target = set_aside_file(path)
    except OSError as exc:
        say(f"warning: cell record {path.name} is damaged ({reason}) and could not be set aside "
            f"({type(exc).__name__}: {exc.strerror or exc}); it is skipped")
        return None
    say(f"warning: cell record {path.name} is damaged ({reason}); set aside as {target.name}, "
        f"the cell runs again on --resume")
    return target


def _load(path: Path) -> CellRecord:
    try:
        text = read_text(path)
    except UnsafePath:
        raise DamagedRecord("not a regular file (a pipe, a device or a socket)") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise DamagedRecord(f"unreadable: {type(exc).__name__}") from None
    try:
        rec = json.loads(text)
    except (json.JSONDecodeError, RecursionError) as exc:
        raise DamagedRecord(f"not valid JSON: {str(exc)[:60]}" if isinstance(exc, json.JSONDecodeError)
                            else "nested too deeply") from None
    return validate_record(rec, stem=path.stem)


def read_cell(run_dir: Path, cell_id: str) -> CellRecord | None:
    """The stored record of a cell, or None if there is none; a damaged one is set aside (None)."""
    path = cell_path(run_dir, cell_id)
    if not os.path.lexists(path):
        return None
    try:
        return _load(path)
    except DamagedRecord as exc:
        set_aside(path, str(exc))
        return None


def load_records(run_dir: Path, read_only: bool = False) -> list[CellRecord]:
    """Every trustworthy cell record of the run, in file-name order; damaged ones are set aside (`set_aside`), or,
    `read_only` (a command that only reads the run, as `compare`: it never modifies a run directory), named in one
    line on stderr and left as they are."""
    import sys
    out = []
    for path in sorted((run_dir / "cells").glob("*.json")):
        try:
            out.append(_load(path))
        except DamagedRecord as exc:
            if read_only:
                print(f"warning: cell record {path.name} of {str(run_dir)!r} is damaged ({exc}); not read, left as "
                      f"it is", file=sys.stderr)
            else:
                set_aside(path, str(exc))
    return out


def set_aside_records(run_dir: Path) -> list[str]:
    """File names of the records set aside as damaged (shown in summary.md)."""
    return sorted(p.name for p in (run_dir / "cells").glob("*.json.corrupt*"))


def write_cell(run_dir: Path, record: CellRecord) -> None:
    """Write a cell record atomically under its cell id, as strict JSON (harness.store.record: non-finite floats as
    the strings "Infinity", "-Infinity", "NaN")."""
    atomic_write_text(cell_path(run_dir, record.cell_id),
                      json.dumps(record.to_json(), indent=1, sort_keys=True, allow_nan=False))


def collect_tables(run_dir: Path, records: list[CellRecord] | None = None
                   ) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(metrics, timings, failures) from every cell record, sorted deterministically.

    `overrides` is the cell's override label ('' for the profile's config); `p_*` are its config fields.
    timings also holds what each ok cell used: peak_rss_mb, gpu_peak_mb (None: not recorded, or no CUDA) and kernels
    (`kernels_text`).
    """
    rows, timings, failures = [], [], []
    for rec in load_records(run_dir) if records is None else records:
        key = rec.key
        if not rec.ok:
            failures.append({**key, "error": one_line(rec.error)})
            continue
        params = {f"p_{k}": v if isinstance(v, (int, float, str, bool, type(None))) else json.dumps(v)
                  for k, v in rec.config.items()}
        for r in rec.rows:
            rows.append({**key, "t": r["t"], "metric": r["metric"], "value": r["value"],
                         "reference": r.get("reference", "") if isinstance(r.get("reference", ""), str) else "",
                         **params})
        info = {f"info_{k}": v for k, v in rec.info.items() if is_number(v)}
        timings.append({**key, **{f"{k}_s": v for k, v in rec.wall_time.items()},
                        "solve_s": rec.solve_s, "solve_cpu_s": rec.solve_cpu_s, "total_s": rec.total_s, **info,
                        "warnings": "; ".join(rec.warnings),
                        "peak_rss_mb": rec.peak_rss_mb, "gpu_peak_mb": rec.gpu_peak_mb, "kernels": kernels_text(rec.kernels)})
    table = pd.DataFrame(rows)
    if not table.empty:
        table = uniform_columns(table)
        extra = sorted(c for c in table.columns if c not in TABLE_COLUMNS)
        table = table[TABLE_COLUMNS + extra].sort_values(["problem", "solver", "overrides", "seed", "metric", "t"],
                                                         kind="mergesort").reset_index(drop=True)
    return table, pd.DataFrame(timings), pd.DataFrame(failures)


def uniform_columns(df: pd.DataFrame) -> pd.DataFrame:
    """`df` with every object column whose values mix types (a plugin's `method: int` beside exact_flow's
    `method: str`) turned into strings, None kept as missing, so that parquet (one type a column) can write it."""
    for col in df.columns:
        if df[col].dtype != object:
            continue
        kinds = {type(v) for v in df[col] if v is not None and not (isinstance(v, float) and v != v)}
        if len(kinds) > 1 and not kinds <= {int, float}:
            df[col] = [None if v is None or (isinstance(v, float) and v != v) else str(v) for v in df[col]]
    return df


CERTIFICATE_COLUMNS = ["solver", "problem", "seed", "overrides", "t", "certificate", "bound", "observed", "ratio", "holds"]


def collect_certificates(run_dir: Path, records: list[CellRecord] | None = None) -> pd.DataFrame:
    """The certificate rows of every ok cell (columns CERTIFICATE_COLUMNS, then log10_bound, constants...)."""
    rows = []
    for rec in load_records(run_dir) if records is None else records:
        if rec.ok:
            rows.extend({**rec.key, **r} for r in rec.certificates)
    df = pd.DataFrame(rows, columns=None if rows else CERTIFICATE_COLUMNS)
    if rows:
        df = df[CERTIFICATE_COLUMNS + [c for c in df.columns if c not in CERTIFICATE_COLUMNS]]
        df = df.sort_values(["problem", "solver", "overrides", "seed", "certificate", "t"], kind="mergesort").reset_index(drop=True)
    return df


FLOOR_COLUMNS = ["solver", "problem", "seed", "overrides", "t", "metric", "floor", "n", "pairs", "mean", "se",
                 "reference", "values"]


def collect_floors(run_dir: Path, records: list[CellRecord] | None = None) -> pd.DataFrame:
    """The floor distributions of every ok cell (infra.rows.FloorDistribution), one row per (cell, t, metric):
    FLOOR_COLUMNS, `values` the tuple of its R draws (empty frame for records written before distributions)."""
    rows = []
    for rec in load_records(run_dir) if records is None else records:
        if not rec.ok:
            continue
        for data in rec.floors:
            d = FloorDistribution.from_json(data)
            rows.append({**rec.key, "t": d.t, "metric": d.metric, "floor": d.floor, "n": d.n, "pairs": d.pairs,
                         "mean": d.mean, "se": d.se, "reference": d.reference, "values": d.values})
    df = pd.DataFrame(rows, columns=FLOOR_COLUMNS)
    return df.sort_values(["problem", "solver", "overrides", "seed", "metric", "t"], kind="mergesort"
                          ).reset_index(drop=True) if rows else df


def floors_csv(floors: pd.DataFrame) -> pd.DataFrame:
    """`floors` as floors.csv stores it: the draws as one space-separated column of reprs."""
    return floors.assign(values=floors["values"].map(lambda v: " ".join(repr(float(x)) for x in v)))


def kernels_text(kernels: dict) -> str:
    """A cell's {kernel name: calls} as timings.csv holds it: 'blob_score:compiled_cpu=20; drift:compiled_cpu=20'
    ('' for none); `kernels_from_text` reads it back."""
    return "; ".join(f"{name}={calls}" for name, calls in sorted(kernels.items()))


def kernels_from_text(text) -> dict[str, int]:
    """The {kernel name: calls} of a `kernels_text` string ({} for '', NaN or a malformed item)."""
    out: dict[str, int] = {}
    for item in text.split("; ") if isinstance(text, str) else []:
        name, _, calls = item.rpartition("=")
        if name and calls.isdigit():
            out[name] = out.get(name, 0) + int(calls)
    return out
