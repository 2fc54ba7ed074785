"""Large-N cells through the Dask executor unchanged (issue 45): the O(N) methods at N = 100,000-200,000 on a
LocalCluster of two worker processes give the same numbers as in this process, with each cell's peak memory
recorded by the worker that ran it."""
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

pytest.importorskip("distributed")

ROOT = Path(__file__).resolve().parents[1]
#: a 2D Maxwellian start that states no moments: no reference builder applies (problems.references), so a cell is
#: its solve and the invariants, not minutes of reference metrics at N = 100,000
PLUGIN = """
from dataclasses import dataclass
import torch
from problems import Problem, register_problem

@dataclass(frozen=True)
class Free2D(Problem):
    def _sample0(self, n, gen):
        return torch.randn(n, 2, generator=gen, dtype=torch.float64)

    def initial_score(self, v):
        return -v

    def initial_density(self, v):
        return torch.exp(-(v * v).sum(-1) / 2) / (2 * torch.pi)

@register_problem("free2d")
def free2d():
    return Free2D(name="free2d", dim=2, gamma=0.0, C=1 / 16, t0=0.0, snapshot_times=(0.5, 1.0),
                  kde_bandwidth=0.3, paper_n=100, grid_box=((-3, 3),) * 2, grid_points=20)
"""
CELLS = ["-s", "pairwise_collision", "-s", "rbm_blob", "-p", "free2d", "--profile", "smoke",
         "--set", "pairwise_collision.n=200000", "--set", "rbm_blob.n=100000", "--quiet"]


def _run(out: Path, plugin: Path, *extra) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "harness", "run", "--plugin", str(plugin), *CELLS, "--out", str(out),
                           *extra], capture_output=True, text=True, timeout=600, cwd=ROOT)


@pytest.mark.slow
def test_large_n_cells_on_a_local_cluster_equal_the_local_run(tmp_path):
    plugin = tmp_path / "free_plugin.py"
    plugin.write_text(PLUGIN)
    local = _run(tmp_path / "local", plugin, "--executor", "local")
    assert local.returncode == 0, local.stderr[-2000:]
    dask = _run(tmp_path / "dask", plugin, "--executor", "dask", "--jobs", "2")
    assert dask.returncode == 0, dask.stderr[-2000:]
    a = pd.read_csv(tmp_path / "local" / "metrics.csv")
    b = pd.read_csv(tmp_path / "dask" / "metrics.csv")
    keys = ["solver", "problem", "seed", "overrides", "t", "metric"]
    merged = a.merge(b, on=keys, suffixes=("_local", "_dask"))
    assert len(merged) == len(a) == len(b) and len(a) > 0
    assert set(a.p_n) == {100_000, 200_000}
    assert {"energy_drift", "momentum_drift"} <= set(a.metric) and "w1_sub4000" not in set(a.metric)
    assert (merged.value_local - merged.value_dask).abs().max() == 0.0
    timings = pd.read_csv(tmp_path / "dask" / "timings.csv")
    assert len(timings) == 2 and (timings.peak_rss_mb > 100).all()  # 2e5 x 2 float64 particles alone are 3.2 MB
    # the size check's estimate (harness.plan.limits.cell_memory_bytes) bounds what the cells measured: its base
    # plus LIVE_ARRAYS + 2 per snapshot (N, 2) float64 arrays at the larger N, plus the 20 x 20 grid's arrays
    from harness.plan.limits import BASE_BYTES, GRID_ARRAYS, LIVE_ARRAYS
    estimate = BASE_BYTES + 8 * (2 * 200_000 * (LIVE_ARRAYS + 2 * 2) + GRID_ARRAYS * 3 * 20 ** 2)
    assert (timings.peak_rss_mb * 2**20 <= estimate).all(), (list(timings.peak_rss_mb), estimate / 2**20)
