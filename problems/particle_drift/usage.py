"""Which kernel each drift and blob-score call used, counted in this process: {kernel name: calls}.

`problems.particle_drift.dispatch.drift` and `solvers.blob.blob_score` call `note(name)` once per call with the
kernel that computed it (after a compiled kernel's fallback, the kernel that did); `harness.execute.run_cell`
calls `reset()` at a cell's start and reads `counts()` at its end, so a cell record says which kernels made its
numbers (`LANDAU_FUSED_MIN_N`, Triton and a failed compilation change them). One dict increment a call. The count
is per process: cells run one at a time in a process (local, the process pool, a Dask LocalCluster of one thread a
worker), so a cell's count is its own; on an external Dask worker of several threads, cells running at once would
share theirs.
"""
from __future__ import annotations

from collections import Counter

#: the names `note` is called with
DRIFT_MAXWELL = "drift:maxwell"  # gamma = 0, the O(N d^2) moment form
DRIFT_BLOCKWISE = "drift:blockwise"  # the blockwise pairwise sum (autograd, small N, or a fallback)
DRIFT_COMPILED_CPU = "drift:compiled_cpu"  # torch.compile row blocks (problems.particle_drift.fused)
DRIFT_TRITON = "drift:triton"  # CUDA (problems.particle_drift.triton_kernel)
BLOB_BLOCKWISE = "blob_score:blockwise"
BLOB_COMPILED_CPU = "blob_score:compiled_cpu"

_counts: Counter = Counter()


def note(name: str) -> None:
    """Count one call of kernel `name`."""
    _counts[name] += 1


def reset() -> None:
    """Forget every count (a cell's start)."""
    _counts.clear()


def counts() -> dict[str, int]:
    """{kernel name: calls} since the last reset, sorted by name."""
    return dict(sorted(_counts.items()))
