"""Plans and runs cells (solver, problem, seed, overrides), isolating failures, and writes the run directory.

A cell whose record says 'ok' is skipped on resume; a failed, missing or damaged record runs
again. Outputs (tables, summary, figures) are rebuilt from the stored records after every run. A reference the
cells to run need and the cache lacks is built first, as a task of its own (`harness.execute.reference_tasks`).
"""
from __future__ import annotations

import multiprocessing as mp
import os
import sys
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from pathlib import Path

from tqdm.auto import tqdm

import problems
import solvers

from infra.files import make_dirs
from harness.store import tables as store
from harness.store.manifest import RunConfig, RunManifest, read_manifest, write_manifest
from harness.plan.trust import record_mismatch
from harness.plan.cell import Cell, Skipped, merged_plan, unique_cells
from harness.execute.run_cell import run_cell  # noqa: F401  (run_cell re-exported)
from harness.plan.estimate import describe_estimate, dispatch_order, estimate_seconds
from harness.execute.executors import clear_scratch, memory_bounded_jobs, run_cells
from harness.execute.reference_tasks import ReferencePlan, ReferenceResult, plan_references
from harness.report.figures import (write_certificate_figures, write_figures, write_particle_figures, write_sweep_figures,
                      write_training_figures)
from harness.report.diagnosis import LEGEND as DIAGNOSIS_LEGEND, diagnosis_lines
from harness.report.html_page import markdown_to_html
from harness.report.summary import render_summary


def plan(solver_names, problem_names, seeds, grids: dict | None = None, problem_grids: dict | None = None
         ) -> tuple[list[Cell], list[Skipped]]:
    """(cells, [Skipped]) for every applicable solver x problem x constants x overrides x seed.

    grids: {solver: [overrides, ...]} (from `harness.plan.overrides.grids` or a sweep's ladders); a solver
    not in it runs its profile's config once. problem_grids: {problem: [constants, ...]}
    (`harness.plan.overrides.problem_grids`). Order: problem, solver, overrides (as given), constants, seed.
    """
    cells, skipped = [], []
    for p_name in problem_names:
        problem = problems.get_problem(p_name)
        constants_list = (problem_grids or {}).get(p_name, [()])
        for s_name in solver_names:
            ok, why = solvers.get_solver(s_name).applies_to(problem)
            if not ok:
                skipped.append(Skipped(s_name, p_name, why))
                continue
            for overrides in (grids or {}).get(s_name, [()]):
                for constants in constants_list:
                    cells.extend(Cell(s_name, p_name, seed, overrides + constants) for seed in seeds)
    return cells, skipped


def trusted_records(records: list, profile: str, warn=None) -> list:
    """The records that belong to a run of `profile` (`harness.plan.trust.record_mismatch`); each other one is left
    out with one warning line naming it and why."""
    say = warn or (lambda m: print(m, file=sys.stderr))
    kept = []
    for rec in records:
        why = record_mismatch(rec, profile)
        if why:
            say(f"warning: cell record {rec.cell_id}.json is not reported: {why}")
        else:
            kept.append(rec)
    return kept


def finished(run_dir: Path, cell: Cell, profile: str) -> bool:
    """True if the cell has an ok record of this run (`harness.plan.trust.record_mismatch`); a record of another
    profile or config is set aside (one line) and the cell runs again."""
    rec = store.read_cell(run_dir, cell.id)
    if rec is None or not rec.ok:
        return False
    why = record_mismatch(rec, profile)
    if why:
        store.set_aside(store.cell_path(run_dir, cell.id), f"not a record of this run: {why}")
        return False
    return True


