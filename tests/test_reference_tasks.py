"""References as work of their own (harness/execute/reference_tasks.py, issue 32 item 1): a reference the run needs
and the cache lacks is a task a worker starts first; the cells that need it are handed out after it finished (and
load it from the cache), the others run meanwhile; a reference task that fails loses nothing; a run whose
references are all cached plans none.

The references here are fake builds of a plugin written by these tests (FAKE_PLUGIN: a builder of kind 'fake' that
sleeps, may fail once or kill its worker once, and logs when it starts and ends), so no test waits minutes for a
real one; the one real build is the coarse SDE reference of tests/harness_plugin.py's tiny2d (0.2 s measured).
"""
import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

import problems
import problems.references.base as refbase
from harness.plan.context import RunContext
from harness.plan.profiles import PROFILES
from harness.cli import main
from harness.execute import runner
from harness.execute.run_cell import run_cell
from harness.plan.plugins import load_plugins
from harness.execute.reference_tasks import (DispatchQueue, ReferencePlan, ReferenceResult, ReferenceTask, dispatch,
                                             plan_references)
from harness.plan.cell import Cell

TINY_PLUGIN = str(Path(__file__).with_name("harness_plugin.py"))

FAKE_PLUGIN = '''
"""Problems judged against a fake reference that logs its build (tests/test_reference_tasks.py)."""
import os
import time
from dataclasses import dataclass

import numpy as np
import torch

from problems import Problem, register_problem
from problems.references.base import Reference, cached_arrays, reference_cache_path, register_reference
from problems.references.grid_density import GridDensity
from solvers import Solver, Trajectory, register_solver


def log(event, name):
    with open(os.environ["LANDAU_TEST_EVENTS"], "a") as fh:
        fh.write(f"{time.time():.6f} {os.getpid()} {event} {name}\\n")


@dataclass(frozen=True)
class Plain2D(Problem):
    """N(0, I) in 2D with gamma = -3 and no stated moments: no built-in reference method applies to it."""

    def _sample0(self, n, gen):
        return torch.randn(n, 2, generator=gen, dtype=torch.float64)

    def initial_score(self, v):
        return -v

    def initial_density(self, v):
        return torch.exp(-(v * v).sum(-1) / 2) / (2 * torch.pi)


def _make(name):
    return Plain2D(name=name, dim=2, gamma=-3.0, C=1 / 16, t0=0.0, snapshot_times=(0.5, 1.0), kde_bandwidth=0.3,
                   paper_n=100, grid_box=((-3, 3),) * 2, grid_points=20)


for _name in ("plain2d", "slowref2d", "otherref2d"):
    register_problem(_name)(lambda _name=_name: _make(_name))

AXES = (torch.linspace(-4, 4, 33, dtype=torch.float64),) * 2


@register_reference("fake", lambda p: p.name in ("slowref2d", "otherref2d"), lambda p, r: {"v": 1})
def fake_reference(problem, resolution="fine", progress=False):
    times = tuple(sorted(set(float(t) for t in problem.snapshot_times)))

    def compute():
        log("ref-start", problem.name)
        mode, flag = os.environ.get("LANDAU_TEST_REF_MODE", ""), os.environ["LANDAU_TEST_EVENTS"] + ".once"
        if mode == "fail-always":
            log("ref-fail", problem.name)
            raise RuntimeError("the fake build always fails")
        if mode and not os.path.exists(flag):
            open(flag, "w").close()
            log("ref-fail", problem.name)
            if mode == "die-once":
                os._exit(3)
            raise RuntimeError("the fake build failed once")
        time.sleep(float(os.environ.get("LANDAU_TEST_REF_SECONDS", "1.5")))
        x = np.random.default_rng(0).standard_normal((20000, 2)).astype(np.float32)
        g0, g1 = np.meshgrid(AXES[0].numpy(), AXES[1].numpy(), indexing="ij")
        f = np.exp(-(g0 ** 2 + g1 ** 2) / 2) / (2 * np.pi)
        log("ref-end", problem.name)
        return {**{f"x{k}": x for k in range(len(times))}, **{f"f{k}": f for k in range(len(times))}}

    arrays = cached_arrays(reference_cache_path(problem, resolution, "fake"), compute,
                           keys=[f"{a}{k}" for k in range(len(times)) for a in "xf"])
    samples = {t: torch.from_numpy(arrays[f"x{k}"].astype(np.float64)) for k, t in enumerate(times)}
    dens = {t: GridDensity(AXES, torch.from_numpy(arrays[f"f{k}"])) for k, t in enumerate(times)}
    return Reference("fake", problem.name, times, dens, samples=samples)


@register_solver("logged")
class Logged(Solver):
    has_score = True

    def solve(self, problem, seed=0, device="cpu", initial=None, progress=False, workdir=None):
        log("cell-start", problem.name)
        time.sleep(float(os.environ.get("LANDAU_TEST_CELL_SECONDS", "0.2")))
        v0 = problem.sample(64, seed)
        times = list(problem.snapshot_times)
        log("cell-end", problem.name)
        return Trajectory(self.name, problem.name, times, [v0.clone() for _ in times], [-v0 for _ in times], v0,
                          {"stepping": 0.0})
'''


