"""File helpers shared by every layer that keeps state on disk (reference cache, PINN checkpoints,
run records): an exclusive advisory lock, and setting a damaged file aside instead of deleting it.

Every file the harness writes, renames or deletes, and every folder it creates, goes through this module
(`replacing`, `make_dirs`, `remove_file`, `set_aside_file`, `open_lock_file`), which follows no symbolic link
on the way: a link anywhere in the path is UnsafePath (the roots, a run directory and the cache, are resolved
once by their callers, so a link the user chose above them is not refused). Every file it reads from a run
directory or the cache is opened by `open_regular`, which refuses a FIFO, a device or a socket without
blocking on it. tests/test_storage_safety.py checks that no other module writes, deletes or creates folders."""
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
    check_no_link(path, "lock file")
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


def link_in(path) -> str | None:
    """The first component of the absolute `path` (the final name included) that is a symbolic link, or None.
    Components that do not exist yet are not links."""
    current = Path(os.path.abspath(path))
    for part in (*reversed(current.parents), current):
        try:
            if stat.S_ISLNK(os.lstat(part).st_mode):
                return str(part)
        except FileNotFoundError:
            return None
        except NotADirectoryError:
            return None
    return None


def check_no_link(path, what: str = "file") -> None:
    """UnsafePath naming the link if a folder on the way to `path` is a symbolic link: writing, renaming or
    deleting `path` would then act outside the run directory or cache. (A link at `path` itself is allowed:
    it is replaced or removed, never followed.)"""
    link = link_in(Path(os.path.abspath(path)).parent)
    if link is not None:
        raise UnsafePath(f"{what} {str(path)!r} lies below {link!r}, a symbolic link; refusing to follow it "
                         f"(remove the link)")


def make_dirs(path) -> Path:
    """Create the folder `path` and its missing parents (mode 0777 less the umask), following no symbolic link:
    UnsafePath naming it if a component is a link or is not a folder. Returns `path`."""
    path = Path(path)
    target = Path(os.path.abspath(path))
    for part in (*reversed(target.parents), target):
        try:
            info = os.lstat(part)
        except FileNotFoundError:
            try:
                os.mkdir(part)
            except FileExistsError:  # made meanwhile by another process: checked below
                pass
            info = os.lstat(part)
        if stat.S_ISLNK(info.st_mode):
            raise UnsafePath(f"folder {str(part)!r} is a symbolic link; refusing to follow it (remove the link)")
        if not stat.S_ISDIR(info.st_mode):
            raise UnsafePath(f"{str(part)!r} is not a folder (a file, a pipe or a device); refusing to write "
                             f"below it (remove it)")
    return path


def remove_file(path, missing_ok: bool = True) -> None:
    """Delete the file `path` (a link there is removed itself), never below a symbolic link (`check_no_link`)."""
    check_no_link(path)
    try:
        os.unlink(path)
    except FileNotFoundError:
        if not missing_ok:
            raise


def open_regular(path, mode: str = "rb", encoding: str | None = None):
    """`path` opened for reading if it is a regular file (a link to one is followed); UnsafePath naming it if it
    is a FIFO, a device, a socket or a folder. Opening never blocks (O_NONBLOCK, cleared once the file is known
    to be regular), so a FIFO planted at a record's or a cache file's name cannot hang the harness."""
    if mode not in ("r", "rb"):
        raise ValueError(f"open_regular reads only; mode {mode!r}")
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise UnsafePath(f"{str(path)!r} is not a regular file (a pipe, a device or a socket); refusing to "
                             f"read it")
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        return os.fdopen(fd, mode, encoding=encoding if mode == "r" else None)
    except BaseException:
        os.close(fd)
        raise


def read_text(path) -> str:
    """The UTF-8 text of the regular file `path` (`open_regular`)."""
    with open_regular(path, "r", encoding="utf-8") as fh:
        return fh.read()


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
    replaces `path` (a symbolic link at `path` is replaced itself, never written through; a link among its
    folders is UnsafePath, see `make_dirs`). If the block or
    the replace fails (a full disk), the temporary file is removed and the error raised."""
    make_dirs(path.parent)
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
    make_dirs(lock_file.parent)
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
    (a read-only directory, a folder on the way that is a symbolic link: UnsafePath) is raised: the caller must
    not claim the file was moved."""
    check_no_link(path)
    target = path.with_name(path.name + ".corrupt")
    k = 1
    while os.path.lexists(target):
        target = path.with_name(f"{path.name}.corrupt{k}")
        k += 1
    with contextlib.suppress(FileNotFoundError):
        os.replace(path, target)
    return target
