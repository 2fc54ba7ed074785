"""The run directory: manifest.json, one JSON per finished cell, the long table, timings, summary.

Layout:  RUN/manifest.json  RUN/cells/<solver>__<problem>__seed<k>.json  RUN/metrics.{csv,parquet}
         RUN/timings.csv  RUN/summary.md  RUN/figures/*.png
Every file is written atomically (temporary file + os.replace), so a killed run leaves either
the old file or the new one, never half of one. A cell file with status 'ok' is never redone.
"""
from __future__ import annotations

import json
import os
import platform
import subprocess
import tempfile
from pathlib import Path

import pandas as pd

TABLE_COLUMNS = ["solver", "problem", "seed", "t", "metric", "value"]


def atomic_write_text(path: Path, text: str) -> None:
    """Write text to path atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def atomic_write_frame(df: pd.DataFrame, path: Path) -> None:
    """Write a DataFrame as CSV or parquet (by suffix) atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        if path.suffix == ".parquet":
            df.to_parquet(tmp, index=False)
        else:
            df.to_csv(tmp, index=False)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def cell_id(solver: str, problem: str, seed: int) -> str:
    """File stem of one cell."""
    return f"{solver}__{problem}__seed{seed}"


def cell_path(run_dir: Path, solver: str, problem: str, seed: int) -> Path:
    return run_dir / "cells" / f"{cell_id(solver, problem, seed)}.json"


def particles_path(run_dir: Path, solver: str, problem: str, seed: int) -> Path:
    return run_dir / "cells" / f"{cell_id(solver, problem, seed)}.npz"


def write_particles(run_dir: Path, solver: str, problem: str, seed: int, traj) -> None:
    """Snapshot particles and scores (float32) for figures, written atomically."""
    import numpy as np
    arrays = {"times": np.array(traj.times)}
    for k, (x, s) in enumerate(zip(traj.particles, traj.scores)):
        arrays[f"x{k}"] = x.numpy().astype(np.float32)
        if s is not None:
            arrays[f"s{k}"] = s.numpy().astype(np.float32)
    path = particles_path(run_dir, solver, problem, seed)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".npz")
    os.close(fd)
    np.savez_compressed(tmp, **arrays)
    os.replace(tmp, path)


def read_cell(run_dir: Path, solver: str, problem: str, seed: int) -> dict | None:
    """The stored record of a cell, or None."""
    path = cell_path(run_dir, solver, problem, seed)
    if not path.exists():
        return None
    return json.loads(path.read_text())


def write_cell(run_dir: Path, record: dict) -> None:
    atomic_write_text(cell_path(run_dir, record["solver"], record["problem"], record["seed"]),
                      json.dumps(record, indent=1, sort_keys=True))


def git_commit() -> str:
    """The current git commit of the package checkout, or 'unknown'."""
    try:
        return subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True,
                              cwd=Path(__file__).resolve().parent).stdout.strip()
    except Exception:
        return "unknown"


def provenance(device: str) -> dict:
    """Versions, commit, device and host, recorded in the manifest."""
    import numpy
    import ot
    import scipy
    import torch
    return {
        "git_commit": git_commit(), "python": platform.python_version(), "torch": torch.__version__,
        "numpy": numpy.__version__, "scipy": scipy.__version__, "pot": ot.__version__,
        "pandas": pd.__version__, "device": device, "host": platform.node(),
        "cuda_device": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "threads": torch.get_num_threads(),
    }


def collect_tables(run_dir: Path) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(metrics, timings, failures) from every cell file, sorted deterministically."""
    rows, timings, failures = [], [], []
    for path in sorted((run_dir / "cells").glob("*.json")):
        rec = json.loads(path.read_text())
        key = {"solver": rec["solver"], "problem": rec["problem"], "seed": rec["seed"]}
        if rec["status"] != "ok":
            failures.append({**key, "error": rec.get("error", "")})
            continue
        params = {f"p_{k}": v if isinstance(v, (int, float, str, bool, type(None))) else json.dumps(v)
                  for k, v in rec.get("config", {}).items()}
        for r in rec["rows"]:
            rows.append({**key, **r, **params})
        info = {f"info_{k}": v for k, v in rec.get("info", {}).items()
                if isinstance(v, (int, float)) and not isinstance(v, bool)}
        timings.append({**key, **{f"{k}_s": v for k, v in rec.get("wall_time", {}).items()},
                        "total_s": rec.get("total_s"), **info})
    table = pd.DataFrame(rows)
    if not table.empty:
        extra = sorted(c for c in table.columns if c not in TABLE_COLUMNS)
        table = table[TABLE_COLUMNS + extra].sort_values(["problem", "solver", "seed", "metric", "t"],
                                                         kind="mergesort").reset_index(drop=True)
    return table, pd.DataFrame(timings), pd.DataFrame(failures)


CERTIFICATE_COLUMNS = ["solver", "problem", "seed", "t", "certificate", "bound", "observed", "ratio", "holds"]


def collect_certificates(run_dir: Path) -> pd.DataFrame:
    """The certificate rows of every ok cell (columns CERTIFICATE_COLUMNS, then log10_bound, constants...)."""
    rows = []
    for path in sorted((run_dir / "cells").glob("*.json")):
        rec = json.loads(path.read_text())
        if rec["status"] != "ok":
            continue
        key = {"solver": rec["solver"], "problem": rec["problem"], "seed": rec["seed"]}
        rows.extend({**key, **r} for r in rec.get("certificates", []))
    df = pd.DataFrame(rows, columns=None if rows else CERTIFICATE_COLUMNS)
    if rows:
        df = df[CERTIFICATE_COLUMNS + [c for c in df.columns if c not in CERTIFICATE_COLUMNS]]
        df = df.sort_values(["problem", "solver", "seed", "certificate", "t"], kind="mergesort").reset_index(drop=True)
    return df
