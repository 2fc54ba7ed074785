"""Sizes refused before a run starts: memory a cell would need beyond what the machine has (its particles and
its evaluation grid), step counts beyond MAX_STEPS (fixed dt, or an adaptive rule's dt_max), optimizer steps
beyond MAX_OPTIMIZER_STEPS. Checked on the planned cells' configs (overrides applied), so `--set n=100000000` is a
one-line error in milliseconds instead of a kernel that grows past the machine's memory. `--force` skips it.
"""
from __future__ import annotations

import math


#: fixed time steps a cell may take (dt = 1e-12 on a horizon of 5 would be 5e12)
MAX_STEPS = 1_000_000
#: live (N, d) float64 arrays a time stepper holds at once, besides its snapshots (particles, velocity, trial
#: step, score, drift temporaries, blocks' row copies): a generous count, so an estimate errs high
LIVE_ARRAYS = 24
#: bytes of everything that does not grow with N (torch, POT, pandas, the compiled kernels, the networks, the
#: blockwise kernels' 64 MiB blocks), from the peak resident memory the cell records hold (issue 45): 446-867 MiB for
#: the first cell of a process, up to 1,377 MiB in a process that ran 10-40 cells before (181 records of
#: 2026-12-07, N <= 100,000, where the model's N-dependent part is at most 130 MiB); 512 MiB, the value before,
#: was below every one of them (measured / estimate 1.7-2.6), so the estimate now errs high as it means to
BASE_BYTES = 1_400 * 2**20


class SizeError(ValueError):
    """A planned cell would not fit (memory) or would not end (steps): one line with the estimate and the limit."""


def available_memory() -> int:
    """Bytes the OS says are available (MemAvailable of /proc/meminfo; else physical memory)."""
    try:
        with open("/proc/meminfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    import os
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


#: float64 arrays of the KDE evaluation grid's size a metric holds at once (points (M, d), the density, its
#: reference and temporaries): the grid has grid_points ** d points
GRID_ARRAYS = 8
#: optimizer steps a cell may take in all (SBP's iters_per_step per time step plus init_iters, PINN-PM's
#: iters): the paper's largest budget is 20,000 (PINN-PM) and 500 x 25 + 2,000 (SBP)
MAX_OPTIMIZER_STEPS = 10_000_000


def cell_memory_bytes(cfg, problem) -> int:
    """Estimated peak bytes of a cell with config `cfg` on `problem`: LIVE_ARRAYS live (N, d) float64 arrays
    plus two (particles and scores) per snapshot for the config's declared N (solvers.config.ConfigSize), its
    density sample set per snapshot where there is one, GRID_ARRAYS float64 arrays of the evaluation grid
    (grid_points ** d points, times d + 1 numbers), LIVE_ARRAYS (N, d) arrays per training point (PINN-PM's
    n x n_times, a lower bound: the networks' activations come on top), and BASE_BYTES."""
    d, snaps = problem.dim, len(problem.snapshot_times)
    size = _size(cfg)
    grid = GRID_ARRAYS * (d + 1) * problem.grid_points ** d
    return BASE_BYTES + 8 * (d * (size.particles * (LIVE_ARRAYS + 2 * snaps) + size.density_samples * (snaps + 2)
                                  + LIVE_ARRAYS * size.training_points) + grid)


def _size(cfg):
    """The config's declared ConfigSize; SizeError when a field it reads is not a count."""
    from solvers.config import SizeDeclarationError, config_size
    try:
        return config_size(cfg)
    except SizeDeclarationError as exc:
        raise SizeError(str(exc)) from None


def _horizon(problem) -> float:
    return max(problem.snapshot_times) - problem.t0


def fixed_steps(cfg, problem) -> int:
    """The fewest Euler steps a stepper config takes: horizon / dt for a fixed dt, horizon / dt_max for
    adaptive steps (no accepted step is longer than dt_max); 0 for a config without steps."""
    return _size(cfg).time_steps(_horizon(problem))


def optimizer_steps(cfg, problem) -> int:
    """Optimizer steps of a config: iters (trained solvers) + init_iters + iters_per_step x fixed_steps (a
    stepper that fits its score at every step)."""
    return _size(cfg).optimizer_steps(_horizon(problem))


def largest_cell_bytes(cells, profile: str) -> int:
    """The largest `cell_memory_bytes` over the planned cells (0 for none): what one worker process needs to run any
    of them, so the number of workers that fit is available memory // this (harness.execute.executors)."""
    from harness.plan.cell import distinct_configs
    return max((cell_memory_bytes(cfg, problem) for _, problem, cfg in distinct_configs(cells, profile)), default=0)


def check_cells(cells, profile: str, available: int | None = None) -> None:
    """SizeError for the first planned cell that would need more memory than `available` (default: what the
    machine has now) or more than MAX_STEPS fixed steps."""
    available = available_memory() if available is None else available
    from harness.plan.cell import distinct_configs
    for cell, problem, cfg in distinct_configs(cells, profile):
        size = _size(cfg)
        need = cell_memory_bytes(cfg, problem)
        if need > available:
            grid = problem.grid_points ** problem.dim
            lower = "n" if need - cell_memory_bytes(cfg, problem.replace(grid_points=2)) < need / 2 else \
                f"{problem.name}.grid_points (the KDE grid has {grid:.3g} points)"
            if 8 * problem.dim * LIVE_ARRAYS * size.training_points > need / 2:
                lower = f"n or n_times (n x n_times = {size.training_points:.3g} training points)"
            raise SizeError(f"{cell.describe()} would need about {need / 2**30:.1f} GiB (N = {size.particles}, "
                            f"d = {problem.dim}) and {available / 2**30:.1f} GiB is available; lower {lower}, or --force")
        steps = fixed_steps(cfg, problem)
        if steps > MAX_STEPS:
            which, value = size.step
            if size.step_length() < value:  # adaptive steps whose tol bounds the step below dt_max
                which, value = "tol", size.adaptive_tol
                raise SizeError(f"{cell.describe()} would take about {steps:.3g} adaptive steps at tol = {value:g} "
                                f"(a step of about sqrt(tol), Euler's local error being O(h^2); at most "
                                f"{MAX_STEPS:,} steps); raise tol, or --force")
            raise SizeError(f"{cell.describe()} would take at least {steps:.3g} steps of {which} = "
                            f"{value:g} (at most {MAX_STEPS:,}); raise {which}, or --force")
        fits = optimizer_steps(cfg, problem)
        if fits > MAX_OPTIMIZER_STEPS:
            raise SizeError(f"{cell.describe()} would take {fits:.3g} optimizer steps (iters, init_iters, "
                            f"iters_per_step x {steps} steps; at most {MAX_OPTIMIZER_STEPS:,}); lower them, or --force")
