"""Issue 30, the hostile-user probe: what a run directory, a manifest, a record or a plugin may no longer do.
Each test failed on c83b22e (the probe's commit) and passes now: a run directory never runs code, records and
manifests of another profile or shape are not trusted, unbounded work is refused up front, a failing plugin
metric loses only its own rows, a plugin cannot move the run, and an interrupt only promises a resume when a
run was in progress."""
import dataclasses
import json
import os
import textwrap
import zipfile
from pathlib import Path

import numpy as np
import pytest

from harness.store import tables as store
from harness.cli import main
from harness.plan.profiles import PROFILES

HERE = Path(__file__).parent
PLUGIN = str(HERE / "harness_plugin.py")


def still_run(out: Path, *extra) -> int:
    """A finished millisecond run (plugin problem tiny2d, solver still), in this process."""
    return main(["run", "-s", "still", "-p", "tiny2d", "--plugin", PLUGIN, "--out", str(out), "--quiet",
                 "--jobs", "1", "--profile", "smoke", *extra])


def error_line(capsys) -> str:
    """The one `error: ...` line the command printed (asserting it is one line and no traceback)."""
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = [ln for ln in err.splitlines() if ln.startswith("error:")]
    assert len(lines) == 1, err
    return lines[0]


def edit_manifest(run_dir: Path, edit) -> None:
    manifest = json.loads((run_dir / "manifest.json").read_text())
    edit(manifest)
    (run_dir / "manifest.json").write_text(json.dumps(manifest))


@pytest.fixture(scope="module")
def finished_once(tmp_path_factory):
    """One finished run for the module (registries restored after it, as conftest does for each test)."""
    import harness.plan.plugins
    import metrics.specs
    import problems.cases.registry
    import solvers.registry
    saved = (dict(problems.cases.registry._FACTORIES), dict(solvers.registry._SOLVERS), set(harness.plan.plugins._LOADED),
             dict(metrics.specs.METRICS))
    out = tmp_path_factory.mktemp("trust") / "base"
    try:
        assert still_run(out) == 0
    finally:
        for registry, before in zip((problems.cases.registry._FACTORIES, solvers.registry._SOLVERS, harness.plan.plugins._LOADED,
                                     metrics.specs.METRICS), saved):
            registry.clear()
            registry.update(before)
    return out


@pytest.fixture
def finished(finished_once, tmp_path, capsys):
    """A copy of the module's finished run, for a test to damage."""
    import shutil
    out = tmp_path / "base"
    shutil.copytree(finished_once, out, symlinks=True)
    capsys.readouterr()
    return out


def evil_plugin(run_dir: Path) -> tuple[Path, Path]:
    """A .py planted in the run directory that, if imported, writes a marker file; listed in the manifest."""
    marker = run_dir.parent / "EXECUTED"
    evil = run_dir / "cells" / "evil.py"
    evil.write_text(f"open({str(marker)!r}, 'w').write('ran')\n")
    edit_manifest(run_dir, lambda m: m["config"]["plugins"].append(str(evil)))
    return evil, marker


# a run directory never runs code -------------------------------------------------------------------------------
def test_report_does_not_import_the_plugins_a_manifest_lists(finished, capsys):
    evil, marker = evil_plugin(finished)
    assert main(["report", str(finished)]) == 0
    err = capsys.readouterr().err
    assert not marker.exists()
    assert "not loaded" in err and str(evil) in err
    assert (finished / "summary.md").exists()


def test_resume_refuses_unnamed_manifest_plugins_and_runs_none(finished, capsys):
    evil, marker = evil_plugin(finished)
    assert main(["run", "--resume", str(finished), "--quiet", "--plugin", PLUGIN]) == 2
    line = error_line(capsys)
    assert not marker.exists()
    assert str(evil) in line and "--plugin" in line
    # naming every plugin resumes (the evil file is then the user's own choice, and it runs)
    assert main(["run", "--resume", str(finished), "--quiet", "--plugin", PLUGIN, "--plugin", str(evil)]) == 0
    assert marker.read_text() == "ran"


# manifests and records of another shape or profile -----------------------------------------------------------
@pytest.mark.parametrize("edit, what", [
    (lambda m: m.__setitem__("cells", 5), "'cells' is 5"),
    (lambda m: m.__setitem__("cells", None), "'cells' is null"),
    (lambda m: m["cells"][0].__setitem__(2, -1), "malformed cell"),
    (lambda m: m["cells"][0].__setitem__(2, True), "malformed cell"),
    (lambda m: m["config"].__setitem__("diagnosis", [1, 2]), "'diagnosis' is not an object"),
])
def test_a_malformed_manifest_is_one_line(finished, capsys, edit, what):
    edit_manifest(finished, edit)
    assert main(["run", "--resume", str(finished), "--quiet", "--plugin", PLUGIN]) == 2
    assert what in error_line(capsys)


