"""References as work of their own: a reference the run needs and the cache lacks is built by a task that a
worker starts first, and the cells that need it are handed out when it is built.

A cell judged against a reference (`problems.reference_kind`: sde, grid or radial) would otherwise build it
inside the cell when the cache lacks it (`problems.references.base.cached_arrays`; a second cell waiting for
the same one blocks on the cache's lock and then loads it), so on a fresh machine the run's longest cell
carried a reference build of minutes and the cells behind the lock held workers doing nothing.

* `plan_references(cells, profile)`: one `ReferenceTask` per distinct problem (its constants applied) whose
  reference at the profile's resolution is not cached (`harness.plan.estimate.missing_reference`), in the order
  they are handed out (longest reference build plus longest waiting cell first), and the cell ids that wait
  for each. A run whose references are all cached plans none.
* `run_reference_task`: what a worker runs for one: `harness.execute.evaluate.judged_problem`, the code path
  a cell takes, on the cell's torch thread count (`run_cell.CELL_THREADS`), so the cached arrays are the ones a
  cell would have written. It never raises: a failure is a `ReferenceResult` with ok False, after which the
  cells that wait for it run as they always did (each tries to build the reference itself and succeeds, or
  fails as its own cell with its own message). Nothing a run records depends on it.
* `DispatchQueue` and `dispatch`: the ready queue of the process engine (and of its threads under
  --cell-timeout): reference tasks first, then the cells in dispatch order, a cell held back until its
  reference task has finished; at most `jobs` tasks are running at once. The local and Dask engines simply
  build the missing references first and then run the cells.
"""
from __future__ import annotations

import hashlib
import heapq
import json
import time
from collections import deque
from concurrent.futures import FIRST_COMPLETED, wait
from dataclasses import dataclass, field
from typing import Callable, Iterator

from harness.plan.cell import Cell
from harness.plan.estimate import cell_seconds, missing_reference, reference_seconds
from harness.plan.profiles import Profile
from infra.text import one_line


@dataclass(frozen=True)
class ReferenceTask:
    """The build of one reference: problem `problem` with `constants` ((field, value) pairs, as a cell's
    problem constants), of `kind` at `resolution`."""

    problem: str
    constants: tuple = ()
    kind: str = ""
    resolution: str = "fine"

    @property
    def id(self) -> str:
        """'reference-tiny2d-sde-coarse' (plus a hash of the constants when there are some): a marker's or a Dask
        key's name."""
        stem = f"reference-{self.problem}-{self.kind}-{self.resolution}"
        if not self.constants:
            return stem
        return stem + "-" + hashlib.sha256(json.dumps(self.constants, default=str).encode()).hexdigest()[:10]

    def describe(self) -> str:
        """'the sde reference of tiny2d (coarse)' for messages."""
        where = ", ".join([self.resolution] + [f"{k}={v}" for k, v in self.constants])
        return f"the {self.kind} reference of {self.problem} ({where})"

    def make_problem(self):
        import problems
        return problems.get_problem(self.problem, **dict(self.constants))

    def to_json(self) -> list:
        return [self.problem, dict(self.constants), self.kind, self.resolution]

    @classmethod
    def from_json(cls, item) -> "ReferenceTask":
        problem, constants, kind, resolution = item
        return cls(problem, tuple(sorted(constants.items())), kind, resolution)


@dataclass(frozen=True)
class ReferenceResult:
    """How a reference task ended: ok, its seconds and, when it failed, the one-line error."""

    task: ReferenceTask
    ok: bool
    seconds: float
    error: str = ""

    def to_json(self) -> dict:
        return {"task": self.task.to_json(), "ok": self.ok, "seconds": self.seconds, "error": self.error}

    @classmethod
    def from_json(cls, data) -> "ReferenceResult":
        """The inverse of to_json; ValueError if malformed."""
        try:
            return cls(ReferenceTask.from_json(data["task"]), bool(data["ok"]), float(data["seconds"]),
                       str(data.get("error", "")))
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ValueError(f"not a reference result: {exc}") from None


@dataclass
class ReferencePlan:
    """The reference tasks of a run in the order they are handed out, and {cell id: the task it waits for}."""

    tasks: list[ReferenceTask] = field(default_factory=list)
    waits: dict[str, ReferenceTask] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.tasks)

    def cells_waiting(self, task: ReferenceTask) -> int:
        return sum(1 for t in self.waits.values() if t == task)


def plan_references(cells: list[Cell], profile: Profile) -> ReferencePlan:
    """The reference tasks `cells` need (see the module docstring). A cell whose problem cannot be made is left
    alone: it fails as its own cell. The tasks go longest first: a reference's build seconds plus the longest
    cell waiting for it (harness.plan.estimate), ties in the cells' order."""
    resolution = profile.reference_resolution
    tasks: dict[str, ReferenceTask | None] = {}  # problem repr -> its task (None: cached or none needed)
    plan = ReferencePlan()
    for cell in cells:
        try:
            problem = cell.make_problem()
            key = repr(problem)
            if key not in tasks:
                kind = missing_reference(problem, resolution)
                tasks[key] = None if kind is None else ReferenceTask(
                    cell.problem, tuple(sorted(cell.problem_constants().items())), kind, resolution)
        except Exception:  # this cell fails as its own, with its own message
            continue
        if tasks[key] is not None:
            plan.waits[cell.id] = tasks[key]
    found = [t for t in tasks.values() if t is not None]
    longest = {t: max(cell_seconds(c, profile) for c in cells if plan.waits.get(c.id) == t) for t in found}
    plan.tasks = sorted(found, key=lambda t: -(reference_seconds(t.kind, t.resolution) + longest[t]))
    return plan


