"""What a run directory holds, and the check that it holds nothing the harness would follow out of it.

Every folder the harness writes into is listed in RUN_FOLDERS, every file at the top in RUN_FILES (the layout of
docs/reliability.md). `check_layout` is run by `harness.store.lock.run_dir_lock`, so by every command that writes
in a run directory (run, sweep, diagnose, --resume, report) before it writes anything: a folder of RUN_FOLDERS
that is a symbolic link (or not a folder) is refused in one line (`infra.files.UnsafePath`), and a FIFO, device or
socket among the cell files is set aside as damaged, never opened. The writers themselves refuse a link on their
way too (`infra.files`): this check makes the refusal come before any work instead of in the middle of it.
"""
from __future__ import annotations

import os
import stat
import sys
from pathlib import Path

from infra.files import UnsafePath, set_aside_file

#: the folders of a run directory the harness creates and writes into
RUN_FOLDERS = ("cells", "figures", "artifacts", ".scratch")
#: the files at the top of a run directory the harness writes
RUN_FILES = ("manifest.json", "metrics.csv", "metrics.parquet", "timings.csv", "certificates.csv", "summary.md",
             "index.html", "diagnosis.md")


def check_layout(run_dir: Path, warn=None) -> None:
    """UnsafePath naming the first folder of RUN_FOLDERS in `run_dir` that is a symbolic link or not a folder;
    every entry of RUN/cells that is not a regular file or folder (a FIFO, a device, a socket, a link to one) is
    set aside as <name>.corrupt with one warning line, so that no reader ever opens it."""
    say = warn or (lambda m: print(m, file=sys.stderr))
    for name in RUN_FOLDERS:
        path = Path(run_dir) / name
        try:
            mode = os.lstat(path).st_mode
        except FileNotFoundError:
            continue
        if stat.S_ISLNK(mode):
            raise UnsafePath(f"{str(path)!r} is a symbolic link; the harness writes into {name}/ and follows no "
                             f"link out of the run directory (remove the link)")
        if not stat.S_ISDIR(mode):
            raise UnsafePath(f"{str(path)!r} is not a folder; the harness writes into {name}/ (remove it)")
    cells = Path(run_dir) / "cells"
    if not cells.is_dir():
        return
    with os.scandir(cells) as entries:
        special = [Path(e.path) for e in entries if not (e.is_file() or e.is_dir())]
    for path in sorted(special):
        try:
            target = set_aside_file(path).name
        except OSError as exc:
            say(f"warning: {path.name} in cells/ is not a regular file and could not be set aside ({exc}); "
                f"it is never opened")
            continue
        say(f"warning: {path.name} in cells/ is not a regular file (a pipe, a device, a socket or a broken link); "
            f"set aside as {target}")
