"""Issue 31: `harness report` never builds or writes a reference. The particle figures draw the exact solution or a
reference already in the cache (`problems.references.base.cached_judged`); without one they go without the curve
and say so in one line."""
from pathlib import Path

import pytest

import problems
from problems.references import base
from harness.cli import main

PLUGIN = str(Path(__file__).parent / "harness_plugin.py")


def _files(directory: Path) -> set[str]:
    return {p.name for p in directory.iterdir()}


@pytest.mark.slow
def test_report_never_builds_or_writes_a_reference(tmp_path, monkeypatch, capsys):
    """A finished run of tiny2d (an SDE reference, no exact solution) reported as a report process of its own would
    be (nothing in this process's memory):

    * against an empty read-only cache: exit 0, the cache still empty (the real check: root writes through
      chmod 555), nothing built in memory either, one warning line naming the problem, the figure drawn without
      the reference curve;
    * against the cache the run filled: drawn against the cached reference without a warning, the cache as it
      was (no lock file, no new file)."""
    run = tmp_path / "run"
    assert main(["run", "-s", "still", "-p", "tiny2d", "--plugin", PLUGIN, "--profile", "smoke", "--jobs", "1",
                 "--quiet", "--out", str(run)]) == 0
    filled = base.cache_dir()
    before = _files(filled)
    assert any(name.startswith("tiny2d-sde-coarse-") for name in before)

    empty = tmp_path / "empty-cache"
    empty.mkdir()
    empty.chmod(0o555)
    monkeypatch.setenv("LANDAU_REFERENCE_CACHE", str(empty))
    monkeypatch.setattr(base, "_MEMORY", {})
    capsys.readouterr()
    try:
        assert main(["report", str(run), "--plugin", PLUGIN]) == 0
    finally:
        empty.chmod(0o755)
    assert _files(empty) == set()
    assert base._MEMORY == {}
    err = capsys.readouterr().err
    assert "Traceback" not in err
    warned = [line for line in err.splitlines() if line.startswith("warning: tiny2d:") and "not in the reference cache" in line]
    assert len(warned) == 1, err
    assert (run / "figures" / "tiny2d_marginals.png").exists()

    monkeypatch.setenv("LANDAU_REFERENCE_CACHE", str(filled))
    assert main(["report", str(run), "--plugin", PLUGIN]) == 0
    assert "not in the reference cache" not in capsys.readouterr().err
    assert _files(filled) == before
    assert [key[1:] for key in base._MEMORY] == [("sde", "coarse")]  # read from its cache file


def test_cached_judged_needs_no_cache_for_an_exact_solution_and_is_none_without_a_reference(tmp_path, monkeypatch):
    monkeypatch.setenv("LANDAU_REFERENCE_CACHE", str(tmp_path))
    monkeypatch.setattr(base, "_MEMORY", {})
    bkw = problems.get_problem("bkw2d")
    assert base.cached_judged(bkw, "fine") == (bkw, "exact")
    aniso = problems.get_problem("anisotropic2d")
    assert base.reference_kind(aniso) not in (None, "exact")
    assert base.cached_judged(aniso, "fine") is None  # not built: None, and nothing built or written
    assert base._MEMORY == {} and _files(tmp_path) == set()
