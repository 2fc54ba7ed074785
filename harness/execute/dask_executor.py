"""The dask engine: cells on a Dask distributed cluster (`--executor dask`).

`--scheduler tcp://HOST:PORT` uses a running scheduler; without it a LocalCluster of `--jobs`
single-threaded worker processes starts on this machine. Each cell is a task (`harness.execute.tasks.run_task`)
that writes its side files into the run directory (which the workers must share) and returns its record to
the client. A worker that dies mid-cell never leaves a cell marked done: Dask re-runs the task on another
worker (up to `distributed.scheduler.allowed-failures` times), and if it still fails the client records the
cell as failed; a scheduler left with no worker for DASK_NO_WORKER_GRACE_S fails every unfinished cell.
References the run needs and the cache lacks (`harness.execute.reference_tasks`) are built first: their tasks
go to the cluster before any cell, and the cells are submitted when every one of them has finished (built or
failed; a cell whose reference failed builds it itself, as it always could). This is simpler than holding back
only the cells that wait, and a run rarely has more than a few references to build.
`distributed` is an optional dependency: it is imported only when this engine runs.
"""
from __future__ import annotations

import asyncio
import re
import time
from typing import Iterator

from infra.text import one_line

from harness.store.record import CellRecord
from harness.execute.reference_tasks import ReferenceResult, failed_reference, run_reference_task
from harness.execute.tasks import ExecutorError, failed_record, run_task


#: what --scheduler takes: PROTOCOL://HOST[:PORT] (checked before a Client is made, which cannot be made of less)
SCHEDULER_ADDRESS = re.compile(r"(tcp|tls|ws|wss|ucx|inproc)://[^\s/][^\s]*")


def connect_dask(scheduler: str | None, jobs: int, timeout_s: float = 10.0):
    """A distributed.Client for `scheduler`, or on a new LocalCluster of `jobs` workers; ExecutorError if unreachable."""
    try:
        from distributed import Client, LocalCluster
    except ImportError as exc:
        raise ExecutorError("--executor dask needs dask distributed: pip install 'landau-bench[dask]'") from exc
    if scheduler and not SCHEDULER_ADDRESS.fullmatch(scheduler):
        raise ExecutorError(f"--scheduler {scheduler!r} is not a scheduler address; give tcp://HOST:PORT (also "
                            f"tls://, ws://, wss://) of a running 'dask scheduler'")
    try:
        if scheduler:
            _handshake(scheduler, timeout_s)
            return Client(scheduler, timeout=f"{timeout_s}s", set_as_default=False)
        cluster = LocalCluster(n_workers=max(jobs, 1), threads_per_worker=1, processes=True,
                               dashboard_address=None)
        return Client(cluster, set_as_default=False)
    except (OSError, TimeoutError, ValueError) as exc:
        where = scheduler or "a new LocalCluster"
        raise ExecutorError(f"cannot reach the dask scheduler at {where!r} within {timeout_s:g} s "
                            f"({type(exc).__name__}: {one_line(str(exc), 120) or 'no answer'}); give --scheduler tcp://HOST:PORT of a running "
                            f"'dask scheduler', or omit it to start a LocalCluster") from None


def _handshake(scheduler: str, timeout_s: float) -> None:
    """Open one comm to `scheduler` and read its handshake, the whole within `timeout_s`; ExecutorError naming the
    address when nothing answers as a Dask scheduler. distributed bounds only the TCP connect: a live port that
    accepts and says nothing would be waited on forever, and one that answers other bytes is decoded as a frame
    length (a 3.07 EiB allocation). A Client is made only after a scheduler has answered."""
    from distributed.comm import connect
    from distributed.security import Security

    async def probe():
        comm = await asyncio.wait_for(connect(scheduler, timeout=timeout_s,
                                              **Security().get_connection_args("client")), timeout_s)
        await comm.close()

    try:
        asyncio.run(probe())
    except (OSError, TimeoutError, asyncio.TimeoutError):
        raise  # not reachable, or no answer in time: connect_dask's message
    except Exception as exc:  # bytes that are not a Dask handshake: any decoding error
        raise ExecutorError(f"--scheduler {scheduler!r} answered, but not as a Dask scheduler "
                            f"({type(exc).__name__}: {one_line(str(exc), 120)}); give tcp://HOST:PORT of a running "
                            f"'dask scheduler'") from None


