"""`run --dry-run` (and `sweep`, `diagnose`): what the command would do, and nothing of it.

Prints the plan (its cell count and the cells, in the order workers would take them), the estimate the run would
print (`harness.plan.estimate`, with the references it would build first), where it would write, and the provenance
its manifest would record (`harness.store.provenance`). It creates no run directory, writes no file, builds no
reference and runs no cell: the options and the plan are checked exactly as a run checks them (a bad one is the same
one line, exit 2), then it exits 0.
"""
from __future__ import annotations

from harness.execute.executors import memory_bounded_jobs
from harness.execute.reference_tasks import plan_references
from harness.plan.cell import Cell
from harness.plan.estimate import cell_seconds, describe_estimate, dispatch_order, estimate_seconds
from harness.plan.context import RunContext
from harness.plan.limits import largest_cell_bytes
from harness.store.manifest import RunConfig
from harness.store.provenance import provenance

#: cells listed one a line; a longer plan ends with '... and N more'
SHOWN_CELLS = 100

def dry_run(context: RunContext, cells: list[Cell], skipped: list, config: RunConfig, resume: bool) -> int:
    """Print the plan, the estimate and the provenance of a run of `cells` in `context` (its profile, jobs and run
    directory: see the module docstring); 0."""
    profile, jobs, run_dir = context.profile, context.jobs, context.run_dir
    if config.executor in ("process", "dask"):  # as the run lowers them to what the memory holds
        jobs = memory_bounded_jobs(jobs, per_worker=largest_cell_bytes(cells, profile.name))
    order = dispatch_order(cells, profile)
    n = len(cells)
    print(f"dry run: nothing is run or written; {'--resume' if resume else 'the run'} would write {run_dir}")
    print(f"{n} cell{'' if n == 1 else 's'} planned ({config.verb}, profile {config.profile}, device {config.device}, "
          f"executor {config.executor}, {jobs} worker{'' if jobs == 1 else 's'})"
          + ("; cells already ok in the run directory are skipped when it runs" if resume else ""))
    for cell in order[:SHOWN_CELLS]:
        print(f"  {cell.describe()}  (about {cell_seconds(cell, profile):.0f} s)")
    if n > SHOWN_CELLS:
        print(f"  ... and {n - SHOWN_CELLS} more")
    for s in skipped:
        print(f"  skipped: {s}")
    references = plan_references(order, profile)
    refs = "; ".join(t.describe() for t in references.tasks)
    first = f"; {len(references.tasks)} reference(s) to build first: {refs}" if refs else ""
    print(f"estimate: {describe_estimate(estimate_seconds(order, profile, jobs))} (rough, from cell times "
          f"measured on a 2-core CPU){first}")
    print("provenance the manifest would record:")
    for key, value in provenance(config.device, config.plugins).items():
        print(f"  {key}: {_shown(value)}")
    return 0

def _shown(value) -> str:
    """A provenance value on one line: an object as 'k=v, k=v' ('none' when empty)."""
    if isinstance(value, dict):
        return ", ".join(f"{k}={v}" for k, v in value.items()) or "none"
    return str(value)
