"""Issue 30, executors: what a dying worker, a vanished Dask cluster, a relative run directory, a large --jobs
and a huge --cell-timeout did to a run. Each test failed on the main before its fix."""
import json
import os
import sys
import threading
from pathlib import Path

import pytest

from harness.cli import main
from harness.execute.executors import MAX_CELL_TIMEOUT_S, WORKER_BASE_BYTES, check_cell_timeout, memory_bounded_jobs

HERE = Path(__file__).parent
PLUGIN = str(HERE / "harness_plugin.py")
DYING = str(HERE / "dying_plugin.py")


def record(run_dir, cell_id):
    return json.loads((run_dir / "cells" / f"{cell_id}.json").read_text())


@pytest.mark.slow
def test_a_dead_pool_worker_fails_its_cell_alone_and_the_run_goes_on(tmp_path, capsys, monkeypatch):
    """`dies` kills its worker while `bystander` runs on the other one and `still` has run or waits: `dies` alone
    is failed, with its exit code; the bystander cut short and the queued cells run on a new pool."""
    monkeypatch.setenv("DYING_SYNC", str(tmp_path))
    out = tmp_path / "r"
    code = main(["run", "-s", "dies", "-s", "bystander", "-s", "still", "-p", "tiny2d", "--plugin", PLUGIN,
                 "--plugin", DYING, "--jobs", "2", "--quiet", "--out", str(out)])
    assert code == 1
    dead = record(out, "dies__tiny2d__seed0")
    assert dead["status"] == "failed" and "worker process died (exit code 1)" in dead["error"]
    assert "\n" not in dead["error"]
    assert (tmp_path / "bystander").exists()  # it did run beside `dies`
    assert record(out, "bystander__tiny2d__seed0")["status"] == "ok"
    assert record(out, "still__tiny2d__seed0")["status"] == "ok"
    assert "Traceback" not in capsys.readouterr().err
    assert "dies" in (out / "summary.md").read_text()


# --cell-timeout ---------------------------------------------------------------------------------------------
def test_check_cell_timeout_names_the_allowed_range():
    assert MAX_CELL_TIMEOUT_S == 7 * 24 * 3600
    for ok in (1e-3, 5, 300.0, MAX_CELL_TIMEOUT_S):
        assert check_cell_timeout(ok) is None, ok
    for bad in (2200000.0, MAX_CELL_TIMEOUT_S + 1, 0, -3, float("nan"), float("inf"), True):
        msg = check_cell_timeout(bad)
        assert msg == (f"--cell-timeout must be a positive number of seconds, at most 604800 (7 days), "
                       f"got {bad}"), bad


@pytest.mark.slow
def test_the_longest_cell_timeout_runs_a_cell(tmp_path):
    """The wait on a cell process accepts MAX_CELL_TIMEOUT_S (2200000 s gave an OverflowError)."""
    from harness.plan.cell import Cell
    from harness.execute.executors import run_in_subprocess
    from harness.plan.context import RunContext
    from harness.plan.profiles import PROFILES
    context = RunContext(PROFILES["smoke"], tmp_path, device="cpu", plugins=(PLUGIN,))
    rec = run_in_subprocess(context, Cell("still", "tiny2d", 0).to_json(), MAX_CELL_TIMEOUT_S)
    assert rec.status == "ok" and rec.cell_id == "still__tiny2d__seed0"


# a relative run directory ---------------------------------------------------------------------------------
@pytest.mark.slow
def test_a_relative_run_dir_reaches_the_executor_absolute(tmp_path, monkeypatch):
    """A worker in another directory (a Dask worker, a plugin that chdirs) still writes the particle files
    into the run directory: the executor is handed its absolute path."""
    from harness.execute import runner
    from harness.plan.cell import Cell
    from harness.plan.plugins import load_plugins
    load_plugins([PLUGIN])
    (tmp_path / "here").mkdir()
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "here")
    handed = []
    real = runner.run_cells

    def run_cells_elsewhere(context, cells, *args, **kw):
        handed.append(str(context.run_dir))
        os.chdir(tmp_path / "elsewhere")  # the worker's working directory
        yield from real(context, cells, *args, **kw)

    monkeypatch.setattr(runner, "run_cells", run_cells_elsewhere)
    from harness.plan.context import RunContext
    from harness.plan.profiles import PROFILES
    counts = runner.run([Cell("still", "tiny2d", 0)],
                        RunContext(PROFILES["smoke"], Path("rel"), device="cpu", plugins=(PLUGIN,), quiet=True))
    assert counts["failed"] == 0
    assert handed == [str(tmp_path / "here" / "rel")]
    assert (tmp_path / "here" / "rel" / "cells" / "still__tiny2d__seed0.npz").is_file()
    assert not (tmp_path / "elsewhere" / "rel").exists()