def rebuild_outputs(run_dir: Path, jobs: int = 1) -> dict:
    """Write metrics.{csv,parquet}, timings.csv, failures, summary.md, index.html and figures from cell files.
    With jobs > 1 the particle figures (about half the figure time) are drawn in a forked process meanwhile."""
    run_dir = Path(run_dir).resolve()
    manifest = read_manifest(run_dir)
    profile = manifest.config.profile
    records = trusted_records(store.load_records(run_dir), profile)
    table, timings, failures = store.collect_tables(run_dir, records)
    certs = store.collect_certificates(run_dir, records)
    floors = store.collect_floors(run_dir, records)
    store.atomic_write_frame(certs, run_dir / "certificates.csv")
    store.atomic_write_frame(store.floors_csv(floors), run_dir / "floors.csv")
    store.atomic_write_frame(table, run_dir / "metrics.csv")
    store.atomic_write_frame(table, run_dir / "metrics.parquet")
    store.atomic_write_frame(timings, run_dir / "timings.csv")
    fig_dir = run_dir / "figures"
    with _beside(write_particle_figures, (run_dir, fig_dir, records, profile), jobs) as particle_figures:
        figures = (write_figures(table, fig_dir, floors) + write_sweep_figures(table, timings, fig_dir)
                   + write_training_figures(run_dir, fig_dir, records)
                   + write_certificate_figures(certs, fig_dir))
    figures += particle_figures.result()
    raw = manifest.to_json()  # what the report's readers take
    diagnosis = diagnosis_lines(table, raw, floors)
    if diagnosis:
        store.atomic_write_text(run_dir / "diagnosis.md", "\n".join(["# PINN-PM diagnosis", "", DIAGNOSIS_LEGEND, ""]
                                                                    + diagnosis))
    summary = render_summary(table, timings, failures, raw, certs, store.set_aside_records(run_dir),
                             sorted(p.name for p in figures), floors)
    store.atomic_write_text(run_dir / "summary.md", summary)
    store.atomic_write_text(run_dir / "index.html", markdown_to_html(summary, f"landau-bench: {run_dir.name}"))
    return {"rows": len(table), "failed": len(failures)}


