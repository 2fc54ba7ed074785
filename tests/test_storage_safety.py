"""Issue 30, storage safety: nothing the harness writes follows a link out of the run directory or the
reference cache; a read-only or full cache costs a warning, never a cell; text is UTF-8 whatever the
locale; cell records are strict JSON; a name cannot place a file outside the run."""
import dataclasses
import errno
import json
import math
import os
import subprocess
import sys
import textwrap
import types
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from hypothesis import HealthCheck, given, settings, strategies as st

from harness.store import tables as store
from harness.plan.cell import Cell
from harness.cli import main
from harness.store.lock import run_dir_lock
from harness.store.record import CellRecord
from infra.files import UnsafePath, exclusive_lock
from problems.references.base import cached_arrays

ROOT = Path(__file__).resolve().parent.parent


def finished_run(run: Path, certificate: str = "thm5_w1") -> Path:
    """A run directory as `run` leaves it (manifest and one ok record of blob on bkw2d, with the smoke config,
    W1, kinetic energy and an infinite certificate bound), without running anything."""
    rows = [{"t": t, "metric": m, "value": v, "reference": "exact"}
            for t in (0.5, 1.0) for m, v in (("w1", 0.1 * t), ("kinetic_energy", 1.0))]
    certs = [{"t": t, "certificate": certificate, "bound": math.inf, "observed": 0.1, "ratio": math.inf,
              "holds": True, "log10_bound": 400.0, "mc_se": math.nan, "on_snapshot": True} for t in (0.5, 1.0)]
    config = json.loads(json.dumps(dataclasses.asdict(Cell("blob", "bkw2d", 0).make_config("smoke"))))  # as run_cell
    store.write_cell(run, CellRecord("blob", "bkw2d", 0, "blob__bkw2d__seed0", "smoke", "ok", config=config,
                                     rows=rows, wall_time={"stepping": 0.1}, solve_s=0.1, total_s=0.2,
                                     certificates=certs))
    manifest = {"config": {"profile": "smoke", "device": "cpu", "seeds": [0], "solvers": ["blob"],
                           "problems": ["bkw2d"], "overrides": [], "verb": "run", "plugins": [], "executor": "local"},
                "provenance": {}, "cells": [["blob", "bkw2d", 0, {}]]}
    store.atomic_write_text(run / "manifest.json", json.dumps(manifest))
    return run


def precious(path: Path, text: str = "precious: must never change") -> Path:
    path.write_text(text, encoding="utf-8")
    return path


