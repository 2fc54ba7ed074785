"""`harness compare` never waits on or reads forever a special file in a run directory (issue 44's principle: no
special file opened, in the run directory or the cache), tested as a property over every file compare reads.

The files are those a clean compare opens in run B (traced with an audit hook) together with those it is known to
read (pyarrow opens a path in C++, where no audit event fires). Each is swapped, after compare's own checks, for a
FIFO, a link to a FIFO outside the run directory, a link to a character device (/dev/zero) and a folder; compare must
end (a thread, joined with a generous guard) with one line naming the file and no traceback: exit 2 for a table or
the manifest, a warning naming the set-aside record (and the cell then missing in B: exit 1) for a cell record.
"""
import json
import os
import shutil
import sys
import threading
from pathlib import Path

import pytest

from harness.cli import main
from harness.plan.cell import Cell
from harness.store import tables as store
from harness.store.record import CellRecord

#: what compare is known to read in a run directory (the audit hook adds whatever else it opens)
KNOWN = {"manifest.json", "metrics.parquet", "timings.csv", "cells/sbp__bkw2d__seed0.json"}
SWAPS = ("fifo", "link_to_outside_fifo", "link_to_device", "folder")


def write_run(run: Path) -> Path:
    """A finished run of two ok cells (sbp, blob on bkw2d, seed 0) with its manifest and tables."""
    (run / "cells").mkdir(parents=True)
    planned = []
    for solver in ("sbp", "blob"):
        cell = Cell(solver, "bkw2d", 0)
        planned.append(cell.to_json())
        store.write_cell(run, CellRecord(solver, "bkw2d", 0, cell.id, "smoke", "ok",
                                         rows=[{"t": t, "metric": "w1", "value": 0.1 * (1 + t)} for t in (1.0, 2.5)],
                                         wall_time={"solve": 1.0}, solve_s=1.0, total_s=1.0))
    store.atomic_write_text(run / "manifest.json", json.dumps({"config": {"profile": "smoke"}, "cells": planned,
                                                               "provenance": {"git_commit": "c0"}}))
    metrics, timings, _ = store.collect_tables(run)
    store.atomic_write_frame(metrics, run / "metrics.parquet")
    store.atomic_write_frame(timings, run / "timings.csv")
    return run


_TRACE = {"root": None, "seen": set()}


def _audit(event, args):
    root = _TRACE["root"]
    if event == "open" and root is not None and isinstance(args[0], (str, bytes, os.PathLike)):
        path = os.path.abspath(os.fsdecode(args[0]))
        if path.startswith(root + os.sep):
            _TRACE["seen"].add(os.path.relpath(path, root))


sys.addaudithook(_audit)  # hooks cannot be removed: it records only while _TRACE["root"] is set


def files_compare_reads(a: Path, b: Path) -> set:
    """The files under `b` a clean `compare a b` opens from Python, with KNOWN."""
    _TRACE.update(root=str(b.resolve()), seen=set())
    try:
        assert main(["compare", str(a), str(b)]) == 0
    finally:
        _TRACE["root"] = None
    return {p for p in _TRACE["seen"] if os.path.isfile(b / p)} | KNOWN


def swap(path: Path, how: str, outside: Path) -> None:
    path.unlink()
    if how == "fifo":
        os.mkfifo(path)
    elif how == "link_to_outside_fifo":
        os.mkfifo(outside / "pipe")
        path.symlink_to(outside / "pipe")
    elif how == "link_to_device":
        path.symlink_to("/dev/zero")
    else:
        path.mkdir()


def test_every_file_compare_reads_swapped_for_a_special_file_is_one_line_never_a_hang(tmp_path, capsys,
                                                                                        monkeypatch):
    a, clean = write_run(tmp_path / "a"), write_run(tmp_path / "clean")
    reads = files_compare_reads(a, clean)
    assert KNOWN <= reads
    from harness.report import compare
    # the swap comes after compare's checks (is_file of the manifest and the table): the read itself must refuse it
    monkeypatch.setattr(compare.Path, "is_file", lambda self: os.path.lexists(self))
    for name in sorted(reads):
        for how in SWAPS:
            b, outside = tmp_path / f"b-{how}-{name.replace('/', '_')}", tmp_path / f"outside-{how}-{len(name)}"
            shutil.copytree(clean, b)
            outside.mkdir(exist_ok=True)
            swap(b / name, how, outside)
            capsys.readouterr()
            code = []
            worker = threading.Thread(target=lambda: code.append(main(["compare", str(a), str(b)])), daemon=True)
            worker.start()
            worker.join(60)  # a guard against the hang this tests, not a timing claim
            assert not worker.is_alive(), f"compare waits on {name} swapped for a {how}"
            err = capsys.readouterr().err.strip().splitlines()
            assert "Traceback" not in "\n".join(err) and err and all(
                line.startswith(("error:", "warning:")) for line in err), (name, how, err)
            assert Path(name).name in err[0], (name, how, err)
            if name.startswith("cells/"):  # named in one line and left as it is (compare only reads); missing in B
                assert code == [1] and len(err) == 1 and "left as it is" in err[0], (name, how, err)
                assert os.path.lexists(b / name), (name, how)
            else:
                assert code == [2] and len(err) == 1, (name, how, err)


@pytest.mark.slow
def test_compare_at_a_linked_fifo_table_exits_2_in_one_line(tmp_path):
    """The command end to end, in a subprocess with a timeout: a metrics.parquet that is a link to a FIFO outside
    the run directory."""
    import subprocess
    a, b = write_run(tmp_path / "a"), write_run(tmp_path / "b")
    os.mkfifo(tmp_path / "pipe")
    (b / "metrics.parquet").unlink()
    (b / "metrics.parquet").symlink_to(tmp_path / "pipe")
    res = subprocess.run([sys.executable, "-m", "harness", "compare", str(a), str(b)], capture_output=True,
                         text=True, timeout=120)
    lines = res.stderr.strip().splitlines()
    assert res.returncode == 2 and len(lines) == 1 and "metrics.parquet" in lines[0], res.stderr