def run_reference_task(plugin_files: list[str], task: list, timeout: float | None = None,
                       run_dir: str | None = None) -> ReferenceResult:
    """Build the reference of `task` (`ReferenceTask.to_json()`, which names its resolution) as a cell would (never
    raises). With `timeout`, in a child process (`harness.execute.cell_process`, its scratch file in `run_dir`)
    killed after `timeout` s."""
    t = ReferenceTask.from_json(task)
    if timeout is not None:
        return run_reference_in_subprocess(plugin_files, task, run_dir, timeout)
    start = time.perf_counter()
    try:
        import torch

        from harness.execute.evaluate import judged_problem
        from harness.plan.plugins import load_plugins
        from harness.execute.run_cell import CELL_THREADS

        load_plugins(plugin_files)
        threads = torch.get_num_threads()
        torch.set_num_threads(CELL_THREADS)  # a cell builds it on these threads: the same arrays
        try:
            judged, _ = judged_problem(t.make_problem(), t.resolution)
        finally:
            torch.set_num_threads(threads)
        if judged is None:
            raise LookupError(f"no reference method applies to {t.problem}")
    except (Exception, SystemExit) as exc:  # its cells build it themselves, as they always could
        what = f"SystemExit: sys.exit({exc.code!r})" if isinstance(exc, SystemExit) else f"{type(exc).__name__}: {exc}"
        return ReferenceResult(t, False, time.perf_counter() - start, one_line(what))
    return ReferenceResult(t, True, time.perf_counter() - start)


def run_reference_in_subprocess(plugin_files, task: list, run_dir, timeout: float) -> ReferenceResult:
    """`run_reference_task` in `python -m harness.execute.cell_process`, killed after `timeout` s (--cell-timeout)."""
    from harness.execute.tasks import run_child
    t = ReferenceTask.from_json(task)
    start = time.perf_counter()
    data, code = run_child({"plugins": list(plugin_files), "reference": task}, run_dir, timeout)
    if data is None and code is None:
        return ReferenceResult(t, False, time.perf_counter() - start,
                               f"TimeoutError: timed out after {timeout:g} s (--cell-timeout)")
    try:
        return ReferenceResult.from_json(data)
    except ValueError:
        return ReferenceResult(t, False, time.perf_counter() - start,
                               f"ChildProcessError: the reference task's process exited with code {code} without "
                               f"a result")


def failed_reference(task: ReferenceTask, error: str) -> ReferenceResult:
    """A failed result for a reference task that produced none itself (a lost worker)."""
    return ReferenceResult(task, False, 0.0, error)


class DispatchQueue:
    """What a worker takes next: the reference tasks first, then the cells in their given (dispatch) order,
    each cell that waits for a reference task held back until `release(task)`."""

    def __init__(self, cells: list[Cell], plan: ReferencePlan | None = None):
        plan = plan or ReferencePlan()
        self._refs: deque[ReferenceTask] = deque(plan.tasks)
        self._ready: list[tuple[int, Cell]] = []
        self._waiting: dict[ReferenceTask, list[tuple[int, Cell]]] = {}
        self._index: dict[str, int] = {}
        for i, cell in enumerate(cells):
            self._index[cell.id] = i
            task = plan.waits.get(cell.id)
            if task is None:
                self._ready.append((i, cell))
            else:
                self._waiting.setdefault(task, []).append((i, cell))
        heapq.heapify(self._ready)

    def __len__(self) -> int:
        return len(self._refs) + len(self._ready) + sum(map(len, self._waiting.values()))

    def pop(self) -> ReferenceTask | Cell | None:
        """The next reference task, else the first ready cell, else None."""
        if self._refs:
            return self._refs.popleft()
        return heapq.heappop(self._ready)[1] if self._ready else None

    def release(self, task: ReferenceTask) -> None:
        """`task` has finished (built or failed): its cells are ready."""
        for entry in self._waiting.pop(task, []):
            heapq.heappush(self._ready, entry)

    def release_all(self) -> None:
        for task in list(self._waiting):
            self.release(task)

    def requeue(self, item: ReferenceTask | Cell) -> None:
        """Put back an item that was handed out and lost with its pool (it runs again, in its place)."""
        if isinstance(item, ReferenceTask):
            self._refs.appendleft(item)
        else:
            heapq.heappush(self._ready, (self._index.get(item.id, -1), item))


#: what `dispatch`'s settle returns for an item lost with its pool (it is not yielded; nothing more is submitted)
LOST = object()


def dispatch(queue: DispatchQueue, submit: Callable, jobs: int, settle: Callable) -> Iterator[tuple[object, object]]:
    """Hand `queue`'s items to `submit(item) -> Future`, at most `jobs` running at once, and yield (item,
    settle(item, future)) as each finishes; a reference task's cells are released before its result is yielded.
    When settle returns LOST (a broken pool) nothing more is submitted, the running items are settled, and
    dispatch returns with the rest left in the queue."""
    running: dict = {}
    broken = False
    while True:
        while not broken and len(running) < max(jobs, 1):
            item = queue.pop()
            if item is None:
                break
            running[submit(item)] = item
        if not running:
            if broken or not len(queue):
                return
            queue.release_all()  # cells wait for no task in flight (cannot happen; never wait forever)
            continue
        done, _ = wait(running, return_when=FIRST_COMPLETED)
        for fut in sorted(done, key=lambda f: _order(running[f])):
            item = running.pop(fut)
            result = settle(item, fut)
            if result is LOST:
                broken = True
                continue
            if isinstance(item, ReferenceTask):
                queue.release(item)
            yield item, result


def _order(item) -> tuple:
    """References before cells among the futures that finished together (then by name): a stable order."""
    return (0, item.id) if isinstance(item, ReferenceTask) else (1, item.id)
