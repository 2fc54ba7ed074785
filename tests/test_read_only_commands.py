"""Issue 44: a command that only reads a run directory never modifies it. `compare A B` and `run/sweep/diagnose
--resume RUN --dry-run` read runs holding damaged cell records (text that is not JSON, a W1 of -5, a certificate bound
of -5) and leave every name, size, modification time and byte of both trees as they were; a damaged record is named
in one line, not set aside."""
import hashlib
import json
import os
import shutil
from pathlib import Path

import pytest

from harness.cli import main
from harness.report.rebuild import rebuild_outputs
from harness.store.manifest import read_manifest
from tests.test_run_context import RunContext, PROFILES
from tests.test_storage_safety import finished_run


def tree_state(root: Path) -> dict:
    """{relative path: (kind, size, mtime_ns, sha256 of a file's bytes or a link's target)} of every entry under root
    (links not followed), root itself included."""
    state = {}
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        for name in ["", *dirnames, *filenames]:
            path = Path(dirpath) / name
            st = os.lstat(path)
            if os.path.islink(path):
                digest = os.readlink(path)
            elif path.is_file():
                digest = hashlib.sha256(path.read_bytes()).hexdigest()
            else:
                digest = None
            kind = "link" if os.path.islink(path) else "dir" if path.is_dir() else "file"
            state[str(path.relative_to(root))] = (kind, st.st_size, st.st_mtime_ns, digest)
    return state


def _damaged_runs(tmp_path: Path) -> tuple[Path, Path]:
    """Two finished runs (tables built) of the same cell, each then given damaged records: one that is not JSON,
    one with a W1 of -5 and one with a certificate bound of -5."""
    a = finished_run(tmp_path / "a")
    rebuild_outputs(RunContext(PROFILES["smoke"], a, today=PROFILES["smoke"]))
    b = tmp_path / "b"
    shutil.copytree(a, b)
    good = json.loads((a / "cells" / "blob__bkw2d__seed0.json").read_text())
    for run in (a, b):
        (run / "cells" / "blob__bkw2d__seed1.json").write_text("{ not json")
        negative = {**good, "seed": 2, "cell_id": "blob__bkw2d__seed2",
                    "rows": [{**r, "value": -5.0} if r["metric"] == "w1" else r for r in good["rows"]]}
        (run / "cells" / "blob__bkw2d__seed2.json").write_text(json.dumps(negative))
        bound = {**good, "seed": 3, "cell_id": "blob__bkw2d__seed3",
                 "certificates": [{**c, "bound": -5.0} for c in good["certificates"]]}
        (run / "cells" / "blob__bkw2d__seed3.json").write_text(json.dumps(bound))
        manifest = json.loads((run / "manifest.json").read_text())  # the damaged cells are planned ones, so a
        manifest["cells"] += [["blob", "bkw2d", s, {}] for s in (1, 2, 3)]  # resume's trust check reads them
        manifest["config"]["seeds"] = [0, 1, 2, 3]
        (run / "manifest.json").write_text(json.dumps(manifest))
    return a, b


READ_ONLY = {
    "compare": lambda a, b: ["compare", str(a), str(b)],
    "run --dry-run --resume": lambda a, b: ["run", "--resume", str(a), "--dry-run"],
    "sweep --dry-run --resume": lambda a, b: ["sweep", "--resume", str(a), "--dry-run"],
}


@pytest.mark.parametrize("command", sorted(READ_ONLY))
def test_a_read_only_command_leaves_every_byte_of_the_run_directories(tmp_path, capsys, command):
    a, b = _damaged_runs(tmp_path)
    before = {"a": tree_state(a), "b": tree_state(b)}
    assert read_manifest(a).config.profile == "smoke"
    code = main(READ_ONLY[command](a, b))
    assert code in (0, 1, 2)
    after = {"a": tree_state(a), "b": tree_state(b)}
    changed = sorted(f"{run}/{path}" for run in after for path in set(after[run]) | set(before[run])
                     if after[run].get(path) != before[run].get(path))
    assert after == before, changed
    if command == "compare":
        err = capsys.readouterr().err
        for seed in (1, 2, 3):
            lines = [line for line in err.splitlines() if f"blob__bkw2d__seed{seed}.json" in line and str(a) in line]
            assert len(lines) == 1, (seed, err)
            assert "left as it is" in lines[0]


def test_the_frontier_script_leaves_every_byte_of_the_run_directories(tmp_path, capsys):
    """benchmarks/frontier.py reads sweep runs like compare does: damaged records are named and left, not set aside."""
    import sys
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    import frontier as frontier_script

    a, b = _damaged_runs(tmp_path)
    before = {"a": tree_state(a), "b": tree_state(b)}
    assert frontier_script.main([str(a), str(b), "--out", str(tmp_path / "frontier")]) == 0
    assert {"a": tree_state(a), "b": tree_state(b)} == before
    assert "left as it is" in capsys.readouterr().err
