"""Sizes refused before a run starts: memory a cell would need beyond what the machine has, step counts
beyond MAX_STEPS. Checked on the planned cells' configs (overrides applied), so `--set n=100000000` is a
one-line error in milliseconds instead of a kernel that grows past the machine's memory. `--force` skips it.
"""
from __future__ import annotations

import dataclasses
import math


#: fixed time steps a cell may take (dt = 1e-12 on a horizon of 5 would be 5e12)
MAX_STEPS = 1_000_000
#: live (N, d) float64 arrays a time stepper holds at once, besides its snapshots (particles, velocity, trial
#: step, score, drift temporaries, blocks' row copies): a generous count, so an estimate errs high
LIVE_ARRAYS = 24
#: bytes of everything that does not grow with N (torch, the networks, the blockwise kernels' 64 MiB blocks)
BASE_BYTES = 512 * 2**20


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


def cell_memory_bytes(cfg, problem) -> int:
    """Estimated peak bytes of a cell with config `cfg` on `problem`: LIVE_ARRAYS live (N, d) float64 arrays
    plus two (particles and scores) per snapshot for N = max(cfg.n, cfg.n_eval), the density sample set (cfg.n_density) per
    snapshot where there is one, and BASE_BYTES."""
    d, snaps = problem.dim, len(problem.snapshot_times)
    n = max(int(getattr(cfg, "n", 0) or 0), int(getattr(cfg, "n_eval", 0) or 0))
    n_density = int(getattr(cfg, "n_density", 0) or 0)
    return BASE_BYTES + 8 * d * (n * (LIVE_ARRAYS + 2 * snaps) + n_density * (snaps + 2))


def fixed_steps(cfg, problem) -> int:
    """Euler steps of a fixed-dt config (0 for adaptive steps or a config without dt)."""
    dt = getattr(cfg, "dt", None)
    if not isinstance(dt, (int, float)) or dt <= 0:
        return 0
    return math.ceil((max(problem.snapshot_times) - problem.t0) / dt)


def check_cells(cells, profile: str, available: int | None = None) -> None:
    """SizeError for the first planned cell that would need more memory than `available` (default: what the
    machine has now) or more than MAX_STEPS fixed steps."""
    available = available_memory() if available is None else available
    from .cell import distinct_configs
    for cell, problem, cfg in distinct_configs(cells, profile):
        if not dataclasses.is_dataclass(cfg):
            continue
        need = cell_memory_bytes(cfg, problem)
        if need > available:
            raise SizeError(f"{cell.describe()} would need about {need / 2**30:.1f} GiB (N = {getattr(cfg, 'n', '?')}, "
                            f"d = {problem.dim}) and {available / 2**30:.1f} GiB is available; lower n, or --force")
        steps = fixed_steps(cfg, problem)
        if steps > MAX_STEPS:
            raise SizeError(f"{cell.describe()} would take {steps:.3g} steps of dt = {cfg.dt:g} (at most {MAX_STEPS:,}); "
                            f"raise dt, or --force")
