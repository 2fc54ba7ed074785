"""File helpers shared by every layer that keeps state on disk (reference cache, PINN checkpoints,
run records): an exclusive advisory lock, and setting a damaged file aside instead of deleting it."""
from __future__ import annotations

import contextlib
import errno
import os
import re
import stat
import tempfile
from pathlib import Path

#: what a registered problem, solver or metric name may be: it becomes part of file names in the run directory
NAME_PATTERN = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_-]{0,63}")


def check_name(kind: str, name) -> str:
    """`name` if it matches NAME_PATTERN (letters, digits, '_' and '-', at most 64, not starting with '-'),
    else ValueError naming it: a name with '/' or '..' would write records outside the run directory."""
    if not isinstance(name, str) or not NAME_PATTERN.fullmatch(name):
        raise ValueError(f"invalid {kind} name {name!r}: use letters, digits, '_' and '-' (at most 64, "
                         f"not starting with '-')")
    return name


class UnsafePath(OSError):
    """A file the harness would write is a symbolic link, not a regular file, or has other hard links:
    writing it would change a file outside the run directory or cache."""


def open_lock_file(path: Path) -> int:
    """A read-write descriptor of the lock file `path`, created (0644 less the umask) if absent and never
    truncated, opened without following a symbolic link. UnsafePath naming the path if it is a link, not a
    regular file, or a hard link to another file: a lock must never write into a file that is not its own."""
    flags = os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags, 0o644)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise UnsafePath(f"lock file {str(path)!r} is a symbolic link; refusing to write through it "
                             f"(remove the link)") from None
        raise
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode) or info.st_nlink != 1:
        os.close(fd)
        raise UnsafePath(f"lock file {str(path)!r} is not a regular file of its own (a device, a pipe or a hard "
                         f"link); refusing to write to it (remove it)")
    return fd


def umask() -> int:
    """The process's file-creation mask (read from /proc where it can be, so that it is never changed)."""
    with contextlib.suppress(OSError, ValueError):
        with open("/proc/self/status", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def share_like_new_file(fd: int) -> None:
    """Give the file open at `fd` (a tempfile.mkstemp file, created 0600) the mode an ordinary new file gets,
    0666 less the umask, so that a run directory or cache shared between users stays readable to them."""
    os.fchmod(fd, 0o666 & ~umask())


@contextlib.contextmanager
def replacing(path: Path, suffix: str = ".tmp"):
    """Write `path` atomically: yields the name of a new temporary file beside it (made by mkstemp, so never
    a link, then given the mode of an ordinary new file) for the block to write; when the block ends it
    replaces `path` (a symbolic link at `path` is replaced itself, never written through). If the block or
    the replace fails (a full disk), the temporary file is removed and the error raised."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=suffix)
    try:
        try:
            share_like_new_file(fd)
        finally:
            os.close(fd)
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


@contextlib.contextmanager
def exclusive_lock(lock_file: Path):
    """Hold an exclusive POSIX flock on `lock_file` (created with its folder, see `open_lock_file`: never
    through a symbolic link) while the block runs; blocks until it is free. The kernel drops the lock when
    its process dies, so a crash never leaves it held. A no-op where fcntl is missing."""
    lock_file.parent.mkdir(parents=True, exist_ok=True)
    try:
        import fcntl
    except ImportError:  # pragma: no cover
        yield
        return
    fd = open_lock_file(lock_file)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


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
