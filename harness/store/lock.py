"""One run per run directory: an exclusive lock on RUN/.lock for as long as a `run` works there.

The lock is a POSIX `flock` on the file, so the kernel drops it when its process dies in any way
(SIGKILL included): a lock left by a dead process never blocks (the file stays, the lock does
not). The holder's pid, host and start time are written into the file so that a second `run` on
the same directory can name it. On network filesystems Linux maps flock to NFS byte-range locks.
A `.lock` that is a symbolic link (or not a regular file of its own) is refused with one line
(`infra.files.UnsafePath`): the holder's line is never written into another file.
"""
from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import platform
from pathlib import Path

from infra.files import make_dirs, open_lock_file
from harness.store.layout import check_layout

LOCK_NAME = ".lock"


class RunDirInUse(RuntimeError):
    """Another live process holds the run directory's lock."""


def _holder(fh) -> str:
    fh.seek(0)
    try:
        info = json.loads(fh.read() or "{}")
        return f"pid {info['pid']} on {info['host']} since {info['since']}"
    except (ValueError, KeyError, TypeError):
        return "another process"


@contextlib.contextmanager
def run_dir_lock(run_dir: Path):
    """Hold RUN/.lock exclusively while the block runs; RunDirInUse (naming the holder) if it is held,
    UnsafePath (an OSError naming it) if RUN/.lock is a symbolic link or not a regular file of its own, or if a
    folder the harness writes into is a link (`harness.store.layout.check_layout`, run once the lock is held)."""
    import fcntl

    make_dirs(run_dir)
    fh = os.fdopen(open_lock_file(run_dir / LOCK_NAME), "r+", encoding="utf-8")
    try:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RunDirInUse(f"run directory {str(run_dir)!r} is in use by {_holder(fh)}; wait for that run to "
                              f"finish, or choose another --out") from None
        fh.seek(0)
        fh.truncate()
        fh.write(json.dumps({"pid": os.getpid(), "host": platform.node(),
                             "since": dt.datetime.now().isoformat(timespec="seconds")}))
        fh.flush()
        check_layout(run_dir)  # a linked cells/, figures/, artifacts/ or .scratch: one line before anything is written
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)
    finally:
        fh.close()
