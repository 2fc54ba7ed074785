"""A run directory answers to what ran, not to today's code (issue 44): a smoke run of all 26 cells made at c83b22e
(tests/fixtures/run_c83b22e: its manifest and cell records as that commit wrote them, without the particle files)
is reported with every cell by today's code, `--resume` of it runs nothing, and a cell whose stated config today's
code no longer plans is kept and named, never rerun or left out."""
import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

import harness.execute.runner
from harness.cli import main

pytestmark = pytest.mark.slow  # each report of the 26 cells takes about 20 s

FIXTURE = Path(__file__).parent / "fixtures" / "run_c83b22e"
OLD_COMMIT = "c83b22ee3974abdab412d4ccd6158f198ad75276"


@pytest.fixture
def old_run(tmp_path, monkeypatch):
    """A copy of the c83b22e run; running any cell in it fails the test (a resume must run nothing)."""
    run = tmp_path / "old"
    shutil.copytree(FIXTURE, run)

    def no_cells(executor, cells, *args, **kwargs):
        assert not list(cells), f"a resume of the old run ran {len(list(cells))} cell(s)"
        return iter(())
    monkeypatch.setattr(harness.execute.runner, "run_cells", no_cells)
    return run


def _cells_in_tables(run: Path) -> set:
    table = pd.read_csv(run / "metrics.csv")
    return set(zip(table.solver, table.problem, table.seed))


def test_today_s_report_keeps_all_26_cells_of_a_c83b22e_run(old_run, capsys):
    assert main(["report", str(old_run)]) == 0
    assert len(_cells_in_tables(old_run)) == 26
    assert "is not reported" not in capsys.readouterr().err
    assert not list((old_run / "cells").glob("*.set-aside*"))


def test_a_resume_of_the_c83b22e_run_runs_nothing_and_keeps_its_commit(old_run, capsys):
    before = {p.name: p.read_bytes() for p in (old_run / "cells").glob("*.json")}
    assert main(["run", "--resume", str(old_run), "--quiet"]) == 0
    assert {p.name: p.read_bytes() for p in (old_run / "cells").glob("*.json")} == before
    manifest = json.loads((old_run / "manifest.json").read_text())
    assert manifest["provenance"]["commits"] == [OLD_COMMIT]  # nothing ran at today's commit
    assert len(_cells_in_tables(old_run)) == 26


def test_a_cell_from_an_older_configuration_is_kept_named_and_not_rerun(old_run, capsys):
    """The issue's case: sbp's max_move was 0.0036 where today's code plans 0.0 (edited into the fixture's record:
    at c83b22e's smoke profile the two agreed)."""
    path = old_run / "cells" / "sbp__bkw2d__seed0.json"
    record = json.loads(path.read_text())
    record["config"]["max_move"] = 0.0036
    path.write_text(json.dumps(record))
    assert main(["run", "--resume", str(old_run)]) == 0
    out = capsys.readouterr().out
    assert "1 finished cell(s) ran with an older configuration" in out and "max_move = 0.0036" in out
    assert json.loads(path.read_text())["config"]["max_move"] == 0.0036  # not rerun, not set aside
    summary = (old_run / "summary.md").read_text()
    assert "## Cells from an older configuration" in summary
    assert "- sbp__bkw2d__seed0: its config says max_move = 0.0036, today's code gives 0.0" in summary
    assert ("sbp", "bkw2d", 0) in _cells_in_tables(old_run)


@pytest.mark.parametrize("before, ran, expected", [
    (None, True, ["new"]),                                              # a new run
    ({"git_commit": "old"}, False, ["old"]),                            # a resume that runs nothing
    ({"git_commit": "old"}, True, ["old", "new"]),                      # a resume that runs cells at another commit
    ({"git_commit": "new", "commits": ["old", "new"]}, True, ["old", "new"]),
])
def test_the_manifest_lists_the_commits_that_ran_cells(before, ran, expected):
    from harness.execute.runner import _commits
    from harness.store.manifest import RunConfig, RunManifest
    earlier = RunManifest(RunConfig("smoke"), before, ()) if before is not None else None
    assert _commits(earlier, {"git_commit": "new"}, ran) == expected


def test_compare_never_reads_a_mixed_run_as_one_commit():
    from harness.report.compare import _run_commit
    assert _run_commit({"git_commit": "b" * 40, "commits": ["a" * 40, "b" * 40]}) == f"mixed: {'a' * 12}, {'b' * 12}"
    assert _run_commit({"git_commit": "b" * 40, "commits": ["a" * 40]}) == "a" * 40
    assert _run_commit({"git_commit": "b" * 40}) == "b" * 40
