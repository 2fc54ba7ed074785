"""Issue 44, one cache key per reference builder: the file a builder reads and writes is the file the planner looks
for and `harness references` names (problems.references.base.reference_cache_path), for every problem that has a
reference; a file of another key (older builder parameters) is not cached, so the reference task rebuilds it."""
import types

import numpy as np
import pytest

import problems
from harness.plan.profiles import PROFILES
from harness.cli import main
from harness.execute.reference_tasks import plan_references
from harness.plan.cell import Cell
from harness.plan.estimate import missing_reference
from problems.references import base, grid, radial, sde

BUILT = [n for n in problems.list_problems() if problems.reference_kind(problems.get_problem(n)) not in (None, "exact")]


class _Path(Exception):
    pass


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("LANDAU_REFERENCE_CACHE", str(tmp_path / "cache"))
    (tmp_path / "cache").mkdir()
    memory = dict(base._MEMORY)
    base._MEMORY.clear()
    yield tmp_path / "cache"
    base._MEMORY.clear()
    base._MEMORY.update(memory)


def test_every_kind_is_built_by_some_problem():
    kinds = {problems.reference_kind(problems.get_problem(n)) for n in BUILT}
    assert kinds == {"grid", "radial", "sde"}


@pytest.mark.parametrize("resolution", base.RESOLUTIONS)
@pytest.mark.parametrize("name", BUILT)
def test_the_builder_reads_and_writes_the_file_the_planner_looks_for(cache, monkeypatch, name, resolution):
    problem = problems.get_problem(name)

    def capture(path, compute, keys=(), shapes=None):
        raise _Path(path)

    for module in (grid, radial, sde):
        monkeypatch.setattr(module, "cached_arrays", capture)
    with pytest.raises(_Path) as caught:
        problems.reference_for(problem, resolution)
    path = caught.value.args[0]
    assert path == base.reference_cache_path(problem, resolution)
    assert path.parent == cache and path.name.startswith(f"{name}-{problems.reference_kind(problem)}-{resolution}-")
    assert missing_reference(problem, resolution) == problems.reference_kind(problem)
    np.savez(path, f0=np.zeros(1))
    assert missing_reference(problem, resolution) is None


@pytest.mark.parametrize("name", BUILT)
def test_a_file_of_another_key_is_not_cached_and_the_reference_task_rebuilds_it(cache, name):
    problem = problems.get_problem(name)
    kind = problems.reference_kind(problem)
    stale = cache / f"{name}-{kind}-coarse-0123456789abcdef.npz"  # an older builder's key
    np.savez(stale, f0=np.zeros(1))
    assert stale != base.reference_cache_path(problem, "coarse")
    assert missing_reference(problem, "coarse") == kind
    plan = plan_references([Cell("blob", name, 0)], PROFILES["smoke"])
    assert [(t.problem, t.kind, t.resolution) for t in plan.tasks] == [(name, kind, "coarse")]
    assert set(plan.waits) == {f"blob__{name}__seed0"}  # the cell waits for the task, it does not build it


def test_a_fifo_or_a_folder_at_the_key_is_not_cached(cache):
    import os
    problem = problems.get_problem(BUILT[0])
    path = base.reference_cache_path(problem, "coarse")
    os.mkfifo(path)
    assert missing_reference(problem, "coarse") is not None


def test_harness_references_names_the_key_file_and_says_a_stale_one_is_built(cache, monkeypatch, capsys):
    name = "anisotropic2d"
    problem = problems.get_problem(name)
    np.savez(cache / f"{name}-grid-coarse-0123456789abcdef.npz", f0=np.zeros(1))
    fake = types.SimpleNamespace(kind="grid", accuracy={})
    monkeypatch.setattr(problems, "reference_for", lambda p, r, progress=False: fake)
    assert main(["references", "-p", name, "--resolution", "coarse"]) == 0
    key = base.reference_cache_path(problem, "coarse").name
    assert f"{name}: grid (coarse) built in" in capsys.readouterr().out
    np.savez(cache / key, f0=np.zeros(1))
    assert main(["references", "-p", name, "--resolution", "coarse"]) == 0
    out = capsys.readouterr().out
    assert f"{name}: grid (coarse) loaded in" in out and f"({key})" in out
