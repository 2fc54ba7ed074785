"""Where cells run: one interface, three engines.

    local    in this process, one cell after another (default)
    process  `--jobs K` worker processes on this machine (concurrent.futures)
    dask     a Dask distributed cluster: `--scheduler tcp://HOST:PORT`, or none to start a
             LocalCluster of `--jobs` single-threaded worker processes on this machine

A cell ships as its config (solver, problem, seed) and the run context (`harness.plan.context.RunContext`: the
profile object, device, plugin files, run directory), never as arrays. The worker solves and evaluates it and
writes the bulky side files (particles .npz, PINN-PM checkpoints) into the run directory, so with Dask the run directory must be on a
filesystem the workers share (as a SLURM cluster's scratch); the cell record (metrics,
timings, status: the file resume keys on) goes back to the client, which writes it. A worker
that dies mid-cell therefore never leaves a cell marked done: Dask re-runs the task on another
worker (up to `distributed.scheduler.allowed-failures` times), and if it still fails the client
records the cell as failed and `--resume` runs it again; a scheduler left with no worker for
DASK_NO_WORKER_GRACE_S fails every unfinished cell. A process-engine worker that dies (a segfault, the
OOM killer) fails the cell it was running; the others run on a new pool. Worker processes started on
this machine are at most what its free memory holds (memory_bounded_jobs).

References the run needs and the cache lacks are tasks of their own (`harness.execute.reference_tasks`), handed
to the engine beside the cells: the process engine starts them first and hands out each cell that waits for one
when it has finished (a ready queue; the cells that need none run meanwhile), the local and Dask engines build
them first, in order, and then run the cells. Either way the engine yields their `ReferenceResult`s among the
cells' records.

This module holds the engine choice, the local and process engines and the --jobs / --cell-timeout checks;
the dask engine is `harness.execute.dask_executor` (its DASK_* settings are read there), and what every engine
runs for one cell (`run_task`, a cell in its own process, the scratch directory) is `harness.execute.tasks`.
Their public names are importable from here as well.
"""
from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import sys
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Callable, Iterator

from infra.files import check_no_link, make_dirs, read_text, remove_file
from harness.plan.cell import Cell
from harness.plan.context import RunContext
from harness.plan.limits import available_memory
from infra.text import one_line
from harness.store.record import CellRecord
from harness.execute.dask_executor import DASK_NO_WORKER_GRACE_S, DASK_POLL_S, connect_dask, run_dask  # noqa: F401
from harness.execute.tasks import (ExecutorError, clear_scratch, die_with_parent, failed_record,  # noqa: F401
                                   kill_live_cells, run_in_subprocess, run_task, scratch_dir)
from harness.execute.reference_tasks import (LOST, DispatchQueue, ReferencePlan, ReferenceResult, ReferenceTask,
                                             dispatch, failed_reference, run_reference_task)

EXECUTORS = ("local", "process", "dask")
#: the longest --cell-timeout (s): a week. The wait on a cell process polls in milliseconds as a C int, so
#: about 24.8 days (2**31 ms) is the most the OS call takes; more gave an OverflowError mid-run.
MAX_CELL_TIMEOUT_S = 7 * 24 * 3600

#: resident memory of a worker process before its cell starts (Python, torch, the harness imported): 392 MiB
#: measured on Linux with torch 2 for CPU
WORKER_BASE_BYTES = 400 * 2**20