# --jobs and memory ----------------------------------------------------------------------------------------
def test_jobs_are_capped_by_available_memory(monkeypatch, capsys):
    from harness.execute import executors
    monkeypatch.setattr(executors, "available_memory", lambda: 3 * WORKER_BASE_BYTES + WORKER_BASE_BYTES // 2)
    assert memory_bounded_jobs(8) == 3
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("warning: --jobs 8 lowered to 3: 1.4 GiB of memory is available")
    assert memory_bounded_jobs(3) == 3 and memory_bounded_jobs(1) == 1
    assert capsys.readouterr().err == ""  # nothing lowered, nothing said
    assert memory_bounded_jobs(4, available=WORKER_BASE_BYTES - 1) == 1  # one worker runs however little there is
    assert memory_bounded_jobs(4, available=2 * WORKER_BASE_BYTES) == 2
    # a worker needs what its largest cell needs: 10 GiB cells on 25 GiB run two at a time, never below the base
    assert memory_bounded_jobs(4, available=25 * 2**30, per_worker=10 * 2**30) == 2
    assert "worker process takes about 10240 MiB for the largest planned cell" in capsys.readouterr().err
    assert memory_bounded_jobs(4, available=2 * WORKER_BASE_BYTES, per_worker=1) == 2


def test_the_largest_cell_sets_what_a_worker_needs():
    """largest_cell_bytes is the largest cell_memory_bytes of the plan: it grows by 8 d (LIVE_ARRAYS + 2 snapshots)
    bytes a particle with blob's n, and a plan of two cells needs what its larger one needs."""
    from harness.plan.cell import Cell
    from harness.plan.limits import BASE_BYTES, LIVE_ARRAYS, largest_cell_bytes
    import problems
    bkw = problems.get_problem("bkw2d")
    small, big = Cell("blob", "bkw2d", 0, (("n", 1_000),)), Cell("blob", "bkw2d", 0, (("n", 1_001_000),))
    per_particle = 8 * bkw.dim * (LIVE_ARRAYS + 2 * len(bkw.snapshot_times))
    assert largest_cell_bytes([big], "quick") - largest_cell_bytes([small], "quick") == 1_000_000 * per_particle
    assert largest_cell_bytes([small, big], "quick") == largest_cell_bytes([big], "quick") > BASE_BYTES
    assert largest_cell_bytes([], "quick") == 0


@pytest.mark.parametrize("executor, scheduler, expected", [("process", None, 2), ("dask", None, 2),
                                                           ("dask", "tcp://127.0.0.1:1", 6)])
def test_run_starts_no_more_local_workers_than_memory_holds(executor, scheduler, expected, tmp_path, monkeypatch):
    """runner.run hands the engine the capped --jobs when it starts workers here (not for an external scheduler)."""
    from harness.execute import executors
    from harness.execute import runner
    from harness.plan.cell import Cell
    from harness.plan.limits import largest_cell_bytes
    cells = [Cell("exact_flow", "bkw2d", s) for s in range(6)]
    monkeypatch.setattr(executors, "available_memory", lambda: 2 * largest_cell_bytes(cells, "smoke") + 1)
    handed = []

    def no_cells(context, cells, **kw):
        handed.append(context.jobs)
        return iter(())

    monkeypatch.setattr(runner, "run_cells", no_cells)
    from harness.plan.context import RunContext
    from harness.plan.profiles import PROFILES
    runner.run(cells,
               RunContext(PROFILES["smoke"], tmp_path / "r", device="cpu", jobs=6, quiet=True, executor=executor,
                          scheduler=scheduler))
    assert handed == [expected]


# Dask without workers -------------------------------------------------------------------------------------
def test_a_dask_run_whose_last_worker_goes_ends_with_its_cells_failed(tmp_path, monkeypatch):
    """An external scheduler's only worker is closed while a cell runs on it: the run ends (it waited
    forever), the unfinished cells failed with one line."""
    distributed = pytest.importorskip("distributed")
    import solvers
    from harness.execute import executors
    from harness.plan.cell import Cell
    from harness.plan.plugins import load_plugins
    load_plugins([PLUGIN, DYING])
    plugin = sys.modules[solvers.get_solver("blocks").__module__]
    monkeypatch.setattr("harness.execute.dask_executor.DASK_NO_WORKER_GRACE_S", 0.5)
    monkeypatch.setattr("harness.execute.dask_executor.DASK_POLL_S", 0.1)
    # blocks first: Dask starts tasks in the order submitted, so the `still` cells wait behind it on the
    # worker's one thread (were one to finish first, its result could go with the worker before it is fetched)
    cells = [Cell("blocks", "tiny2d", 0), Cell("still", "tiny2d", 0), Cell("still", "tiny2d", 1)]
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None) as cluster:
        worker = next(iter(cluster.workers.values()))

        def close_worker_once_blocked():
            if plugin.STARTED.wait(60):
                cluster.sync(worker.close, executor_wait=False)

        def run():
            from harness.plan.context import RunContext
            from harness.plan.profiles import PROFILES
            context = RunContext(PROFILES["smoke"], tmp_path, device="cpu", plugins=(PLUGIN, DYING), executor="dask",
                                 scheduler=cluster.scheduler_address)
            for rec in executors.run_cells(context, cells):
                records[rec.cell_id] = rec

        records = {}
        threads = [threading.Thread(target=close_worker_once_blocked, daemon=True),
                   threading.Thread(target=run, daemon=True)]
        for t in threads:
            t.start()
        try:
            threads[1].join(120)  # a bound on a hang, not a timing: the run ends in seconds or never
            assert not threads[1].is_alive(), "the run still waits on a scheduler without workers"
        finally:
            plugin.RELEASE.set()
            threads[0].join(60)
    assert sorted(records) == sorted(c.id for c in cells)
    blocked = records["blocks__tiny2d__seed0"]
    assert blocked.status == "failed"
    assert blocked.error == "WorkerDied: no Dask worker left on the scheduler for 0.5 s; --resume runs it again"
    for rec in records.values():  # a `still` cell waited behind `blocks`, or (not in submission order) ran before
        assert rec.ok or rec.error == blocked.error
