"""Issue 44, links and special files, as properties: no path the harness writes, renames or deletes is reached
through a symbolic link (every folder of a run directory, every writer of infra/files.py, every module by a scan of
its source), and no FIFO or device in a run directory or the reference cache is opened or waited on."""
import ast
import os
import warnings
from pathlib import Path

import numpy as np
import pytest

from harness.cli import main
from harness.store import tables as store
from harness.store.layout import RUN_FOLDERS, check_layout
from infra import files
from infra.files import UnsafePath
from problems.references.base import cached_arrays
from tests.test_storage_safety import finished_run

ROOT = Path(__file__).resolve().parent.parent


def victim(tmp_path: Path) -> Path:
    """A folder outside the run with a file that must never change and a file named like a scratch file."""
    v = tmp_path / "victim"
    v.mkdir()
    (v / "precious").write_text("precious", encoding="utf-8")
    (v / "landau-cell-keep.json").write_text("{}", encoding="utf-8")
    (v / "bkw2d_w1.png").write_text("not a figure", encoding="utf-8")
    return v


def snapshot(folder: Path) -> dict:
    return {p.name: p.read_bytes() if p.is_file() else sorted(q.name for q in p.iterdir())
            for p in sorted(folder.iterdir())}


# -- every writer of infra/files.py, below a linked folder at every depth -------------------------------------
WRITERS = {
    "replacing": lambda p: files.replacing(p).__enter__(),
    "make_dirs": lambda p: files.make_dirs(p / "sub"),
    "remove_file": files.remove_file,
    "set_aside_file": files.set_aside_file,
    "exclusive_lock": lambda p: files.exclusive_lock(p).__enter__(),
    "open_lock_file": files.open_lock_file,
}


@pytest.mark.parametrize("depth", [1, 2])
@pytest.mark.parametrize("writer", sorted(WRITERS))
def test_no_writer_follows_a_linked_folder_at_any_depth(tmp_path, writer, depth):
    v = victim(tmp_path)
    (v / "deeper").mkdir()
    (v / "deeper" / "precious").write_text("precious", encoding="utf-8")
    root = tmp_path / "root"
    root.mkdir()
    (root / "a").symlink_to(v)
    path = root / "a" / "precious" if depth == 1 else root / "a" / "deeper" / "precious"
    before, deeper = snapshot(v), snapshot(v / "deeper")
    if writer in ("exclusive_lock", "open_lock_file", "replacing"):
        path = path.with_name("new")  # a file the writer would create
    with pytest.raises(UnsafePath, match="symbolic link"):
        WRITERS[writer](path)
    assert snapshot(v) == before and snapshot(v / "deeper") == deeper


def test_make_dirs_refuses_a_link_and_a_file_on_the_way_and_makes_the_rest(tmp_path):
    files.make_dirs(tmp_path / "a" / "b" / "c")
    assert (tmp_path / "a" / "b" / "c").is_dir()
    (tmp_path / "f").write_text("x", encoding="utf-8")
    with pytest.raises(UnsafePath, match="not a folder"):
        files.make_dirs(tmp_path / "f" / "g")
    (tmp_path / "link").symlink_to(tmp_path / "a")
    with pytest.raises(UnsafePath, match="symbolic link"):
        files.make_dirs(tmp_path / "link")