def test_resume_with_seeds_alone_is_refused(finished, capsys):
    assert main(["run", "--resume", str(finished), "--seeds", "5,6", "--quiet", "--plugin", PLUGIN]) == 2
    assert "--seeds '5,6' needs the cells too" in error_line(capsys)
    assert sorted(p.name for p in (finished / "cells").glob("*.json")) == ["still__tiny2d__seed0.json"]


@pytest.mark.slow
def test_a_record_of_another_config_is_left_out_of_the_report_and_rerun_on_resume(finished, capsys):
    path = store.cell_path(finished, "still__tiny2d__seed0")
    rec = json.loads(path.read_text())
    assert rec["config"]["n"] == 64
    rec["config"]["n"] = 99999
    path.write_text(json.dumps(rec))
    assert main(["report", str(finished), "--plugin", PLUGIN]) == 0
    err = capsys.readouterr().err
    assert "still__tiny2d__seed0" in err and "n = 99999" in err
    assert "still" not in (finished / "metrics.csv").read_text()
    assert still_run(finished.parent / "unused", "--seeds", "0") == 0  # an independent run still works
    capsys.readouterr()
    assert main(["run", "--resume", str(finished), "--quiet", "--plugin", PLUGIN]) == 0
    assert json.loads(path.read_text())["config"]["n"] == 64  # ran again with the run's own config
    assert any(p.name.startswith("still__tiny2d__seed0.json.corrupt") for p in (finished / "cells").iterdir())


def test_a_manifest_relabelled_to_another_profile_reports_no_foreign_record(finished, capsys):
    edit_manifest(finished, lambda m: m["config"].__setitem__("profile", "quick"))
    assert main(["report", str(finished), "--plugin", PLUGIN]) == 0
    err = capsys.readouterr().err
    assert "made with profile 'smoke', the run's is 'quick'" in err
    assert "still" not in (finished / "metrics.csv").read_text()


# unbounded work is refused before anything runs ----------------------------------------------------------------
@pytest.mark.parametrize("args, words", [
    (["-s", "blob", "-p", "bkw2d", "--set", "dt=none", "--set", "dt_max=1e-12"], "5e+12 steps of dt_max = 1e-12"),
    (["-s", "sbp", "-p", "bkw2d", "--set", "iters_per_step=100000000"], "optimizer steps"),
    (["-s", "pinn_pm_particle", "-p", "bkw2d", "--set", "iters=1000000000"], "1e+09 optimizer steps"),
    (["-s", "sbp", "-p", "bkw2d", "--set", "bkw2d.grid_points=20000"], "lower bkw2d.grid_points"),
])
def test_unbounded_work_is_refused_up_front(tmp_path, capsys, args, words):
    out = tmp_path / "r"
    assert main(["run", *args, "--out", str(out), "--quiet"]) == 2
    assert words in error_line(capsys)
    assert not (out / "cells").exists()


def test_the_size_check_names_a_count_that_is_not_an_int():
    from harness.plan.cell import Cell
    from harness.plan.limits import SizeError, check_cells

    @dataclasses.dataclass(frozen=True)
    class Odd:
        n: str = "many"
    import solvers
    real = solvers.get_solver("blob").profile_config
    try:
        solvers.get_solver("blob").profile_config = classmethod(lambda cls, profile, problem, **kw: Odd())
        with pytest.raises(SizeError, match="config field n = 'many' is not an int"):
            check_cells([Cell("blob", "bkw2d", 0)], "quick")
    finally:
        solvers.get_solver("blob").profile_config = real


def test_a_particle_file_claiming_huge_arrays_is_skipped_without_decompressing(finished, capsys):
    from harness.report.figures import MAX_PARTICLE_FILE_ELEMENTS, npz_elements
    path = store.particles_path(finished, "still__tiny2d__seed0")
    header = np.lib.format.header_data_from_array_1_0(np.zeros((1, 2), np.float32))
    header["shape"] = (200_000_000, 3)
    with zipfile.ZipFile(path, "w") as zf:  # a header that claims 6e8 numbers, and no data behind it
        with zf.open("x0.npy", "w") as fh:
            np.lib.format.write_array_header_1_0(fh, header)
    assert npz_elements(path) == 600_000_000 > MAX_PARTICLE_FILE_ELEMENTS
    assert main(["report", str(finished), "--plugin", PLUGIN]) == 0
    assert f"particle file {path.name} holds more than" in capsys.readouterr().err