@pytest.fixture(autouse=True)
def fresh_references(tmp_path, monkeypatch):
    """An empty reference cache, an events log, and the reference registry and memory as they were."""
    monkeypatch.setenv("LANDAU_REFERENCE_CACHE", str(tmp_path / "references"))
    monkeypatch.setenv("LANDAU_TEST_EVENTS", str(tmp_path / "events.log"))
    builders, memory = list(refbase._BUILDERS), dict(refbase._MEMORY)
    refbase._MEMORY.clear()
    yield
    refbase._BUILDERS[:] = builders
    refbase._MEMORY.clear()
    refbase._MEMORY.update(memory)


@pytest.fixture
def fake_plugin(tmp_path):
    path = tmp_path / "fake_reference_plugin.py"
    path.write_text(FAKE_PLUGIN)
    load_plugins([str(path)])
    return str(path)


def events(tmp_path) -> list[tuple[float, str, str]]:
    """(time, event, problem) of the log the plugin wrote, in time order."""
    path = tmp_path / "events.log"
    rows = [line.split() for line in path.read_text().splitlines()] if path.exists() else []
    return sorted((float(t), event, name) for t, _pid, event, name in rows)


def records(run_dir) -> dict:
    return {p.stem: json.loads(p.read_text()) for p in (Path(run_dir) / "cells").glob("*.json")}


# planning -------------------------------------------------------------------------------------------------
def test_the_plan_has_one_task_per_missing_reference_and_the_cells_that_wait_for_it(fake_plugin):
    assert problems.reference_kind(problems.get_problem("slowref2d")) == "fake"
    cells = [Cell("logged", "slowref2d", 0), Cell("logged", "plain2d", 0), Cell("logged", "slowref2d", 1),
             Cell("logged", "otherref2d", 0)]
    plan = plan_references(cells, PROFILES["smoke"])
    assert sorted(t.problem for t in plan.tasks) == ["otherref2d", "slowref2d"]
    assert all(t.kind == "fake" and t.resolution == "coarse" for t in plan.tasks)
    assert {cid: t.problem for cid, t in plan.waits.items()} == {
        "logged__slowref2d__seed0": "slowref2d", "logged__slowref2d__seed1": "slowref2d",
        "logged__otherref2d__seed0": "otherref2d"}  # plain2d needs no reference
    assert plan_references(cells, PROFILES["quick"]).tasks[0].resolution == "fine"  # the profile's resolution


def test_a_run_whose_references_are_all_cached_plans_no_reference_task(fake_plugin, tmp_path, monkeypatch):
    cells = [Cell("logged", "slowref2d", 0), Cell("logged", "plain2d", 0), Cell("logged", "bkw2d", 0)]
    assert len(plan_references(cells, PROFILES["smoke"])) == 1
    monkeypatch.setenv("LANDAU_TEST_REF_SECONDS", "0")
    refbase.reference_for(problems.get_problem("slowref2d"), "coarse")  # now in the cache
    assert plan_references(cells, PROFILES["smoke"]) == ReferencePlan()
    handed = []

    def no_cells(context, cells, references=None, **kw):
        handed.append(references)
        return iter(())

    monkeypatch.setattr(runner, "run_cells", no_cells)
    runner.run(cells, RunContext(PROFILES["smoke"], tmp_path / "run", device="cpu", quiet=True))
    assert handed == [ReferencePlan()]


