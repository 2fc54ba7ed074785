"""benchmarks/frontier.py (the frontier over several runs of one commit) and benchmarks/bench_cost_in_n.py (cost
exponents by CPU time): their input checks and arithmetic, without running a sweep."""
import json
import shutil
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

import bench_cost_in_n  # noqa: E402
import frontier as frontier_script  # noqa: E402

FIXTURE = ROOT / "tests" / "fixtures" / "run_c83b22e"


def _run_copy(tmp_path: Path, name: str, commit: str | None = None, profile: str | None = None) -> Path:
    """A run directory with the fixture's manifest (commit / profile replaced) and no cells."""
    run = tmp_path / name
    run.mkdir()
    data = json.loads((FIXTURE / "manifest.json").read_text())
    if commit is not None:
        data["provenance"]["git_commit"] = commit
    if profile is not None:
        data["config"]["profile"] = profile
    (run / "manifest.json").write_text(json.dumps(data))
    return run


@pytest.mark.parametrize("field", ["commit", "profile"])
def test_runs_of_another_commit_or_profile_are_refused_in_one_line(tmp_path, capsys, field):
    a = _run_copy(tmp_path, "a")
    b = _run_copy(tmp_path, "b", **({"commit": "0" * 40} if field == "commit" else {"profile": "paper"}))
    assert frontier_script.main([str(a), str(b), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "differ in (commit, profile)" in err
    assert not (tmp_path / "out").exists()


def test_a_path_that_is_not_a_run_is_refused(tmp_path, capsys):
    assert frontier_script.main([str(tmp_path), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "is not a run directory" in err and "\n" not in err


def test_runs_without_records_are_refused(tmp_path, capsys):
    assert frontier_script.main([str(_run_copy(tmp_path, "a")), "--out", str(tmp_path / "out")]) == 2
    assert "no trusted cell record" in capsys.readouterr().err


def test_a_problem_not_in_the_runs_is_refused(tmp_path, capsys):
    run = tmp_path / "run"
    shutil.copytree(FIXTURE, run)
    assert frontier_script.main([str(run), "--out", str(tmp_path / "out"), "--problem", "nosuch"]) == 2
    err = capsys.readouterr().err.strip()
    assert "nosuch not in the runs" in err and "bkw2d" in err


def test_a_cell_in_two_runs_is_counted_once(tmp_path, capsys):
    """The same run given twice (every cell id repeated) loads the rows of one copy, and says how many it dropped."""
    run = tmp_path / "run"
    shutil.copytree(FIXTURE, run)
    once, timings_once, *_ = frontier_script.load_runs([run])
    twice, timings_twice, *_ = frontier_script.load_runs([run, run])
    assert len(once) > 0 and len(twice) == len(once) and len(timings_twice) == len(timings_once)
    n_cells = len(list((run / "cells").glob("*.json")))
    assert f"note: {n_cells} cell(s) of {run} are also in another run" in capsys.readouterr().err


def test_an_ok_copy_of_a_cell_wins_over_a_failed_one(tmp_path, capsys):
    """The first run holds a failed record of a cell the second holds ok: the ok one is counted (its rows), once."""
    good = tmp_path / "good"
    shutil.copytree(FIXTURE, good)
    bad = tmp_path / "bad"
    shutil.copytree(FIXTURE, bad)
    path = sorted((bad / "cells").glob("*.json"))[0]
    data = json.loads(path.read_text())
    data.update(status="failed", error="boom", rows=[], certificates=[], floors=[])
    path.write_text(json.dumps(data))
    both, *_ = frontier_script.load_runs([bad, good])
    once, *_ = frontier_script.load_runs([good])
    assert len(both) == len(once) > 0  # the failed copy kept would drop that cell's rows


@pytest.mark.parametrize("text", ["blob", "blob=", "=100", "blob=1,x", "blob=1", "blob=100,-5"])
def test_a_bad_ladder_is_refused(text):
    with pytest.raises(ValueError, match="expected SOLVER=N1,N2"):
        bench_cost_in_n.parse_ladder(text)


def test_ladder_and_exponent_arithmetic():
    assert bench_cost_in_n.parse_ladder("rbm_blob=1000,10000") == ("rbm_blob", (1000, 10000))
    assert bench_cost_in_n.exponent([1e3, 1e4, 1e5], [2.0, 20.0, 200.0]) == pytest.approx(1.0, abs=1e-12)
    assert bench_cost_in_n.exponent([1e3, 2e3, 4e3], [1.0, 4.0, 16.0]) == pytest.approx(2.0, abs=1e-12)
    assert bench_cost_in_n.exponent([1e3, 1e3], [1.0, 2.0]) != bench_cost_in_n.exponent([1e3, 1e3], [1.0, 2.0])
