"""Issue 44, the plan: no cell is planned twice by any verb, a resume with a selection never shrinks the plan its
manifest records, and the summary says how many planned cells have no record."""
import json

import pandas as pd
import pytest

from harness.plan.profiles import PROFILES
from harness.cli import main
from harness.execute import runner
from harness.plan.cell import Cell, merged_plan, unique_cells
from harness.plan.diagnosis import plan_diagnosis
from harness.plan.missing import missing_line, missing_planned
from harness.store.manifest import read_manifest
from tests.test_storage_safety import finished_run
from harness.plan.context import RunContext


@pytest.fixture
def captured(monkeypatch):
    """runner.run replaced by a recorder of what it was given (nothing runs)."""
    calls = []

    def fake_run(cells, run_dir, config, **kw):
        calls.append({"cells": list(cells), "config": config, "planned": kw.get("planned")})
        return {"cells": len(cells), "already_done": 0, "failed": 0}

    monkeypatch.setattr(runner, "run", fake_run)
    return calls


TWICE = {
    "run": ["run", "-s", "blob", "-s", "blob", "-p", "bkw2d", "-p", "bkw2d"],
    "sweep": ["sweep", "-s", "blob", "-s", "blob", "-p", "bkw2d", "-p", "bkw2d"],
    "diagnose": ["diagnose", "-p", "bkw2d", "-p", "bkw2d", "--set", "drift_score=exact",
                 "--variants", "default,drift_score=exact"],
}


@pytest.mark.parametrize("verb", sorted(TWICE))
def test_no_verb_plans_a_cell_twice_and_it_says_so(tmp_path, capsys, captured, verb):
    assert main([*TWICE[verb], "--profile", "smoke", "--out", str(tmp_path / "run"), "--quiet"]) == 0
    cells = captured[0]["cells"]
    assert len(cells) == len({c.id for c in cells}) and len(cells) >= 1
    out = capsys.readouterr().out
    assert "cell(s) named more than once are planned once" in out
    if verb == "run":
        assert [c.id for c in cells] == ["blob__bkw2d__seed0"]


def test_coinciding_diagnosis_variants_are_one_cell_named_by_the_first():
    cells, names = plan_diagnosis(["bkw2d"], PROFILES["smoke"], {"drift_score": "exact"}, only=["default", "drift_score=exact"])
    kept, repeated = unique_cells(cells)
    assert len(kept) == 1 and len(repeated) == 1
    assert names == {("bkw2d", "pinn_pm_particle", kept[0].overrides): "default"}


def test_runner_runs_a_cell_given_twice_once(tmp_path, monkeypatch):
    ran = []
    monkeypatch.setattr(runner, "run_cells", lambda context, todo, *a, **k: ran.extend(todo) or iter(()))
    monkeypatch.setattr(runner, "rebuild_outputs", lambda *a, **k: None)
    cell = Cell("blob", "bkw2d", 0)
    runner.run([cell, cell], RunContext(PROFILES["smoke"], tmp_path / "run", quiet=True))
    assert ran == [cell]
    assert list(read_manifest(tmp_path / "run").cells) == [cell.to_json()]


def test_a_resume_with_a_selection_keeps_the_whole_plan(tmp_path, captured):
    run = finished_run(tmp_path / "run")
    raw = json.loads((run / "manifest.json").read_text(encoding="utf-8"))
    raw["config"]["seeds"] = [0, 1]
    raw["cells"] = [["blob", "bkw2d", 0, {}], ["blob", "bkw2d", 1, {}], ["sbp", "bkw2d", 0, {}]]
    (run / "manifest.json").write_text(json.dumps(raw), encoding="utf-8")
    assert main(["run", "--resume", str(run), "-s", "blob", "-p", "bkw2d", "--seeds", "1", "--quiet"]) == 0
    call = captured[0]
    assert [c.id for c in call["cells"]] == ["blob__bkw2d__seed1"]
    assert [c.to_json() for c in call["planned"]] == raw["cells"]
    assert call["config"].seeds == (0, 1) or list(call["config"].seeds) == [0, 1]
    assert sorted(call["config"].solvers) == ["blob", "sbp"]


def test_runner_records_the_union_of_the_plan_and_the_cells(tmp_path, monkeypatch):
    monkeypatch.setattr(runner, "run_cells", lambda *a, **k: iter(()))
    monkeypatch.setattr(runner, "rebuild_outputs", lambda *a, **k: None)
    old = [Cell("blob", "bkw2d", 0), Cell("blob", "bkw2d", 1)]
    runner.run([Cell("blob", "bkw2d", 1), Cell("blob", "bkw2d", 2)], RunContext(PROFILES["smoke"], tmp_path / "run",
                                                                                quiet=True), planned=old)
    assert [c[2] for c in read_manifest(tmp_path / "run").cells] == [0, 1, 2]
    assert merged_plan(old, old[::-1]) == old


def test_missing_planned_cells_are_counted_from_ok_and_failed_records():
    manifest = {"cells": [["blob", "bkw2d", 0, {}], ["blob", "bkw2d", 1, {}], ["blob", "bkw2d", 2, {"n": 10}],
                          ["sbp", "bkw2d", 0, {}]]}
    timings = pd.DataFrame([{"solver": "blob", "problem": "bkw2d", "seed": 0, "overrides": "", "solve_s": 1.0}])
    failures = pd.DataFrame([{"solver": "sbp", "problem": "bkw2d", "seed": 0, "overrides": "", "error": "x"}])
    assert [c.id for c in missing_planned(manifest, timings, failures)] == ["blob__bkw2d__seed1",
                                                                             "blob__bkw2d__seed2__n=10"]
    line = missing_line(manifest, timings, failures)
    assert line[0].startswith("**2 of 4 planned cells have no record**") and line[1] == ""
    assert missing_line({"cells": manifest["cells"][:1]}, timings, failures) == []
    assert len(missing_planned(manifest, pd.DataFrame(), pd.DataFrame())) == 4


def test_the_summary_of_a_run_with_unrecorded_cells_says_how_many(tmp_path):
    run = finished_run(tmp_path / "run")
    raw = json.loads((run / "manifest.json").read_text(encoding="utf-8"))
    raw["cells"].append(["blob", "bkw2d", 1, {}])
    (run / "manifest.json").write_text(json.dumps(raw), encoding="utf-8")
    assert main(["report", str(run)]) == 0
    summary = (run / "summary.md").read_text(encoding="utf-8")
    assert "**1 of 2 planned cells have no record** (not run yet, interrupted, or set aside: blob / bkw2d / seed 1)" in summary
