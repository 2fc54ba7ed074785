"""Plans and runs cells (solver, problem, seed, overrides), isolating failures, and writes the run directory.

A cell whose record says 'ok' is skipped on resume; a failed, missing or damaged record runs
again. Outputs (tables, summary, figures) are rebuilt from the stored records after every run. A reference the
cells to run need and the cache lacks is built first, as a task of its own (`harness.execute.reference_tasks`).
"""
from __future__ import annotations

import dataclasses
from pathlib import Path

from tqdm.auto import tqdm


from infra.files import make_dirs
from harness.store import tables as store
from harness.store.manifest import RunConfig, RunManifest, read_manifest, write_manifest
from harness.plan.trust import older_configuration, record_mismatch
from harness.plan.resolved import resolve
from harness.store.planned import PlannedCell
from harness.plan.cell import Cell, merged_plan, unique_cells
from harness.execute.run_cell import run_cell  # noqa: F401  (run_cell re-exported)
from harness.plan.estimate import describe_estimate, dispatch_order, estimate_seconds
from harness.plan.context import RunContext
from harness.plan.limits import largest_cell_bytes
from harness.execute.executors import clear_scratch, memory_bounded_jobs, run_cells
from harness.execute.reference_tasks import ReferencePlan, ReferenceResult, plan_references
from harness.plan.grid import plan  # noqa: F401  (re-exported: runner.plan)
from harness.report.rebuild import rebuild_outputs, trusted_records  # noqa: F401  (re-exported)


def _earlier_manifest(run_dir: Path) -> RunManifest | None:
    """The manifest a resumed run directory already holds (None for a new one or one that does not read: the CLI
    has refused a damaged one before this)."""
    try:
        return read_manifest(run_dir)
    except (OSError, ValueError):
        return None


def _resolved_plan(cells: list[Cell], profile, commit: str, before: RunManifest | None,
                   has_record=lambda cell: False) -> dict:
    """cell id -> PlannedCell for the whole plan: an entry the run directory's manifest already holds is kept (what
    its cell was planned with), the others are resolved now (harness.plan.resolved). A cell of a manifest written
    before planned cells were recorded that has a record (`has_record(cell)`) stays without one: its record states
    what ran."""
    kept = dict(before.planned) if before is not None else {}
    legacy = before is not None and not before.planned and bool(before.cells)
    old_ids = {Cell.from_json(c).id for c in before.cells} if legacy else set()
    out = {}
    for cell in cells:
        if cell.id in kept:
            out[cell.id] = kept[cell.id]
        elif (cell.id not in old_ids or not has_record(cell)) and (entry := resolve(cell, profile, commit)) is not None:
            out[cell.id] = entry
    return out


def _commits(before: RunManifest | None, provenance: dict, ran: bool) -> list[str]:
    """The commits that have run cells of this run directory so far, this one last when it runs any (`ran`): a run
    resumed at another commit mixes them (harness.report.compare never treats it as one commit), and a resume that
    runs nothing leaves the run's commit what it was."""
    earlier = list(before.provenance.get("commits") or [before.provenance.get("git_commit")]) if before else []
    now = [provenance.get("git_commit")] if ran or not earlier else []
    return [c for c in dict.fromkeys([*earlier, *now]) if isinstance(c, str)]


def _say_older(run_dir: Path, done: list[Cell], today, resolved: dict, echo, quiet: bool) -> None:
    """One line naming the finished cells that ran with an older configuration than today's code plans (at `today`,
    today's Profile of the run's name): kept, not run again."""
    older = []
    for cell in done:
        rec = store.read_cell(run_dir, cell.id)
        why = older_configuration(rec, today, resolved.get(cell.id)) if rec is not None else None
        if why:
            older.append(f"{cell.describe()} ({why})")
    if older and not quiet:
        echo(f"note: {len(older)} finished cell(s) ran with an older configuration than today's code plans; kept, "
             f"not run again (delete a record to rerun it): {'; '.join(older[:5])}"
             + (f"; and {len(older) - 5} more" if len(older) > 5 else ""))


def finished(run_dir: Path, cell: Cell, profile: str, planned: PlannedCell | None = None) -> bool:
    """True if the cell has an ok record of this run (`harness.plan.trust.record_mismatch` against `planned`, the
    manifest's entry for it); a record of another profile or planned config is set aside (one line) and the cell
    runs again."""
    rec = store.read_cell(run_dir, cell.id)
    if rec is None or not rec.ok:
        return False
    why = record_mismatch(rec, profile, planned)
    if why:
        store.set_aside(store.cell_path(run_dir, cell.id), f"not a record of this run: {why}")
        return False
    return True



