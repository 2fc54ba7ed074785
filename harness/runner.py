"""Runs cells (solver, problem, seed), isolating failures, and writes the run directory.

A cell's record holds its config, metric rows, wall-time breakdown and status. A cell whose
record says 'ok' is skipped on resume; any exception (including non-finite particles) is
recorded as 'failed' with its message and the run goes on.
"""
from __future__ import annotations

import dataclasses
import inspect
import json
import math
import time
import traceback
from pathlib import Path

from tqdm.auto import tqdm

import certificates
import problems
import solvers

from . import store
from .evaluate import evaluate
from .executors import run_cells
from .figures import write_certificate_figures, write_figures, write_particle_figures, write_training_figures
from .summary import render_summary


def plan(solver_names, problem_names, seeds) -> tuple[list[tuple[str, str, int]], list[str]]:
    """(cells, skipped reasons) for every applicable solver x problem x seed."""
    cells, skipped = [], []
    for p_name in problem_names:
        problem = problems.get_problem(p_name)
        for s_name in solver_names:
            ok, why = solvers.get_solver(s_name).applies_to(problem)
            if not ok:
                skipped.append(f"{s_name} on {p_name}: {why}")
                continue
            cells.extend((s_name, p_name, seed) for seed in seeds)
    return cells, skipped


def run_cell(solver_name: str, problem_name: str, seed: int, profile: str, device: str,
             progress: bool = False, run_dir: str | None = None) -> dict:
    """Solve and evaluate one cell; never raises (a failure becomes a 'failed' record)."""
    record = {"solver": solver_name, "problem": problem_name, "seed": seed, "profile": profile}
    t_start = time.perf_counter()
    try:
        problem = problems.get_problem(problem_name)
        cls = solvers.get_solver(solver_name)
        cfg = cls.profile_config(profile, problem)
        record["config"] = dataclasses.asdict(cfg) if dataclasses.is_dataclass(cfg) else {}
        kwargs = {"workdir": str(Path(run_dir) / "artifacts")} if run_dir is not None and _accepts_workdir(cls) else {}
        traj = cls(cfg).solve(problem, seed=seed, device=device, progress=progress, **kwargs)
        t_eval = time.perf_counter()
        rows = evaluate(traj, problem, seed)
        record.update(_certificates(traj, problem, seed))
        if run_dir is not None:
            (Path(run_dir) / "cells").mkdir(parents=True, exist_ok=True)
            store.write_particles(Path(run_dir), solver_name, problem_name, seed, traj)
        bad = [r for r in rows if not math.isfinite(r["value"])]
        if bad:
            raise FloatingPointError(f"non-finite metric {bad[0]['metric']} at t = {bad[0]['t']}")
        record.update(status="ok", rows=rows, wall_time={**traj.wall_time, "evaluation": time.perf_counter() - t_eval},
                      info={k: v for k, v in traj.info.items() if isinstance(v, (int, float, str, type(None)))},
                      curves=_curves(traj.info.get("curves")))
    except Exception as exc:  # recorded, the run goes on
        record.update(status="failed", error=f"{type(exc).__name__}: {exc}",
                      traceback=traceback.format_exc(limit=6))
    record["total_s"] = time.perf_counter() - t_start
    return record


def _certificates(traj, problem, seed) -> dict:
    """{'certificates': rows} for a trajectory with a probe on an applicable problem; a failure here is
    recorded as 'certificates_error' and does not fail the cell (its metrics stand)."""
    if traj.probe is None or not certificates.applicable(problem)[0]:
        return {}
    try:
        return {"certificates": certificates.certify(traj.probe, problem, seed)}
    except Exception as exc:  # recorded, the cell goes on
        return {"certificates_error": f"{type(exc).__name__}: {exc}"}


def _accepts_workdir(cls) -> bool:
    params = inspect.signature(cls.solve).parameters
    return "workdir" in params or any(p.kind is p.VAR_KEYWORD for p in params.values())


def _curves(curves) -> dict:
    """A solver's {'name': [floats]} curves (training losses), kept if the lists are of equal length."""
    if not isinstance(curves, dict) or not curves:
        return {}
    lengths = {len(v) for v in curves.values() if isinstance(v, (list, tuple))}
    return {k: [float(x) for x in v] for k, v in curves.items()} if len(lengths) == 1 else {}


def rebuild_outputs(run_dir: Path) -> dict:
    """Write metrics.{csv,parquet}, timings.csv, failures, summary.md and figures from cell files."""
    manifest = json.loads((run_dir / "manifest.json").read_text())
    table, timings, failures = store.collect_tables(run_dir)
    certs = store.collect_certificates(run_dir)
    store.atomic_write_frame(certs, run_dir / "certificates.csv")
    store.atomic_write_frame(table, run_dir / "metrics.csv")
    store.atomic_write_frame(table, run_dir / "metrics.parquet")
    store.atomic_write_frame(timings, run_dir / "timings.csv")
    store.atomic_write_text(run_dir / "summary.md", render_summary(table, timings, failures, manifest, certs))
    write_figures(table, run_dir / "figures")
    write_particle_figures(run_dir, run_dir / "figures")
    write_training_figures(run_dir, run_dir / "figures")
    write_certificate_figures(certs, run_dir / "figures")
    return {"rows": len(table), "failed": len(failures)}


def run(cells, run_dir: Path, config: dict, plugin_files=(), jobs: int = 1, quiet: bool = False,
        echo=print, executor: str | None = None, scheduler: str | None = None) -> dict:
    """Run every cell not already finished in run_dir on `executor` (local, process or dask; default
    local, or process when jobs > 1); returns counts {cells, already_done, failed}."""
    executor = executor or ("process" if jobs > 1 else "local")
    run_dir.mkdir(parents=True, exist_ok=True)
    manifest = {"config": config, "provenance": store.provenance(config["device"]), "cells": [list(c) for c in cells]}
    store.atomic_write_text(run_dir / "manifest.json", json.dumps(manifest, indent=1))
    todo = [c for c in cells if (store.read_cell(run_dir, *c) or {}).get("status") != "ok"]
    counts = {"cells": len(cells), "already_done": len(cells) - len(todo), "failed": 0}
    bar = tqdm(total=len(todo), desc="cells", disable=quiet, unit="cell")

    def finish(rec):
        store.write_cell(run_dir, rec)
        bar.update(1)
        if rec["status"] != "ok":
            counts["failed"] += 1
            echo(f"FAILED {rec['solver']} / {rec['problem']} / seed {rec['seed']}: {rec['error']}")
        elif not quiet:
            bar.write(f"ok {rec['solver']} / {rec['problem']} / seed {rec['seed']} ({rec['total_s']:.1f} s)")

    try:
        for rec in run_cells(executor, todo, config["profile"], config["device"], str(run_dir), list(plugin_files),
                             jobs=jobs, scheduler=scheduler, progress=not quiet,
                             on_start=lambda c: bar.set_postfix_str(f"{c[0]}/{c[1]}/seed{c[2]}")):
            finish(rec)
    finally:
        bar.close()
        rebuild_outputs(run_dir)
    return counts
