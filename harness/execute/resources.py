"""What a cell used besides time: the memory peaks of the process that ran it and the kernels its drift and blob
score ran on (issue 44: the run directory is the record).

`start_cell()` at a cell's start resets the kernel counts (`problems.particle_drift.usage`) and, where CUDA is
already initialised in this process, its peak-memory statistics; `cell_usage()` at its end returns the three
fields the cell record holds (`harness.store.record.CellRecord`):

* peak_rss_mb: getrusage(RUSAGE_SELF).ru_maxrss in MiB (KiB on Linux, bytes on macOS), the resident-set peak of the
  process since it started: in a worker process that ran cells before (the process pool, Dask), the process's peak
  so far, an upper bound of this cell's; exact for a cell in a process of its own (--cell-timeout). None where the
  platform has no `resource` module.
* gpu_peak_mb: torch.cuda.max_memory_allocated() in MiB since the cell's start (the caching allocator's
  tensors, not the driver's context), None where the cell never touched CUDA: CUDA is never initialised here, so a
  CPU cell in a forked worker stays CUDA-free.
* kernels: {kernel name: calls} of the cell.
"""
from __future__ import annotations

import sys

from problems.particle_drift import usage

MIB = 2.0 ** 20


def peak_rss_mb() -> float | None:
    """The resident-set peak of this process so far in MiB (see the module docstring), or None."""
    try:
        import resource
    except ImportError:  # not a Unix
        return None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return round(peak / (MIB if sys.platform == "darwin" else 1024.0), 1)


def _cuda_in_use():
    """torch.cuda if torch is loaded and CUDA is initialised in this process, else None (never initialises it)."""
    torch = sys.modules.get("torch")
    if torch is None or not torch.cuda.is_available() or not torch.cuda.is_initialized():
        return None
    return torch.cuda


def start_cell() -> None:
    """Reset the kernel counts and, where CUDA is in use in this process, its peak-memory statistics."""
    usage.reset()
    cuda = _cuda_in_use()
    if cuda is not None:
        cuda.reset_peak_memory_stats()


def cell_usage() -> dict:
    """{'peak_rss_mb': ..., 'gpu_peak_mb': ..., 'kernels': {...}} since `start_cell`: the CellRecord fields."""
    cuda = _cuda_in_use()
    gpu = round(cuda.max_memory_allocated() / MIB, 1) if cuda is not None else None
    return {"peak_rss_mb": peak_rss_mb(), "gpu_peak_mb": gpu, "kernels": usage.counts()}
