"""The options of `run`, `sweep` and `diagnose` checked before anything is planned: profile, device, --seeds,
--jobs (and the cores they run on), --cell-timeout, the engine, and the run directory."""
from __future__ import annotations

import os
import sys
from pathlib import Path

import torch

from infra.seeds import MAX_CELL_SEED
from harness.plan.profiles import PROFILES

from harness.cli.common import UsageError
from harness.cli.parser import DEVICES
from harness.execute.dask_executor import connect_dask
from harness.execute.executors import EXECUTORS, check_cell_timeout
from harness.execute.tasks import ExecutorError


def check_run_flags(args) -> tuple[int | None, list[int] | None]:
    """(--jobs as an int, None for auto; --seeds as ints, None if not given) once --profile, --device, --jobs,
    --cell-timeout, --seeds, --executor and --scheduler are each valid (in that order); UsageError naming the
    first that is not."""
    if args.profile is not None and args.profile not in PROFILES:
        raise UsageError(f"unknown profile {args.profile!r}; valid profiles: {', '.join(PROFILES)}")
    if args.device not in DEVICES:
        raise UsageError(f"unknown device {args.device!r}; valid devices: {', '.join(DEVICES)}")
    if args.device == "cuda" and not torch.cuda.is_available():
        raise UsageError("device 'cuda' requested but no CUDA device is available; valid here: auto, cpu")
    jobs_given = parse_jobs(args.jobs)
    why = check_cell_timeout(args.cell_timeout) if args.cell_timeout is not None else None
    if why:
        raise UsageError(why)
    seeds = parse_seeds(args.seeds) if args.seeds is not None else None
    executor = args.executor or "local"  # for the checks below; with jobs > 1 the default becomes process
    if executor not in EXECUTORS:
        raise UsageError(f"unknown executor {executor!r}; valid executors: {', '.join(EXECUTORS)}")
    if args.scheduler and executor != "dask":
        raise UsageError(f"--scheduler needs --executor dask (got executor {executor!r})")
    return jobs_given, seeds


def parse_seeds(text: str) -> list[int]:
    """--seeds as distinct non-negative ints (at most MAX_CELL_SEED); UsageError otherwise."""
    try:
        seeds = [int(x) for x in text.split(",") if x.strip() != ""]
    except ValueError:
        seeds = []
    if not seeds or any(s < 0 for s in seeds) or len(set(seeds)) != len(seeds):
        raise UsageError(f"malformed seeds {text!r}; expected distinct non-negative ints such as 0,1,2")
    if max(seeds) > MAX_CELL_SEED:
        raise UsageError(f"seed {max(seeds)} is too large; seeds 0..{MAX_CELL_SEED} keep a cell's random streams "
                         f"apart (infra/seeds.py)")
    return seeds


def parse_jobs(text) -> int | None:
    """--jobs as an int >= 1, or None for 'auto'; UsageError otherwise."""
    if str(text).strip().lower() == "auto":
        return None
    try:
        jobs = int(str(text))
    except ValueError:
        jobs = 0
    if jobs < 1:
        raise UsageError(f"--jobs must be a positive int or auto, got {text!r}")
    return jobs


def available_cores() -> int:
    """CPU cores this process may run on (its affinity mask where the OS has one)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def resolve_jobs(jobs: int | None, n_cells: int, quiet: bool = False) -> int:
    """Worker processes for a run of n_cells: `auto` (None) = min(cores, cells); a given number is capped at
    the number of cells (more workers than cells would idle), with a warning when it exceeds the cores."""
    cores = available_cores()
    if jobs is None:
        return max(1, min(cores, n_cells))
    if jobs > cores and not quiet:
        print(f"warning: --jobs {jobs} exceeds the {cores} cores here; cells will compete for them", file=sys.stderr)
    return max(1, min(jobs, n_cells))


def choose_executor(args, jobs_given: int | None, n_cells: int) -> str:
    """The engine of a run of n_cells (sets args.jobs to the resolved number of workers): --executor, else
    process when more than one worker runs, else local. A --scheduler is reached once here (UsageError if not)."""
    args.jobs = resolve_jobs(jobs_given, n_cells, args.quiet)
    executor = args.executor or ("process" if args.jobs > 1 else "local")
    if executor == "dask" and args.scheduler:
        try:
            connect_dask(args.scheduler, args.jobs).close()
        except ExecutorError as exc:
            raise UsageError(str(exc)) from None
    return executor


def run_directory(args) -> Path:
    """The directory the run writes: --resume's, or --out (which must be new or empty); UsageError if it is
    not writable."""
    if args.resume:
        run_dir = Path(args.resume)
    else:
        run_dir = Path(args.out)
        if run_dir.exists() and (not run_dir.is_dir() or any(run_dir.iterdir())):
            raise UsageError(f"output directory {str(run_dir)!r} is not empty; use --resume {str(run_dir)!r} or another --out")
    check_writable(run_dir)
    return run_dir


def check_writable(path: Path) -> None:
    """UsageError unless `path`, or the nearest of its parents that exists, is a writable directory."""
    probe = path
    while not probe.exists():
        probe = probe.parent
    if not probe.is_dir() or not os.access(probe, os.W_OK):
        raise UsageError(f"output directory {str(path)!r} is not writable (checked {str(probe)!r})")