# plugins: a bad dimension, a failing metric, a chdir --------------------------------------------------------------
@pytest.mark.parametrize("dim", [1, 7])
def test_a_plugin_problem_of_an_unsupported_dimension_is_refused(tmp_path, capsys, dim):
    plugin = tmp_path / "dims.py"
    plugin.write_text(textwrap.dedent(f"""
        import dataclasses
        from problems import get_problem, register_problem
        @register_problem("odd{dim}d")
        def f():
            return dataclasses.replace(get_problem("truncated2d"), name="odd{dim}d", dim={dim})
    """))
    for verb in (["list"], ["references", "-p", "bkw2d"]):
        assert main([*verb, "--plugin", str(plugin)]) == 2
        assert f"dim {dim} is not supported; valid dims: 2, 3" in error_line(capsys)


def test_a_plugin_metric_that_raises_loses_only_its_rows(tmp_path):
    from harness.plan.cell import Cell
    from harness.execute.run_cell import run_cell
    from metrics import specs

    def flaky(snap):
        if snap.t > 0.75:
            raise RuntimeError("boom")
        return 1.5
    specs.register_metric(specs.MetricSpec("flaky", "fails at the last snapshot", flaky))
    import harness.plan.plugins
    harness.plan.plugins.load_plugins([PLUGIN])
    rec = run_cell(Cell("still", "tiny2d", 0), PROFILES["smoke"], "cpu")
    assert rec.ok
    assert [(r["t"], r["value"]) for r in rec.rows if r["metric"] == "flaky"] == [(0.5, 1.5)]
    assert {r["metric"] for r in rec.rows if r["t"] == 1.0} >= {"energy_drift", "cov_err"}
    assert "metric flaky failed at t = 1: RuntimeError: boom" in rec.warnings


@pytest.mark.slow
def test_a_plugin_that_changes_directory_does_not_move_the_run(tmp_path, monkeypatch, capsys):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    mover = tmp_path / "mover.py"
    mover.write_text(f"import os\nos.chdir({str(elsewhere)!r})\n")
    monkeypatch.chdir(tmp_path)
    assert main(["run", "-s", "still", "-p", "tiny2d", "--plugin", PLUGIN, "--plugin", str(mover), "--out", "rel",
                 "--quiet", "--jobs", "1", "--profile", "smoke"]) == 0
    assert (tmp_path / "rel" / "manifest.json").exists()
    assert not (elsewhere / "rel").exists()


# an interrupt promises a resume only when a run was in progress --------------------------------------------------
def test_an_interrupted_report_does_not_offer_a_resume(finished, capsys, monkeypatch):
    import harness.cli.report

    def interrupted(run_dir):
        raise KeyboardInterrupt
    monkeypatch.setattr(harness.cli.report, "rebuild_outputs", interrupted)
    assert main(["report", str(finished), "--plugin", PLUGIN]) == 130
    err = capsys.readouterr().err
    assert "--resume" not in err and "no run was in progress" in err


def test_an_interrupt_while_importing_a_plugin_does_not_offer_a_resume(tmp_path, capsys):
    plugin = tmp_path / "slow_import.py"
    plugin.write_text("raise KeyboardInterrupt\n")
    out = tmp_path / "r"
    assert main(["run", "-s", "sbp", "-p", "bkw2d", "--plugin", str(plugin), "--out", str(out), "--quiet"]) == 130
    assert "--resume" not in capsys.readouterr().err
    assert not out.exists()


@pytest.mark.slow
def test_an_interrupted_run_names_its_directory_for_the_resume(tmp_path, capsys, monkeypatch):
    import harness.execute.runner

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt
    monkeypatch.setattr(harness.execute.runner, "run", interrupted)
    out = tmp_path / "r"
    assert still_run(out) == 130
    assert f"--resume {str(out)!r} continues" in capsys.readouterr().err


@pytest.mark.slow
def test_paths_are_resolved_before_plugins_load(tmp_path, monkeypatch):
    """The resolved --out is absolute (what executors and workers receive)."""
    monkeypatch.chdir(tmp_path)
    assert still_run(Path("rel2")) == 0
    manifest = json.loads((tmp_path / "rel2" / "manifest.json").read_text())
    assert all(os.path.isabs(p) for p in manifest["config"]["plugins"])


@pytest.mark.parametrize("seconds", ["2200000", "nan", "0", "-5"])
def test_a_cell_timeout_out_of_range_is_one_line(tmp_path, capsys, seconds):
    out = tmp_path / "r"
    assert main(["run", "-s", "sbp", "-p", "bkw2d", "--cell-timeout", seconds, "--out", str(out), "--quiet"]) == 2
    assert "at most 604800 (7 days)" in error_line(capsys)
    assert not out.exists()