#: seconds a Dask run waits with no worker on its scheduler before it records its unfinished cells failed
#: (an external cluster whose last worker died would otherwise be waited on forever)
DASK_NO_WORKER_GRACE_S = 30.0
#: seconds between two looks at the scheduler's workers while no cell finishes
DASK_POLL_S = 1.0


def run_dask(context, cells, references=None) -> Iterator[CellRecord | ReferenceResult]:
    """The dask engine, on context.scheduler (None: a LocalCluster of context.jobs workers): yields each reference task's ReferenceResult (`references`, built first), then each cell's
    record as it finishes; a cell lost with its workers is a failed record, and when the scheduler has had no
    worker for DASK_NO_WORKER_GRACE_S, so is every unfinished cell."""
    scheduler, timeout, run_dir = context.scheduler, context.cell_timeout, str(context.run_dir)
    client = connect_dask(scheduler, context.jobs)
    try:
        tasks = list(references.tasks) if references is not None else []
        if tasks:
            futures = {client.submit(run_reference_task, list(context.plugins), t.to_json(), timeout, run_dir,
                                     pure=False, key=t.id): t for t in tasks}
            yield from _dask_collect(client, futures, lambda t, why: failed_reference(t, why), "")
        resources = {"GPU": 1} if context.device == "cuda" and _has_gpu_resources(client) else None
        futures = {client.submit(run_task, context, c.to_json(), timeout,
                                 pure=False, key=f"cell-{c.id}", resources=resources): c for c in cells}
        yield from _dask_collect(client, futures, lambda c, why: failed_record(c, context.profile.name, why),
                                 "; --resume runs it again")
    finally:
        cluster = getattr(client, "cluster", None)
        client.close()
        if cluster is not None and scheduler is None:
            cluster.close()


def _dask_collect(client, futures: dict, fail, hint: str) -> Iterator:
    """Yield the result of each of `futures` ({future: cell or reference task}) as it finishes; `fail(item,
    why)` makes the failed result of an item lost on its worker, or of every unfinished one when the scheduler
    has had no worker for DASK_NO_WORKER_GRACE_S (`hint` ends the why: what the user can do)."""
    pending = set(futures)
    alone_since = None  # when the scheduler was first seen without a worker
    while pending:
        finished = [(fut, rec) for fut in _dask_first_done(client, pending)
                    if (rec := _dask_record(fut, futures[fut], fail, hint)) is not None]
        for fut, rec in finished:
            pending.discard(fut)
            yield rec
        if finished or client.nthreads():
            alone_since = None
        elif alone_since is None:
            alone_since = time.monotonic()
        elif time.monotonic() - alone_since >= DASK_NO_WORKER_GRACE_S:
            client.cancel(list(pending))
            for fut in pending:
                yield fail(futures[fut], f"WorkerDied: no Dask worker left on the scheduler for "
                                         f"{DASK_NO_WORKER_GRACE_S:g} s{hint}")
            return


def _dask_first_done(client, pending: set) -> set:
    """The futures of `pending` (of `client`) that are finished, waiting at most DASK_POLL_S for the first."""
    from distributed import wait
    try:
        with client.as_current():
            return set(wait(list(pending), timeout=DASK_POLL_S, return_when="FIRST_COMPLETED").done)
    except (TimeoutError, asyncio.TimeoutError):
        return set()
    except Exception:  # some were cancelled (FuturesCancelledError): their records say so
        return {fut for fut in pending if fut.done()}


def _dask_record(fut, item, fail, hint: str):
    """The result a finished Dask future holds (`fail(item, why)` for one lost on its worker), or None when it
    cannot be fetched within DASK_POLL_S (its worker went away with the result, and the item waits again)."""
    if fut.status == "lost":  # its result went with its worker; the scheduler runs it again
        return None
    try:
        return fut.result(timeout=DASK_POLL_S)
    except (TimeoutError, asyncio.TimeoutError):
        return None
    except Exception as exc:  # the task itself never raises; this is a lost worker (KilledWorker)
        return fail(item, f"{type(exc).__name__}: {exc} (lost on its worker{hint})")


def _has_gpu_resources(client) -> bool:
    """True if some worker advertises a 'GPU' resource (then each cuda cell asks for one)."""
    info = client.scheduler_info()
    return any("GPU" in (w.get("resources") or {}) for w in info.get("workers", {}).values())