def run(cells: list[Cell], run_dir: Path, config: RunConfig | dict, plugin_files=(), jobs: int = 1, quiet: bool = False,
        echo=print, executor: str | None = None, scheduler: str | None = None,
        cell_timeout: float | None = None, planned: list[Cell] | None = None) -> dict:
    """Run every cell not already finished in run_dir on `executor` (local, process or dask; default
    local, or process when jobs > 1), each stopped after `cell_timeout` s if given; returns counts
    {cells, already_done, failed}. The references those cells need and the cache lacks are built first, each as
    a task of its own (`harness.execute.reference_tasks`; one line says which); one that fails is a warning line,
    and its cells build it themselves as they always could. The caller holds the run directory's lock (`harness.store.lock`).
    `config` is written to the manifest; a dict is read as RunConfig.from_json reads one (defaults for
    what it lacks). `planned` (default `cells`) is the plan the manifest records: a resume with a selection runs
    `cells` and keeps the whole plan there. A cell given twice runs once."""
    cells = unique_cells(cells)[0]
    if isinstance(config, dict):
        config = RunConfig.from_json(config)
    executor = executor or ("process" if jobs > 1 else "local")
    run_dir = Path(run_dir).resolve()  # workers elsewhere (Dask) write into it; below it no link is followed
    if executor == "process" or (executor == "dask" and scheduler is None):  # worker processes on this machine
        jobs = memory_bounded_jobs(jobs)
    make_dirs(run_dir)
    clear_scratch(run_dir)
    provenance = store.provenance(config.device, config.plugins or tuple(plugin_files))
    write_manifest(run_dir, RunManifest(config, provenance, [c.to_json() for c in merged_plan(planned or [], cells)]))
    todo = dispatch_order([c for c in cells if not finished(run_dir, c, config.profile)], config.profile)
    references = plan_references(todo, config.profile)
    counts = {"cells": len(cells), "already_done": len(cells) - len(todo), "failed": 0}
    if todo and not quiet:
        where = f"{jobs} worker processes" if executor == "process" else (
            "a Dask cluster" if executor == "dask" else "this process")
        echo(f"{len(todo)} cells to run on {where}; expected {describe_estimate(estimate_seconds(todo, config.profile, jobs))} "
             f"(rough, from cell times measured on a 2-core CPU)")
        if references.tasks:
            echo(_references_line(references))
    bar = tqdm(total=len(todo), desc="cells", disable=quiet, unit="cell")
    unbuilt = [len(references.tasks)]  # reference tasks not finished yet, shown beside the bar
    if unbuilt[0]:
        bar.set_postfix_str(f"building {unbuilt[0]} reference(s) first")
    by_id = {c.id: c for c in todo}

    def finish(rec):
        store.write_cell(run_dir, rec)
        bar.update(1)
        what = by_id[rec.cell_id].describe() if rec.cell_id in by_id else rec.cell_id
        if not rec.ok:
            counts["failed"] += 1
            echo(f"FAILED {what}: {rec.error}")
        elif not quiet:
            bar.write(f"ok {what} ({rec.total_s:.1f} s)")
        for warning in rec.warnings:
            echo(f"warning {what}: {warning}")

    def built(result: ReferenceResult):
        unbuilt[0] -= 1
        bar.set_postfix_str(f"building {unbuilt[0]} reference(s) first" if unbuilt[0] else "")
        if result.ok:
            if not quiet:
                bar.write(f"built {result.task.describe()} ({result.seconds:.1f} s)")
        else:  # nothing is lost: its cells build it themselves, as a cell always could
            echo(f"warning: {result.task.describe()} could not be built first ({result.error}); its "
                 f"{references.cells_waiting(result.task)} cell(s) build it themselves")

    try:
        for rec in run_cells(executor, todo, config.profile, config.device, str(run_dir), list(plugin_files),
                             jobs=jobs, scheduler=scheduler, progress=not quiet,
                             on_start=lambda c: bar.set_postfix_str(c.describe()), timeout=cell_timeout,
                             references=references):
            if isinstance(rec, ReferenceResult):
                built(rec)
            else:
                finish(rec)
    finally:
        bar.close()
        rebuild_outputs(run_dir, jobs if executor == "process" else 1)
    return counts


class _Pending:
    """fn(*args)'s result, from `future` (a forked process's) when there is one and it succeeded, else by calling fn
    here: a child that failed or died is not a lost report (its exception, if fn fails here too, is the caller's)."""

    def __init__(self, fn, args: tuple, future=None):
        self.fn, self.args, self.future = fn, args, future

    def result(self):
        if self.future is not None:
            try:
                return self.future.result()
            except Exception:  # noqa: BLE001  (drawn here instead: the figures are not lost)
                pass
        return self.fn(*self.args)


def _single_threaded(fn, *args):
    """fn(*args) on one torch thread: a forked child must not start an OpenMP team its parent's pool may hold."""
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(1)
    return fn(*args)


@contextmanager
def _beside(fn, args: tuple, jobs: int):
    """Run fn(*args) in a forked process while the body runs (jobs > 1 and fork available), else after it in this
    process; yields a `_Pending` whose .result() is fn's return."""
    if jobs <= 1 or "fork" not in mp.get_all_start_methods():
        yield _Pending(fn, args)
        return
    pool = ProcessPoolExecutor(max_workers=1, mp_context=mp.get_context("fork"))
    try:
        yield _Pending(fn, args, pool.submit(_single_threaded, fn, *args))
    finally:
        pool.shutdown(wait=True)


def _references_line(references: ReferencePlan) -> str:
    """'2 references to build first: the sde reference of ... (fine), ...; the 3 cells that need one start when it
    is built, the others meanwhile'."""
    n = len(references.tasks)
    return (f"{n} reference{'s' if n != 1 else ''} to build first: "
            f"{', '.join(t.describe() for t in references.tasks)}; the {len(references.waits)} cell(s) that need "
            f"{'one' if n != 1 else 'it'} start when it is built, the others meanwhile")