def test_a_cell_whose_problem_cannot_be_made_is_left_to_fail_as_its_own(fake_plugin):
    cells = [Cell("logged", "slowref2d", 0, (("slowref2d.no_such_constant", 1),)), Cell("logged", "slowref2d", 1)]
    plan = plan_references(cells, PROFILES["smoke"])
    assert list(plan.waits) == ["logged__slowref2d__seed1"] and len(plan.tasks) == 1


# the ready queue ------------------------------------------------------------------------------------------
def test_dispatch_starts_references_first_holds_their_cells_and_runs_the_others_meanwhile():
    """Two workers: the reference task is handed out first; the independent cells start (and end) while it
    runs; its cells start only after it has finished."""
    ref = ReferenceTask("slowref2d", (), "fake", "coarse")
    waiting = [Cell("logged", "slowref2d", s) for s in range(2)]
    free = [Cell("logged", "plain2d", s) for s in range(3)]
    cells = [waiting[0], free[0], waiting[1], free[1], free[2]]  # dispatch order mixes them
    plan = ReferencePlan([ref], {c.id: ref for c in waiting})
    log, lock, free_done = [], threading.Lock(), threading.Event()

    def work(item):
        with lock:
            log.append(("start", item.id, time.monotonic()))
        if item == ref:
            assert free_done.wait(10), "the independent cells did not run while the reference was built"
        time.sleep(0.01)
        with lock:
            log.append(("end", item.id, time.monotonic()))
            if sum(e == "end" and i.startswith("logged__plain2d") for e, i, _ in log) == len(free):
                free_done.set()
        return ReferenceResult(item, True, 0.0) if item == ref else item.id

    with ThreadPoolExecutor(max_workers=2) as ex:
        out = list(dispatch(DispatchQueue(cells, plan), lambda item: ex.submit(work, item), 2,
                            lambda item, fut: fut.result()))
    starts = [i for e, i, _ in log if e == "start"]
    assert starts[0] == ref.id  # the reference task first
    ref_end = next(t for e, i, t in log if e == "end" and i == ref.id)
    for c in waiting:
        assert next(t for e, i, t in log if e == "start" and i == c.id) >= ref_end, c.id
    for c in free:
        assert next(t for e, i, t in log if e == "start" and i == c.id) < ref_end, c.id
    assert sorted(map(str, (r if isinstance(r, str) else r.task.id for _, r in out))) == sorted(
        [ref.id] + [c.id for c in cells])


def test_dispatch_keeps_at_most_jobs_running_and_the_cells_in_their_order():
    ref = ReferenceTask("slowref2d", (), "fake", "coarse")
    cells = [Cell("logged", p, s) for s in range(3) for p in ("plain2d", "slowref2d")]
    plan = ReferencePlan([ref], {c.id: ref for c in cells if c.problem == "slowref2d"})
    running, most, started, lock = [0], [0], [], threading.Lock()

    def work(item):
        with lock:
            running[0] += 1
            most[0] = max(most[0], running[0])
            started.append(item.id)
        time.sleep(0.02)
        with lock:
            running[0] -= 1
        return ReferenceResult(item, True, 0.0) if item == ref else item.id

    with ThreadPoolExecutor(max_workers=8) as ex:  # more threads than jobs: dispatch is what keeps it at 2
        list(dispatch(DispatchQueue(cells, plan), lambda item: ex.submit(work, item), 2, lambda i, f: f.result()))
    assert most[0] == 2 and started[0] == ref.id
    waiting = [c.id for c in cells if c.problem == "slowref2d"]
    assert [i for i in started if i in waiting] == waiting  # released in their dispatch order


def test_a_failed_reference_task_releases_its_cells():
    ref = ReferenceTask("slowref2d", (), "fake", "coarse")
    cells = [Cell("logged", "slowref2d", 0)]
    queue = DispatchQueue(cells, ReferencePlan([ref], {cells[0].id: ref}))
    with ThreadPoolExecutor(max_workers=1) as ex:
        out = [r for _, r in dispatch(queue, lambda item: ex.submit(
            lambda: ReferenceResult(item, False, 0.0, "RuntimeError: no") if item == ref else item.id), 1,
            lambda i, f: f.result())]
    assert out[0].ok is False and out[1:] == [cells[0].id]