def memory_bounded_jobs(jobs: int, available: int | None = None, per_worker: int = WORKER_BASE_BYTES) -> int:
    """The worker processes that fit: min(jobs, available // per_worker), at least 1, with `available` the memory
    the OS has free now unless given and `per_worker` the bytes one worker needs (at least WORKER_BASE_BYTES; the
    runner passes the largest planned cell's estimate, `harness.plan.limits.largest_cell_bytes`); a one-line
    warning on stderr when it is fewer than `jobs`."""
    available = available_memory() if available is None else available
    per_worker = max(per_worker, WORKER_BASE_BYTES)
    fit = max(1, available // per_worker)
    if fit >= jobs:
        return jobs
    print(f"warning: --jobs {jobs} lowered to {fit}: {available / 2**30:.1f} GiB of memory is available and a "
          f"worker process takes about {per_worker / 2**20:.0f} MiB"
          + (" before its cell starts" if per_worker == WORKER_BASE_BYTES else " for the largest planned cell"),
          file=sys.stderr)
    return fit


def check_cell_timeout(seconds: float) -> str | None:
    """None if `seconds` is a usable --cell-timeout (a number in (0, MAX_CELL_TIMEOUT_S]); else the one-line
    error naming the value and the allowed range."""
    if isinstance(seconds, (int, float)) and not isinstance(seconds, bool) and 0 < seconds <= MAX_CELL_TIMEOUT_S:
        return None
    return (f"--cell-timeout must be a positive number of seconds, at most {MAX_CELL_TIMEOUT_S:g} "
            f"({MAX_CELL_TIMEOUT_S / 86400:g} days), got {seconds}")


def _pool_worker_init(parent: int) -> None:
    """Initializer of the process executor's workers: die with the run (see die_with_parent)."""
    die_with_parent(parent)


def run_cells(context: RunContext, cells: list[Cell], progress: bool = True,
              on_start: Callable[[Cell | ReferenceTask], None] | None = None,
              references: ReferencePlan | None = None) -> Iterator[CellRecord | ReferenceResult]:
    """Yield one record per cell as cells finish, on `context.executor` with its jobs, scheduler and cell_timeout (s
    per cell and per reference task, or None). `references`: the reference tasks to run before the cells that wait
    for them (`harness.execute.reference_tasks.plan_references`); each one's ReferenceResult is yielded too."""
    if context.executor not in EXECUTORS:
        raise ExecutorError(f"unknown executor {context.executor!r}; valid executors: {', '.join(EXECUTORS)}")
    references = references or ReferencePlan()
    if context.executor == "local":
        yield from _run_local(context, cells, progress, on_start, references)
    elif context.executor == "process" and context.cell_timeout is not None:  # threads, each on a cell process
        yield from _run_threads(context, cells, references)
    elif context.executor == "process":
        yield from _run_pool(context, cells, references)
    else:
        yield from run_dask(context, cells, references)


def _run_local(context: RunContext, cells, progress, on_start, references):
    """The local engine: the missing references first, in order, then the cells, one after another, in this
    process (or each in a process of its own under context.cell_timeout)."""
    from harness.execute.run_cell import run_cell
    timeout, run_dir = context.cell_timeout, str(context.run_dir)
    for task in references.tasks:
        if on_start:
            on_start(task)
        yield run_reference_task(list(context.plugins), task.to_json(), timeout, run_dir)
    for c in cells:
        if on_start:
            on_start(c)
        if timeout is None:
            yield run_cell(c, context.profile, context.device, progress, run_dir)
        else:
            yield run_in_subprocess(context, c.to_json(), timeout, progress)


def _run_threads(context: RunContext, cells, references):
    """The process engine under --cell-timeout: `jobs` threads, each waiting on a cell (or reference task) process
    of its own, handed out by the ready queue (reference tasks first)."""
    jobs, timeout = context.jobs, context.cell_timeout
    ex = ThreadPoolExecutor(max_workers=max(jobs, 1))

    def submit(item):
        if isinstance(item, ReferenceTask):
            return ex.submit(run_reference_task, list(context.plugins), item.to_json(), timeout, str(context.run_dir))
        return ex.submit(run_task, context, item.to_json(), timeout)

    try:
        for _, result in dispatch(DispatchQueue(cells, references), submit, jobs, lambda item, fut: fut.result()):
            yield result
    except BaseException:  # Ctrl-C, SIGTERM, the consumer stopped: stop every cell now, keep nothing waiting
        kill_live_cells()
        ex.shutdown(wait=False, cancel_futures=True)
        raise
    ex.shutdown(wait=True)


def _run_pool(context: RunContext, cells, references=None) -> Iterator[CellRecord | ReferenceResult]:
    """The process engine without a cell timeout: `jobs` spawned worker processes, fed by the ready queue
    (`reference_tasks.dispatch`: reference tasks first, a cell that waits for one when it has finished, at most
    `jobs` tasks running). A worker that dies (a segfault, os._exit, the OOM killer) breaks the pool: the cell
    (or reference task) it was running is recorded failed, and the items cut short with the pool run again on a
    new pool. Every round ends at least one item, so a pool that keeps breaking cannot loop."""
    jobs, run_dir, profile = context.jobs, str(context.run_dir), context.profile.name
    make_dirs(scratch_dir(run_dir))
    queue = DispatchQueue(cells, references)
    while len(queue):
        # spawned, not forked: a forked worker would inherit the run directory's lock and outlive a killed run
        size = max(min(jobs, len(queue)), 1)
        ex = ProcessPoolExecutor(max_workers=size, mp_context=multiprocessing.get_context("spawn"),
                                 initializer=_pool_worker_init, initargs=(os.getpid(),))
        for _ in range(size):  # start every worker now: the pool spawns one per submit that finds none idle,
            ex.submit(_pool_warm)  # and the ready queue submits no more than it can start (one reference, say)
        lost = []

        def submit(item):
            if isinstance(item, ReferenceTask):
                return ex.submit(_pool_reference_task, list(context.plugins), item.to_json(), run_dir)
            return ex.submit(_pool_task, context, item.to_json())

        def settle(item, fut):
            try:
                return fut.result()
            except BrokenProcessPool:
                lost.append(item)
                return LOST
            except Exception as exc:  # the task itself never raises: the worker could not run it (unpicklable)
                return _failed(item, profile, one_line(f"{type(exc).__name__}: {exc}"))

        try:
            for _, result in dispatch(queue, submit, jobs, settle):
                yield result
        except BaseException:  # Ctrl-C, SIGTERM, the consumer stopped: stop every cell now, keep nothing waiting
            for proc in list(getattr(ex, "_processes", {}).values()):
                proc.kill()
            ex.shutdown(wait=False, cancel_futures=True)
            raise
        workers = dict(getattr(ex, "_processes", None) or {})  # the pool forgets them on shutdown
        ex.shutdown(wait=True)
        dead = _dead_worker_cells(workers, run_dir, {item.id for item in lost})
        if lost and not dead:  # no lost item was known to be running: none can be blamed, none retried
            dead = {item.id: "a worker process died (exit code unknown) before this cell could finish" for item in lost}
        for item in lost:
            if item.id not in dead:
                queue.requeue(item)
            elif isinstance(item, ReferenceTask):
                queue.release(item)  # its cells build it themselves
                yield failed_reference(item, f"WorkerDied: {dead[item.id]}")
            else:
                yield failed_record(item, profile, f"WorkerDied: {dead[item.id]}; --resume runs it again")


def _pool_warm() -> None:
    """The first task of each pool worker: import what every cell imports (torch, the solvers, the metrics), so
    that a worker whose first real task comes late (after a reference task) is ready for it."""
    import harness.execute.run_cell  # noqa: F401


def _failed(item, profile: str, error: str) -> CellRecord | ReferenceResult:
    """A failed record for a cell, a failed result for a reference task."""
    return failed_reference(item, error) if isinstance(item, ReferenceTask) else failed_record(item, profile, error)


def _pool_task(context: RunContext, cell: list) -> CellRecord:
    """run_task in a pool worker, with a marker file naming the cell while it runs, so that the parent can
    tell which cell a worker that died was running (see _dead_worker_cells)."""
    with _marked(str(context.run_dir), Cell.from_json(cell).id):
        return run_task(context, cell)


def _pool_reference_task(plugin_files: list[str], task: list, run_dir: str) -> ReferenceResult:
    """run_reference_task in a pool worker, with a marker file naming the task while it runs (as _pool_task)."""
    import torch
    torch.set_num_threads(1)  # as run_task does in a pool worker (the build itself runs on CELL_THREADS)
    with _marked(run_dir, ReferenceTask.from_json(task).id):
        return run_reference_task(plugin_files, task)


@contextlib.contextmanager
def _marked(run_dir, item_id: str):
    """A marker file naming `item_id` while the block runs in this pool worker (_worker_marker)."""
    marker = _worker_marker(run_dir, os.getpid())
    check_no_link(marker, "worker marker")
    fd = os.open(marker, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0), 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(item_id)
    try:
        yield
    finally:
        remove_file(marker)


def _worker_marker(run_dir, pid: int) -> Path:
    """RUN/.scratch/landau-cell-worker-PID: the id of the cell (or reference task) pool worker PID is running
    (removed when it ends)."""
    return scratch_dir(run_dir) / f"landau-cell-worker-{pid}"


def _dead_worker_cells(workers: dict, run_dir, lost_ids: set[str]) -> dict[str, str]:
    """{cell id: why} for the lost cells whose worker died on its own, given the broken pool's {pid: Process}
    after its shutdown. When a worker dies, the pool terminates the others (exit code -SIGTERM): a cell whose worker ended
    otherwise is the one that killed it. If none can be told apart (the culprit was itself sent SIGTERM),
    every cell that was running is blamed. Removes the markers."""
    codes = {pid: proc.exitcode for pid, proc in workers.items()}
    running = {}
    for marker in scratch_dir(run_dir).glob("landau-cell-worker-*"):
        try:
            pid = int(marker.name.rsplit("-", 1)[1])
            cell_id = read_text(marker)
            remove_file(marker, missing_ok=False)
        except (OSError, ValueError):  # not a marker of ours
            continue
        if cell_id in lost_ids:
            running[cell_id] = codes.get(pid)
    culprits = {cid: code for cid, code in running.items() if code is not None and code != -signal.SIGTERM}
    if culprits:
        return {cid: f"worker process died (exit code {_describe_exit(code)}) running this cell"
                for cid, code in culprits.items()}
    return {cid: f"a worker process died (exit code {_describe_exit(code)}) while this cell was running "
                 f"beside it; which cell killed it is unknown" for cid, code in running.items()}


def _describe_exit(code: int | None) -> str:
    """An exit code as text: 1, -9 (SIGKILL), or unknown."""
    if code is None:
        return "unknown"
    if code < 0:
        try:
            return f"{code} ({signal.Signals(-code).name})"
        except ValueError:
            pass
    return str(code)