# -- every folder of a run directory, for every command that writes there --------------------------------------
@pytest.mark.parametrize("command", [["report"], ["run", "--resume"]])
@pytest.mark.parametrize("folder", RUN_FOLDERS)
def test_a_linked_run_folder_is_refused_in_one_line_before_anything_is_written(tmp_path, capsys, folder, command):
    run = finished_run(tmp_path / "run")
    v = victim(tmp_path)
    if folder == "cells":  # the records move into the victim, which the link then names
        for p in (run / "cells").iterdir():
            p.rename(v / p.name)
        (run / "cells").rmdir()
    before = snapshot(v)
    (run / folder).symlink_to(v)
    capsys.readouterr()
    assert main([*command, str(run)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"{str(run / folder)!r} is a symbolic link" in err, err
    assert snapshot(v) == before
    assert not (run / "summary.md").exists() and not (run / "metrics.csv").exists()


def test_check_layout_refuses_every_folder_that_is_a_link_or_a_file(tmp_path):
    for folder in RUN_FOLDERS:
        run = tmp_path / folder.strip(".")
        run.mkdir()
        (run / folder).write_text("x", encoding="utf-8")
        with pytest.raises(UnsafePath, match="is not a folder"):
            check_layout(run)


@pytest.mark.parametrize("kind", ["fifo", "dangling-link"])
def test_a_special_file_among_the_cell_files_is_set_aside_never_opened(tmp_path, capsys, kind):
    run = finished_run(tmp_path / "run")
    special = run / "cells" / "blob__bkw2d__seed0.npz"
    os.mkfifo(special) if kind == "fifo" else special.symlink_to(tmp_path / "nowhere")
    lines = []
    check_layout(run, warn=lines.append)
    assert len(lines) == 1 and "blob__bkw2d__seed0.npz in cells/ is not a regular file" in lines[0]
    assert not os.path.lexists(special) and os.path.lexists(run / "cells" / "blob__bkw2d__seed0.npz.corrupt")


def test_a_fifo_at_a_record_name_is_a_damaged_record_not_a_hang(tmp_path, capsys):
    run = finished_run(tmp_path / "run")
    (run / "cells" / "blob__bkw2d__seed0.json").unlink()
    os.mkfifo(run / "cells" / "blob__bkw2d__seed0.json")
    assert store.read_cell(run, "blob__bkw2d__seed0") is None
    err = capsys.readouterr().err
    assert "not a regular file" in err and (run / "cells" / "blob__bkw2d__seed0.json.corrupt").exists()


def test_a_fifo_manifest_is_one_line_not_a_hang(tmp_path, capsys):
    run = finished_run(tmp_path / "run")
    (run / "manifest.json").unlink()
    os.mkfifo(run / "manifest.json")
    assert main(["report", str(run)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "manifest.json is damaged (UnsafePath)" in err


@pytest.mark.parametrize("kind", ["fifo", "device"])
def test_a_special_file_at_a_reference_cache_name_is_rebuilt_not_waited_on(tmp_path, kind):
    cache = tmp_path / "cache"
    cache.mkdir()
    path = cache / "ref.npz"
    if kind == "fifo":
        os.mkfifo(path)
    else:
        path.symlink_to("/dev/zero")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        arrays = cached_arrays(path, lambda: {"f0": np.arange(3.0)}, keys=["f0"])
    assert arrays["f0"].tolist() == [0.0, 1.0, 2.0]
    assert len(caught) == 1 and "is damaged" in str(caught[0].message)
    with files.open_regular(path) as fh:  # rebuilt as a regular file
        assert np.load(fh)["f0"].tolist() == [0.0, 1.0, 2.0]


def test_open_regular_refuses_a_fifo_without_blocking_and_reads_a_file(tmp_path):
    os.mkfifo(tmp_path / "pipe")
    with pytest.raises(UnsafePath, match="not a regular file"):
        files.open_regular(tmp_path / "pipe")
    (tmp_path / "f").write_text("é", encoding="utf-8")
    assert files.read_text(tmp_path / "f") == "é"


# -- every module: nothing writes, renames, deletes or creates a folder but infra/files.py ------------------------
#: call names that write, rename, delete or create a folder
_WRITING = {"write_text", "write_bytes", "mkdir", "makedirs", "unlink", "rmdir", "rmtree", "rename", "replace", "remove",
            "savez", "savez_compressed", "save", "savefig", "to_csv", "to_parquet", "move", "copy", "copy2", "copyfile",
            "mkstemp", "mkdtemp", "symlink", "link", "touch"}
#: where a write is allowed: the helpers themselves, and writes into the temporary file `replacing` yields
#: (the first argument named `tmp`; `.rename`/`.replace` on a DataFrame or a str are not file operations)
_TMP_TARGET = {"savez", "savez_compressed", "savefig", "to_csv", "to_parquet", "save"}
_NOT_FILES = {("harness/report/compare.py", "rename"), ("harness/report/convergence.py", "rename")}


def _on_path(func) -> bool:
    """os.replace(...) / shutil.move(...), or a method called on a name that holds a path (path, target, marker...)."""
    if not isinstance(func, ast.Attribute) or not isinstance(func.value, ast.Name):
        return (isinstance(func, ast.Attribute) and isinstance(func.value, ast.Call)  # Path(...).rename(...)
                and getattr(func.value.func, "id", "") == "Path")
    owner = func.value.id
    return owner in ("os", "shutil") or any(w in owner.lower() for w in ("path", "dir", "file", "marker", "tmp", "target"))


#: known safe writes elsewhere: mkstemp creates with O_EXCL (never through a link) in a folder made by make_dirs
_ALLOWED = {"harness/execute/tasks.py mkstemp()"}


def _writes(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    rel = str(path.relative_to(ROOT))
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
        args = [a.id for a in node.args if isinstance(a, ast.Name)]
        if name == "open" and len(node.args) > 1 and isinstance(node.args[1], ast.Constant) \
                and set(str(node.args[1].value)) & set("wax+") and args[:1] != ["tmp"]:
            found.append(f"{rel}:{node.lineno} open(..., {node.args[1].value!r})")
        elif name == "replace" and isinstance(node.func, ast.Attribute) and isinstance(node.func.value, ast.Constant):
            continue  # "text".replace
        elif name in _WRITING and (rel, name) not in _NOT_FILES and not (name in _TMP_TARGET and "tmp" in args):
            if name in ("replace", "rename") and not _on_path(node.func):
                continue  # str.replace, dataclasses.replace, DataFrame.rename: not file operations
            if name == "copy" and not (isinstance(node.func.value, ast.Name) and node.func.value.id == "shutil"):
                continue  # dict.copy(), tensor.copy()
            if name in ("save",) and not (isinstance(node.func.value, ast.Name) and node.func.value.id in ("torch", "np")):
                continue
            found.append(f"{rel}:{node.lineno} {name}()")
    return found


def test_no_module_writes_renames_or_deletes_but_through_infra_files():
    modules = [p for pkg in ("harness", "infra", "problems", "solvers", "metrics", "certificates")
               for p in sorted((ROOT / pkg).rglob("*.py")) if p != ROOT / "infra" / "files.py"]
    found = [w for p in modules for w in _writes(p) if " ".join((w.split(":")[0], w.split(" ", 1)[1])) not in _ALLOWED]
    # the worker marker: os.open with O_NOFOLLOW below a folder checked by check_no_link (see executors._marked)
    assert found == [], found
