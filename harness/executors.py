"""Where cells run: one interface, three engines.

    local    in this process, one cell after another (default)
    process  `--jobs K` worker processes on this machine (concurrent.futures)
    dask     a Dask distributed cluster: `--scheduler tcp://HOST:PORT`, or none to start a
             LocalCluster of `--jobs` single-threaded worker processes on this machine

A cell ships as its config (solver, problem, seed, profile, device, plugin files), never as
arrays. The worker solves and evaluates it and writes the bulky side files (particles .npz,
PINN-PM checkpoints) into the run directory, so with Dask the run directory must be on a
filesystem the workers share (as a SLURM cluster's scratch); the cell record (metrics,
timings, status: the file resume keys on) goes back to the client, which writes it. A worker
that dies mid-cell therefore never leaves a cell marked done: Dask re-runs the task on another
worker (up to `distributed.scheduler.allowed-failures` times), and if it still fails the client
records the cell as failed and `--resume` runs it again.
"""
from __future__ import annotations

from concurrent.futures import ProcessPoolExecutor, as_completed
from typing import Callable, Iterator

EXECUTORS = ("local", "process", "dask")


class ExecutorError(RuntimeError):
    """The chosen engine cannot start (bad scheduler address, dask not installed)."""


def run_task(plugin_files: list[str], cell: tuple, profile: str, device: str, run_dir: str) -> dict:
    """What every remote engine runs: load the user's plugins, then one cell (never raises)."""
    import torch

    from .plugins import load_plugins
    from .runner import run_cell

    torch.set_num_threads(1)
    load_plugins(plugin_files)
    return run_cell(*cell, profile, device, False, run_dir)


def _failed(cell: tuple, profile: str, exc: BaseException) -> dict:
    return {"solver": cell[0], "problem": cell[1], "seed": cell[2], "profile": profile, "status": "failed",
            "error": f"{type(exc).__name__}: {exc} (lost on its worker; --resume runs it again)"}


def run_cells(executor: str, cells: list[tuple], profile: str, device: str, run_dir: str, plugin_files: list[str],
              jobs: int = 1, scheduler: str | None = None, progress: bool = True,
              on_start: Callable[[tuple], None] | None = None) -> Iterator[dict]:
    """Yield one record per cell as cells finish, on the chosen engine."""
    if executor not in EXECUTORS:
        raise ExecutorError(f"unknown executor {executor!r}; valid executors: {', '.join(EXECUTORS)}")
    if executor == "local":
        from .runner import run_cell
        for c in cells:
            if on_start:
                on_start(c)
            yield run_cell(*c, profile, device, progress, run_dir)
    elif executor == "process":
        with ProcessPoolExecutor(max_workers=max(jobs, 1)) as ex:
            futures = [ex.submit(run_task, list(plugin_files), tuple(c), profile, device, run_dir) for c in cells]
            for fut in as_completed(futures):
                yield fut.result()
    else:
        yield from _run_dask(cells, profile, device, run_dir, plugin_files, jobs, scheduler)


def connect_dask(scheduler: str | None, jobs: int, timeout_s: float = 10.0):
    """A distributed.Client for `scheduler`, or on a new LocalCluster of `jobs` workers; ExecutorError if unreachable."""
    try:
        from distributed import Client, LocalCluster
    except ImportError as exc:
        raise ExecutorError("--executor dask needs dask distributed: pip install 'landau-bench[dask]'") from exc
    try:
        if scheduler:
            return Client(scheduler, timeout=f"{timeout_s}s", set_as_default=False)
        cluster = LocalCluster(n_workers=max(jobs, 1), threads_per_worker=1, processes=True,
                               dashboard_address=None)
        return Client(cluster, set_as_default=False)
    except (OSError, TimeoutError, ValueError) as exc:
        where = scheduler or "a new LocalCluster"
        raise ExecutorError(f"cannot reach the dask scheduler at {where!r} within {timeout_s:g} s "
                            f"({type(exc).__name__}: {exc}); give --scheduler tcp://HOST:PORT of a running "
                            f"'dask scheduler', or omit it to start a LocalCluster") from None


def _run_dask(cells, profile, device, run_dir, plugin_files, jobs, scheduler) -> Iterator[dict]:
    from distributed import as_completed as dask_completed

    client = connect_dask(scheduler, jobs)
    try:
        resources = {"GPU": 1} if device == "cuda" and _has_gpu_resources(client) else None
        futures = {client.submit(run_task, list(plugin_files), tuple(c), profile, device, run_dir, pure=False,
                                 key=f"cell-{c[0]}-{c[1]}-seed{c[2]}", resources=resources): c for c in cells}
        for fut in dask_completed(list(futures), loop=client.loop):
            try:
                yield fut.result()
            except Exception as exc:  # the task itself never raises; this is a lost worker (KilledWorker)
                yield _failed(futures[fut], profile, exc)
    finally:
        cluster = getattr(client, "cluster", None)
        client.close()
        if cluster is not None and scheduler is None:
            cluster.close()


def _has_gpu_resources(client) -> bool:
    """True if some worker advertises a 'GPU' resource (then each cuda cell asks for one)."""
    info = client.scheduler_info()
    return any("GPU" in (w.get("resources") or {}) for w in info.get("workers", {}).values())
