"""File helpers shared by every layer that keeps state on disk (reference cache, PINN checkpoints,
run records): an exclusive advisory lock, and setting a damaged file aside instead of deleting it."""
from __future__ import annotations

import contextlib
import os
import re
from pathlib import Path

#: what a registered problem or solver name may be: it becomes part of file names in the run directory
NAME_PATTERN = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_-]{0,63}")


def check_name(kind: str, name) -> str:
    """`name` if it matches NAME_PATTERN (letters, digits, '_' and '-', at most 64, not starting with '-'),
    else ValueError naming it: a name with '/' or '..' would write records outside the run directory."""
    if not isinstance(name, str) or not NAME_PATTERN.fullmatch(name):
        raise ValueError(f"invalid {kind} name {name!r}: use letters, digits, '_' and '-' (at most 64, "
                         f"not starting with '-')")
    return name


@contextlib.contextmanager
def exclusive_lock(lock_file: Path):
    """Hold an exclusive POSIX flock on `lock_file` (created with its folder) while the block runs; blocks
    until it is free. The kernel drops the lock when its process dies, so a crash never leaves it held.
    A no-op where fcntl is missing."""
    lock_file.parent.mkdir(parents=True, exist_ok=True)
    try:
        import fcntl
    except ImportError:  # pragma: no cover
        yield
        return
    with open(lock_file, "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def set_aside_file(path: Path) -> Path:
    """Rename `path` to <name>.corrupt (<name>.corrupt1, ... if taken) and return the new path; if another
    process moved it first or it vanished, nothing happens (there is nothing left to keep). Any other OSError
    (a read-only directory) is raised: the caller must not claim the file was moved."""
    target = path.with_name(path.name + ".corrupt")
    k = 1
    while target.exists():
        target = path.with_name(f"{path.name}.corrupt{k}")
        k += 1
    with contextlib.suppress(FileNotFoundError):
        os.replace(path, target)
    return target