# 1 -- links ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("link", ["symlink", "hardlink"])
def test_a_linked_run_lock_is_refused_in_one_line_and_its_target_kept(tmp_path, capsys, link):
    run = finished_run(tmp_path / "run")
    target = precious(tmp_path / "precious")
    (os.symlink if link == "symlink" else os.link)(target, run / ".lock")
    capsys.readouterr()
    assert main(["report", str(run)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and str(run / ".lock") in err and "refusing to write" in err
    assert target.read_text(encoding="utf-8") == "precious: must never change"
    assert not (run / "summary.md").exists()
    with pytest.raises(UnsafePath):
        with run_dir_lock(run):
            pass


def test_a_symlinked_reference_lock_is_refused_and_the_reference_still_computed(tmp_path):
    cache = tmp_path / "cache"
    cache.mkdir()
    target = precious(tmp_path / "precious")
    (cache / "ref.lock").symlink_to(target)
    with pytest.raises(UnsafePath, match="symbolic link"):
        with exclusive_lock(cache / "ref.lock"):
            pass
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        arrays = cached_arrays(cache / "ref.npz", lambda: {"f0": np.arange(4.0)}, keys=["f0"])
    assert arrays["f0"].tolist() == [0.0, 1.0, 2.0, 3.0]
    assert len(caught) == 1 and "ref.lock" in str(caught[0].message) and "in memory" in str(caught[0].message)
    assert target.read_text(encoding="utf-8") == "precious: must never change"
    assert sorted(p.name for p in cache.iterdir()) == ["ref.lock"]


def test_report_replaces_planted_links_and_never_writes_through_them(tmp_path, capsys):
    run = finished_run(tmp_path / "run")
    (run / "figures").mkdir()
    planted = ["summary.md", "metrics.csv", "index.html", "figures/bkw2d_w1.png", "figures/bkw2d_cert_thm5_w1.png"]
    targets = {}
    for i, name in enumerate(planted):
        targets[name] = precious(tmp_path / f"precious{i}")
        (run / name).symlink_to(targets[name])
    assert main(["report", str(run)]) == 0
    for name in planted:
        assert targets[name].read_text(encoding="utf-8") == "precious: must never change", name
        assert not (run / name).is_symlink() and (run / name).stat().st_size > 0, name
    assert (run / "figures" / "bkw2d_w1.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


# 2 -- a read-only cache, file modes -------------------------------------------------------------------------
def test_a_cached_reference_is_read_without_the_lock(tmp_path):
    """A cache where no lock can be taken (here RUN/ref.lock is a directory: opening it fails as on a
    read-only mount) still serves the reference it holds, and reading creates nothing."""
    np.savez(tmp_path / "ref.npz", f0=np.arange(4.0))

    def compute():
        raise AssertionError("a cached reference was recomputed")

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert cached_arrays(tmp_path / "ref.npz", compute, keys=["f0"])["f0"].tolist() == [0.0, 1.0, 2.0, 3.0]
        assert sorted(p.name for p in tmp_path.iterdir()) == ["ref.npz"]  # no lock file created
        (tmp_path / "ref.lock").mkdir()
        assert cached_arrays(tmp_path / "ref.npz", compute, keys=["f0"])["f0"].tolist() == [0.0, 1.0, 2.0, 3.0]


def test_a_reference_missing_from_an_unwritable_cache_is_computed_in_memory(tmp_path):
    blocker = precious(tmp_path / "home")  # a file where the cache folder would be: mkdir fails, even for root
    path = blocker / "references" / "ref.npz"
    calls = []

    def compute():
        calls.append(1)
        return {"f0": np.full(3, 2.0)}

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        arrays = cached_arrays(path, compute, keys=["f0"])
    assert calls == [1] and arrays["f0"].tolist() == [2.0, 2.0, 2.0]
    assert len(caught) == 1
    message = str(caught[0].message)
    assert "\n" not in message and str(path.parent) in message and "in memory" in message
    assert blocker.read_text(encoding="utf-8") == "precious: must never change"


@pytest.mark.parametrize("mask", [0o022, 0o077, 0o002])
def test_cache_and_run_files_get_the_mode_of_an_ordinary_new_file(tmp_path, mask):
    (tmp_path / "run" / "cells").mkdir(parents=True)
    old = os.umask(mask)
    try:
        cached_arrays(tmp_path / "cache" / "ref.npz", lambda: {"f0": np.ones(2)})
        store.atomic_write_text(tmp_path / "run" / "summary.md", "x")
        store.atomic_write_frame(pd.DataFrame({"a": [1]}), tmp_path / "run" / "metrics.csv")
        store.write_particles(tmp_path / "run" / "cells" / "c.npz", trajectory())
    finally:
        os.umask(old)
    for path in ("cache/ref.npz", "run/summary.md", "run/metrics.csv", "run/cells/c.npz"):
        assert oct((tmp_path / path).stat().st_mode & 0o777) == oct(0o666 & ~mask), path


# 3 -- a full disk ------------------------------------------------------------------------------------------
def disk_full(real):
    """`real` (np.savez or np.savez_compressed) that writes part of its file, then fails as a full disk does."""
    def write(file, **arrays):
        with open(file, "wb") as fh:
            fh.write(b"PK\x03\x04 partial")
        raise OSError(errno.ENOSPC, "No space left on device")
    return write


def trajectory():
    x = torch.zeros(5, 2, dtype=torch.float64)
    return types.SimpleNamespace(times=[0.5, 1.0], particles=[x, x + 1], scores=[-x, None])


def test_a_full_disk_leaves_no_temporary_file_and_the_reference_is_still_used(tmp_path, monkeypatch):
    monkeypatch.setattr(np, "savez", disk_full(np.savez))
    calls = []

    def compute():
        calls.append(1)
        return {"f0": np.arange(3.0)}

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        arrays = cached_arrays(tmp_path / "ref.npz", compute, keys=["f0"])
    assert arrays["f0"].tolist() == [0.0, 1.0, 2.0] and calls == [1]
    assert len(caught) == 1 and "No space left on device" in str(caught[0].message)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ref.lock"]
    monkeypatch.undo()  # space again: the next call computes and keeps it
    assert cached_arrays(tmp_path / "ref.npz", compute, keys=["f0"])["f0"].tolist() == [0.0, 1.0, 2.0]
    assert calls == [1, 1] and sorted(p.name for p in tmp_path.iterdir()) == ["ref.lock", "ref.npz"]


def test_a_full_disk_leaves_no_temporary_particle_file(tmp_path, monkeypatch):
    cells = tmp_path / "cells"
    cells.mkdir()
    monkeypatch.setattr(np, "savez_compressed", disk_full(np.savez_compressed))
    with pytest.raises(OSError, match="No space left"):
        store.write_particles(cells / "c.npz", trajectory())
    assert list(cells.iterdir()) == []


# 4 -- encoding -----------------------------------------------------------------------------------------------
def c_locale() -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONIOENCODING", "LANG", "LANGUAGE")}
    return {**env, "LC_ALL": "C", "PYTHONUTF8": "0"}


@pytest.mark.slow
def test_text_files_are_utf8_under_the_c_locale(tmp_path):
    script = textwrap.dedent("""
        import locale, sys
        from pathlib import Path
        from harness.store import tables as store
        print(locale.getpreferredencoding(False))
        store.atomic_write_text(Path(sys.argv[1]), "\\u2264 \\u03c3")
    """)
    out = subprocess.run([sys.executable, "-c", script, str(tmp_path / "summary.md")], cwd=ROOT, env=c_locale(),
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-500:]
    assert "utf" not in out.stdout.lower()  # the child really ran with a non-UTF-8 locale
    assert (tmp_path / "summary.md").read_bytes() == "≤ σ".encode("utf-8")


@pytest.mark.slow
def test_report_under_the_c_locale_writes_a_utf8_summary(tmp_path):
    run = finished_run(tmp_path / "run")
    path = run / "cells" / "blob__bkw2d__seed0.json"  # with its W1 floor, so that the verdict marks it (✓)
    record = json.loads(path.read_text(encoding="utf-8"))
    record["rows"] += [{"t": r["t"], "metric": "w1_mc_floor", "value": r["value"], "reference": "exact"}
                       for r in record["rows"] if r["metric"] == "w1"]
    path.write_text(json.dumps(record), encoding="utf-8")
    out = subprocess.run([sys.executable, "-m", "harness", "report", str(run)], cwd=ROOT, env=c_locale(),
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-500:]
    summary = (run / "summary.md").read_bytes().decode("utf-8")
    assert "✓" in summary and "blob" in summary  # the verdict's mark: not ASCII


# 5 -- strict JSON records ------------------------------------------------------------------------------------
def refuse_constant(name):
    raise ValueError(f"bare {name} in a record: not JSON")


def same(a, b) -> bool:
    """Equal, with NaN equal to NaN and a float's sign and type kept."""
    if isinstance(a, float) and isinstance(b, float):
        return (math.isnan(a) and math.isnan(b)) or (a == b and math.copysign(1, a) == math.copysign(1, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    return type(a) is type(b) and a == b


number = st.floats(width=64)  # NaN and +-Infinity included
NUMBER_FIELDS = st.sampled_from(["bound", "observed", "ratio", "log10_bound"])


# the numbers are drawn where a record may hold any float: a metric of domain 'real' (energy_drift; "NaN" and
# "Infinity" are names no metric has), the certificates' bounds, info, curves and config; mc_se is a standard error
# (>= 0 or NaN) and a duration finite and >= 0, else the record is damaged (tests/test_record_values.py)
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(values=st.lists(number, min_size=1, max_size=4), cert=st.dictionaries(NUMBER_FIELDS, number, min_size=1),
       mc_se=st.one_of(st.floats(min_value=0, width=64), st.just(math.nan)),
       info=st.dictionaries(st.sampled_from(["steps", "loss", "h_min"]), number),
       curves=st.dictionaries(st.sampled_from(["loss", "lr"]), st.lists(number, max_size=3)),
       solve_s=st.floats(min_value=0, allow_infinity=False, width=64),
       metric=st.sampled_from(["energy_drift", "NaN", "Infinity"]))
def test_records_are_strict_json_and_non_finite_numbers_read_back_exactly(tmp_path, values, cert, mc_se, info, curves,
                                                                          solve_s, metric):
    rows = [{"t": 0.5 * (k + 1), "metric": metric, "value": v, "reference": "NaN" if k else "exact"}
            for k, v in enumerate(values)]
    certs = [{"t": 0.5, "certificate": "-Infinity", "holds": True, "mc_se": mc_se, **cert}]
    rec = CellRecord("sbp", "bkw2d", 0, "sbp__bkw2d__seed0", "smoke", "ok", config={"n": 10, "tol": math.inf},
                     rows=rows, wall_time={"stepping": 2.5}, info=info, curves=curves, solve_s=solve_s,
                     total_s=10.0, certificates=certs)
    store.write_cell(tmp_path, rec)
    text = store.cell_path(tmp_path, rec.cell_id).read_text(encoding="utf-8")
    json.loads(text, parse_constant=refuse_constant)  # strict JSON: no bare Infinity / NaN
    back = store.read_cell(tmp_path, rec.cell_id)
    assert back is not None
    assert same(back.to_json(), rec.to_json())
    assert all(same(getattr(back, f), getattr(rec, f)) for f in
               ("rows", "certificates", "config", "wall_time", "info", "curves", "solve_s", "total_s"))


def test_records_written_with_bare_infinity_and_nan_still_load(tmp_path):
    (tmp_path / "cells").mkdir()
    (tmp_path / "cells" / "sbp__bkw2d__seed0.json").write_text(
        '{"solver": "sbp", "problem": "bkw2d", "seed": 0, "status": "ok", "profile": "smoke", "overrides": {},'
        ' "rows": [{"t": 1.0, "metric": "w1", "value": NaN, "reference": "exact"}],'
        ' "certificates": [{"t": 1.0, "certificate": "lemma2", "bound": Infinity, "ratio": -Infinity}]}',
        encoding="utf-8")
    rec = store.read_cell(tmp_path, "sbp__bkw2d__seed0")
    assert rec is not None and math.isnan(rec.rows[0]["value"])
    assert rec.certificates[0]["bound"] == math.inf and rec.certificates[0]["ratio"] == -math.inf


# 6 -- names --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["../x", "/../../x", "a/b", ""])
def test_a_plugin_metric_whose_name_is_a_path_is_refused_in_one_line(tmp_path, capsys, name):
    plugin = tmp_path / "evil_metric.py"
    plugin.write_text(textwrap.dedent(f"""
        from metrics.specs import MetricSpec, register_metric
        register_metric(MetricSpec({name!r}, "a name that is a path", lambda s: 1.0))
    """), encoding="utf-8")
    capsys.readouterr()
    assert main(["list", "--plugin", str(plugin)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"invalid metric name {name!r}" in err
    from metrics.specs import METRICS
    assert name not in METRICS


def test_a_certificate_name_from_a_record_cannot_place_a_figure_outside_the_run(tmp_path, capsys):
    run = finished_run(tmp_path / "run", certificate="/../../../escaped")
    capsys.readouterr()
    assert main(["report", str(run)]) == 0
    err = capsys.readouterr().err
    assert not (tmp_path / "escaped.png").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["run"]
    assert "warning: figure 'bkw2d_cert_/../../../escaped.png' skipped" in err and err.count("\n") == 1
    assert (run / "figures" / "bkw2d_w1.png").exists() and (run / "summary.md").exists()
