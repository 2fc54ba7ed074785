"""What every engine runs for one cell, and a cell in a process of its own (`--cell-timeout`).

`run_task` is the task the local, process and Dask engines hand a cell (as `Cell.to_json()`, never as
arrays). `run_in_subprocess` runs it in `python -m harness.execute.cell_process` (`run_child`, which also runs
a reference task there: `harness.execute.reference_tasks`), in a process group of its own that is killed when
the cell runs past its time limit or the run is interrupted (`kill_live_cells`); the child leaves its record in
RUN/.scratch (`scratch_dir`). A child or pool worker
dies with its parent (`die_with_parent`): on Linux the kernel sends it SIGKILL when the parent dies
(PR_SET_PDEATHSIG), and everywhere a watchdog thread ends it when the parent's pid is gone.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from harness.plan.cell import Cell
from harness.plan.context import RunContext
from harness.plan.profiles import Profile
from infra.files import UnsafePath, check_no_link, make_dirs, open_regular, remove_file
from harness.store.record import CellRecord
from harness.plan.errors import ExecutorError  # noqa: F401  (raised here; re-exported)



def run_task(context: RunContext, cell: list, timeout: float | None = None, progress: bool = False,
             single_thread: bool = True) -> CellRecord:
    """What every engine runs for one cell given as `Cell.to_json()`: load the context's plugins, then
    the cell at its profile, device and run directory (never raises). With `timeout`, the cell runs in a child
    process that is killed after `timeout` seconds, and the record says it timed out. `single_thread`: one torch
    thread (pool and Dask workers share the machine's cores)."""
    if timeout is not None:
        return run_in_subprocess(context, cell, timeout, progress, single_thread)
    import torch

    from harness.execute.run_cell import run_cell
    from harness.plan.plugins import load_plugins

    if single_thread:
        torch.set_num_threads(1)
    load_plugins(list(context.plugins))
    return run_cell(Cell.from_json(cell), context.profile, context.device, progress, str(context.run_dir))


def die_with_parent(parent: int) -> None:
    """Arrange for this process to end when process `parent` does (see module docstring)."""
    try:
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG = 1
    except (OSError, AttributeError):  # not Linux: the watchdog alone
        pass
    if os.getppid() != parent:  # the parent died before the line above
        os._exit(1)

    def watch():
        while True:
            if os.getppid() != parent:
                os._exit(1)
            time.sleep(0.5)

    threading.Thread(target=watch, daemon=True).start()


def failed_record(cell: Cell, profile: str, error: str) -> CellRecord:
    """A 'failed' record for a cell that produced none itself (lost worker, timeout, crashed process)."""
    return CellRecord.failed(cell, profile, error)


def run_in_subprocess(context: RunContext, cell: list, timeout: float, progress=False,
                      single_thread=False) -> CellRecord:
    """Run one cell in `python -m harness.execute.cell_process` (its own process group); kill the group after
    `timeout` s. Returns the child's record, or a failed one (timed out / exited without a record). The child gets
    the context as JSON (`cell_spec`)."""
    c = Cell.from_json(cell)
    profile, run_dir = context.profile.name, str(context.run_dir)
    spec = {**cell_spec(context), "cell": cell, "progress": progress, "single_thread": single_thread}
    data, code = run_child(spec, run_dir, timeout, progress)
    if data is None and code is None:
        return failed_record(c, profile, f"TimeoutError: timed out after {timeout:g} s (--cell-timeout); "
                                         f"--resume runs it again")
    try:
        if data is None:
            raise ValueError("no record")
        return CellRecord.from_json(data, c.id)
    except ValueError:  # DamagedRecord is a ValueError
        return failed_record(c, profile, f"ChildProcessError: the cell's process exited with code {code} "
                                         f"without a record; --resume runs it again")


def cell_spec(context: RunContext) -> dict:
    """What a cell process is handed of the run context: {plugins, profile (Profile.to_json: its values, not a name
    to look up), device, run_dir}; `context_of_spec` is its inverse."""
    return {"plugins": list(context.plugins), "profile": context.profile.to_json(), "device": context.device,
            "run_dir": str(context.run_dir)}


def context_of_spec(spec: dict) -> RunContext:
    """The RunContext a cell process runs its cell with (`cell_spec`'s inverse; one cell, in this process)."""
    return RunContext(Profile.from_json(spec["profile"]), Path(spec["run_dir"]), device=spec["device"],
                      plugins=tuple(spec["plugins"]))


def run_child(spec: dict, run_dir, timeout: float | None, progress: bool = False) -> tuple[object, int | None]:
    """Run `python -m harness.execute.cell_process` on `spec` (a cell's or a reference task's; 'out' and 'parent'
    are added) in a process group of its own, killed after `timeout` s (None: no limit). Returns (the JSON the
    child wrote, its exit code): (None, None) when it timed out, (None, code) when it wrote nothing readable."""
    scratch = make_dirs(scratch_dir(run_dir))
    fd, out_path = tempfile.mkstemp(prefix="landau-cell-", suffix=".json", dir=scratch)
    os.close(fd)
    spec = json.dumps({**spec, "out": out_path, "parent": os.getpid()})
    proc = subprocess.Popen([sys.executable, "-m", "harness.execute.cell_process"], stdin=subprocess.PIPE,
                            stdout=subprocess.DEVNULL, stderr=None if progress else subprocess.DEVNULL,
                            start_new_session=True, text=True)
    _LIVE.add(proc)
    try:
        proc.communicate(spec, timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill_group(proc)
        remove_file(out_path)
        return None, None
    except BaseException:
        _kill_group(proc)
        remove_file(out_path)
        raise
    finally:
        _LIVE.discard(proc)
    try:
        with open_regular(out_path, "r", encoding="utf-8") as fh:
            return json.load(fh), proc.returncode
    except (OSError, ValueError):
        return None, proc.returncode
    finally:
        remove_file(out_path)


#: cell processes started by run_in_subprocess and not yet finished (killed when the run is interrupted)
_LIVE: set[subprocess.Popen] = set()


def scratch_dir(run_dir: str | os.PathLike) -> Path:
    """RUN/.scratch: where cell processes leave their records for the parent (emptied at the start of a run)."""
    return Path(run_dir) / ".scratch"


def clear_scratch(run_dir) -> None:
    """Remove what cell processes of an earlier, killed run left in RUN/.scratch (the caller holds the lock)."""
    scratch = scratch_dir(run_dir)
    check_no_link(scratch / "x", "scratch file")  # a linked .scratch: its target's files are never deleted
    for p in scratch.glob("landau-cell-*"):
        try:
            remove_file(p)
        except UnsafePath:
            raise
        except OSError:
            pass


def kill_live_cells() -> None:
    """SIGKILL the process group of every cell process still running (an interrupted or terminated run)."""
    for proc in list(_LIVE):
        _kill_group(proc)


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    proc.wait()