def run(cells: list[Cell], context: RunContext, config: RunConfig | dict | None = None, echo=print,
        planned: list[Cell] | None = None) -> dict:
    """Run every cell not already finished in context.run_dir, on context.executor (local, process or dask) with its
    jobs and scheduler, at context.profile (the Profile object the CLI built once: never looked up by name here),
    each stopped after context.cell_timeout s if given; returns counts {cells, already_done, failed}. The references
    those cells need and the cache lacks are built first, each as a task of its own
    (`harness.execute.reference_tasks`; one line says which); one that fails is a warning line, and its cells build
    it themselves as they always could. The caller holds the run directory's lock (`harness.store.lock`).
    `config` is written to the manifest, with the profile's values (`RunConfig.profile_values`); a dict is read as
    RunConfig.from_json reads one (defaults for what it lacks), None is the context's. `planned` (default `cells`)
    is the plan the manifest records: a resume with a selection runs `cells` and keeps the whole plan there. A cell
    given twice runs once."""
    cells = unique_cells(cells)[0]
    profile = context.profile
    config = _config(config, context, cells)
    run_dir = Path(context.run_dir).resolve()  # workers elsewhere (Dask) write into it; below it no link is followed
    jobs, executor, quiet = context.jobs, context.executor, context.quiet
    if executor == "process" or (executor == "dask" and context.scheduler is None):  # worker processes here
        jobs = memory_bounded_jobs(jobs, per_worker=largest_cell_bytes(cells, profile.name))
    context = dataclasses.replace(context, run_dir=run_dir, jobs=jobs)
    make_dirs(run_dir)
    clear_scratch(run_dir)
    provenance = store.provenance(config.device, config.plugins or context.plugins)
    whole = merged_plan(planned or [], cells)
    before = _earlier_manifest(run_dir)
    resolved = _resolved_plan(whole, profile, str(provenance.get("git_commit", "unknown")), before,
                              lambda cell: store.cell_path(run_dir, cell.id).exists())
    todo = dispatch_order([c for c in cells if not finished(run_dir, c, profile.name, resolved.get(c.id))],
                          profile)
    provenance["commits"] = _commits(before, provenance, ran=bool(todo))
    write_manifest(run_dir, RunManifest(config, provenance, [c.to_json() for c in whole], resolved))
    _say_older(run_dir, [c for c in cells if c not in todo], context.today, resolved, echo, quiet)
    references = plan_references(todo, profile)
    counts = {"cells": len(cells), "already_done": len(cells) - len(todo), "failed": 0}
    if todo and not quiet:
        where = f"{jobs} worker processes" if executor == "process" else (
            "a Dask cluster" if executor == "dask" else "this process")
        echo(f"{len(todo)} cells to run on {where}; expected {describe_estimate(estimate_seconds(todo, profile, jobs))} "
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
        for rec in run_cells(context, todo, progress=not quiet, on_start=lambda c: bar.set_postfix_str(c.describe()),
                             references=references):
            if isinstance(rec, ReferenceResult):
                built(rec)
            else:
                finish(rec)
    finally:
        bar.close()
        rebuild_outputs(context, jobs if executor == "process" else 1)
    return counts


def _config(config: RunConfig | dict | None, context: RunContext, cells: list[Cell]) -> RunConfig:
    """The RunConfig the manifest records: `config` (a dict read as RunConfig.from_json reads one; None: the
    context's profile, device, seeds, plugins and executor) with the context's profile name and values."""
    if config is None:
        config = RunConfig(device=context.device, seeds=sorted({c.seed for c in cells}), plugins=context.plugins,
                           executor=context.executor)
    elif isinstance(config, dict):
        config = RunConfig.from_json(config)
    return dataclasses.replace(config, profile=context.profile.name, profile_values=context.profile.to_json())





def _references_line(references: ReferencePlan) -> str:
    """'2 references to build first: the sde reference of ... (fine), ...; the 3 cells that need one start when it
    is built, the others meanwhile'."""
    n = len(references.tasks)
    return (f"{n} reference{'s' if n != 1 else ''} to build first: "
            f"{', '.join(t.describe() for t in references.tasks)}; the {len(references.waits)} cell(s) that need "
            f"{'one' if n != 1 else 'it'} start when it is built, the others meanwhile")
