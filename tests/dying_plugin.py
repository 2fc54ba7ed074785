"""Plugin solvers whose process or worker goes away, for tests/test_executor_safety.py (loaded with --plugin
beside harness_plugin.py, whose problem `tiny2d` they run on).

* `dies`: ends its process inside solve with os._exit(1), as a segfault or the OOM killer would (no record);
  when $DYING_SYNC names a directory, it first waits (at most a minute) until `bystander` runs beside it;
* `bystander`: when $DYING_SYNC names a directory without a file `bystander`, creates that file and sleeps for
  a minute (a cell still running when `dies` kills its own worker); otherwise returns at once;
* `blocks`: sets STARTED, then waits (at most a minute) for the test to set RELEASE (for an in-process Dask
  worker that the test closes while the cell runs).
The ones that return give their n initial particles at every snapshot, with the score -v.
"""
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from solvers import Solver, Trajectory, register_solver

STARTED = threading.Event()
RELEASE = threading.Event()


@dataclass(frozen=True)
class DyingConfig:
    n: int = 32


class Still(Solver):
    Config = DyingConfig

    def still(self, problem, seed):
        v0 = problem.sample(self.config.n, seed)
        times = list(problem.snapshot_times)
        return Trajectory(self.name, problem.name, times, [v0.clone() for _ in times], [-v0 for _ in times], v0)


@register_solver("dies")
class Dies(Still):
    def solve(self, problem, seed=0, device="cpu", initial=None, progress=False, workdir=None):
        sync = os.environ.get("DYING_SYNC")
        deadline = time.monotonic() + 60
        while sync and not (Path(sync) / "bystander").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        os._exit(1)


@register_solver("bystander")
class Bystander(Still):
    def solve(self, problem, seed=0, device="cpu", initial=None, progress=False, workdir=None):
        sync = os.environ.get("DYING_SYNC")
        if sync and not (Path(sync) / "bystander").exists():
            (Path(sync) / "bystander").touch()
            time.sleep(60)
        return self.still(problem, seed)


@register_solver("blocks")
class Blocks(Still):
    def solve(self, problem, seed=0, device="cpu", initial=None, progress=False, workdir=None):
        STARTED.set()
        RELEASE.wait(60)
        return self.still(problem, seed)