# real engines, fake references ----------------------------------------------------------------------------
def test_local_engine_builds_the_references_first_then_runs_the_cells(fake_plugin, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("LANDAU_TEST_REF_SECONDS", "0.2")
    cells = [Cell("logged", "plain2d", 0), Cell("logged", "slowref2d", 0), Cell("logged", "slowref2d", 1)]
    counts = runner.run(cells, RunContext(PROFILES["smoke"], tmp_path / "run", device="cpu", plugins=(fake_plugin,)))
    assert counts["failed"] == 0
    out = capsys.readouterr().out
    assert "1 reference to build first: the fake reference of slowref2d (coarse)" in out
    assert "built the fake reference of slowref2d (coarse)" in out
    seen = [(e, p) for _, e, p in events(tmp_path)]
    assert seen[:2] == [("ref-start", "slowref2d"), ("ref-end", "slowref2d")]  # before any cell
    assert seen.count(("ref-start", "slowref2d")) == 1  # built once
    assert all(r["status"] == "ok" for r in records(tmp_path / "run").values())


@pytest.mark.slow
@pytest.mark.parametrize("timeout", [[], ["--cell-timeout", "300"]], ids=["pool", "threads"])
def test_process_engine_hands_out_the_reference_first_and_its_cells_after_it(fake_plugin, tmp_path, monkeypatch,
                                                                             timeout):
    """--jobs 2 (worker processes, or under --cell-timeout threads each waiting on a process): independent cells run
    while the reference is built, the cells that need it start after it ended and load it (one build), every record
    is ok. (Which worker logs its start first is a race between two processes: the order of hand-out is the fast
    tests' subject.)"""
    monkeypatch.setenv("LANDAU_TEST_REF_SECONDS", "4")
    out = tmp_path / "run"
    assert main(["run", "--plugin", fake_plugin, "-s", "logged", "-p", "slowref2d", "-p", "plain2d", "--seeds", "0,1",
                 "--profile", "smoke", "--jobs", "2", "--executor", "process", "--quiet", "--out", str(out),
                 *timeout]) == 0
    log = events(tmp_path)
    assert [(e, p) for _, e, p in log if e.startswith("ref")] == [("ref-start", "slowref2d"), ("ref-end", "slowref2d")]
    ref_end = next(t for t, e, _ in log if e == "ref-end")
    waiting = [t for t, e, p in log if e == "cell-start" and p == "slowref2d"]
    free = [t for t, e, p in log if e == "cell-start" and p == "plain2d"]
    assert len(waiting) == 2 and min(waiting) >= ref_end
    assert len(free) == 2 and min(free) < ref_end  # ran meanwhile
    recs = records(out)
    assert len(recs) == 4 and all(r["status"] == "ok" for r in recs.values())


@pytest.mark.slow
def test_dask_engine_builds_the_references_before_the_cells(fake_plugin, tmp_path, monkeypatch):
    """--executor dask (a LocalCluster of two workers): the reference task runs before every cell, once."""
    pytest.importorskip("distributed")
    monkeypatch.setenv("LANDAU_TEST_REF_SECONDS", "1")
    out = tmp_path / "run"
    assert main(["run", "--plugin", fake_plugin, "-s", "logged", "-p", "slowref2d", "-p", "plain2d", "--seeds", "0,1",
                 "--profile", "smoke", "--jobs", "2", "--executor", "dask", "--quiet", "--out", str(out)]) == 0
    seen = [(e, p) for _, e, p in events(tmp_path)]
    assert seen[:2] == [("ref-start", "slowref2d"), ("ref-end", "slowref2d")]
    assert [e for e, _ in seen].count("ref-start") == 1 and [e for e, _ in seen].count("cell-start") == 4
    recs = records(out)
    assert len(recs) == 4 and all(r["status"] == "ok" for r in recs.values())


@pytest.mark.slow
@pytest.mark.parametrize("mode, jobs", [("fail-once", "2"), ("die-once", "2"), ("fail-once", "1")])
def test_a_failed_reference_task_leaves_its_cells_to_run_and_be_recorded(fake_plugin, tmp_path, monkeypatch, capsys,
                                                                         mode, jobs):
    """The reference task fails (an exception, or its worker dies): its cells still run; the first builds the
    reference itself (it succeeds this time), the other loads it; both are recorded ok, as are the others."""
    monkeypatch.setenv("LANDAU_TEST_REF_MODE", mode)
    monkeypatch.setenv("LANDAU_TEST_REF_SECONDS", "0.2")
    out = tmp_path / "run"
    assert main(["run", "--plugin", fake_plugin, "-s", "logged", "-p", "slowref2d", "-p", "plain2d", "--seeds", "0,1",
                 "--profile", "smoke", "--jobs", jobs, "--out", str(out)]) == 0
    assert "could not be built first" in capsys.readouterr().out
    seen = [e for _, e, p in events(tmp_path) if p == "slowref2d" and e.startswith("ref")]
    assert seen == ["ref-start", "ref-fail", "ref-start", "ref-end"]  # failed as a task, built by a cell
    recs = records(out)
    assert len(recs) == 4 and all(r["status"] == "ok" for r in recs.values())


def test_a_reference_that_always_fails_fails_its_cells_with_their_own_message(fake_plugin, tmp_path, monkeypatch):
    """Every build fails: the task's failure is one warning line; the cell that needs the reference is recorded
    failed with its own error (as before reference tasks), and the cell that needs none is ok."""
    monkeypatch.setenv("LANDAU_TEST_REF_MODE", "fail-always")
    said = []
    cells = [Cell("logged", "slowref2d", 0), Cell("logged", "plain2d", 0)]
    counts = runner.run(cells, RunContext(PROFILES["smoke"], tmp_path / "run", device="cpu", plugins=(fake_plugin,),
                                          quiet=True), echo=said.append)
    assert said == ["warning: the fake reference of slowref2d (coarse) could not be built first (RuntimeError: the "
                    "fake build always fails); its 1 cell(s) build it themselves",
                    "FAILED logged / slowref2d / seed 0: RuntimeError: the fake build always fails"]
    recs = records(tmp_path / "run")
    assert recs["logged__plain2d__seed0"]["status"] == "ok" and recs["logged__slowref2d__seed0"]["status"] == "failed"
    assert counts["failed"] == 1
    assert [e for _, e, p in events(tmp_path)].count("ref-fail") == 2  # the task tried, then the cell


# the real thing -------------------------------------------------------------------------------------------
@pytest.mark.slow
def test_tiny2d_builds_its_sde_reference_once_as_a_task_with_two_workers(tmp_path, monkeypatch):
    """End to end with a real (coarse SDE) reference: the run plans one reference task, builds it once, and the
    two cells that need it load the cached file, byte for byte the file a build inside a cell writes."""
    load_plugins([TINY_PLUGIN])
    cells = [Cell("still", "tiny2d", s) for s in range(2)]
    assert problems.reference_kind(problems.get_problem("tiny2d")) == "sde"
    assert [t.describe() for t in plan_references(cells, PROFILES["smoke"]).tasks] == ["the sde reference of tiny2d (coarse)"]
    out = tmp_path / "run"
    assert main(["run", "--plugin", TINY_PLUGIN, "-s", "still", "-p", "tiny2d", "--seeds", "0,1", "--profile",
                 "smoke", "--jobs", "2", "--quiet", "--out", str(out)]) == 0
    recs = records(out)
    assert len(recs) == 2 and all(r["status"] == "ok" for r in recs.values())
    files = sorted(refbase.cache_dir().glob("tiny2d-sde-coarse-*.npz"))
    assert len(files) == 1 and plan_references(cells, PROFILES["smoke"]) == ReferencePlan()
    cell_cache = tmp_path / "cell-cache"
    monkeypatch.setenv("LANDAU_REFERENCE_CACHE", str(cell_cache))
    refbase._MEMORY.clear()
    assert run_cell(cells[0], PROFILES["smoke"], "cpu").ok  # builds it inside the cell, as before reference tasks
    built_by_cell = next(cell_cache.glob("tiny2d-sde-coarse-*.npz"))
    assert built_by_cell.name == files[0].name and built_by_cell.read_bytes() == files[0].read_bytes()
