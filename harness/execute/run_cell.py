"""Run one cell: solve, evaluate, certify, store its particles (`run_cell`).

`run_cell` never raises: any exception (including non-finite particles) becomes a 'failed'
record with its message, so the run goes on. A record holds the cell's identity, its config
(overrides applied), metric rows, wall-time breakdown, `solve_s` (the cost on a work-precision
axis) and status.
"""
from __future__ import annotations

import dataclasses
import math
import time
import traceback
from pathlib import Path

import torch

import certificates
from metrics.specs import METRICS, LiveView
import solvers

from infra.text import one_line
from harness.execute.evaluate import evaluate, judged_problem
from harness.execute.resources import cell_usage, start_cell
from harness.plan.cell import Cell
from harness.plan.profiles import Profile
from harness.store import tables as store
from harness.store.record import CellRecord

#: torch intra-op threads of every cell, whatever the executor: a reduction's result depends on the thread
#: count in its last bits (sbp's particles differ after 100 steps on 1 and 2 threads), so a fixed count
#: makes `--jobs 1`, `--jobs auto`, process and Dask runs give identical numbers; parallelism is across cells
CELL_THREADS = 1


def run_cell(cell: Cell, profile: Profile, device: str, progress: bool = False, run_dir: str | None = None) -> CellRecord:
    """Solve and evaluate one cell at `profile` (the run context's Profile object) on CELL_THREADS torch threads;
    never raises (a failure becomes a 'failed' record). The process's thread count is restored afterwards, so a
    caller running cells in its own process (`--jobs 1`, the tests) keeps its threads."""
    threads = torch.get_num_threads()
    torch.set_num_threads(CELL_THREADS)
    try:
        return _run_cell(cell, profile, device, progress, run_dir)
    finally:
        torch.set_num_threads(threads)


def _run_cell(cell: Cell, profile: Profile, device: str, progress: bool, run_dir: str | None) -> CellRecord:
    """run_cell's body, on the threads run_cell set; the record holds what the cell used (peak memory, kernels:
    `harness.execute.resources`), failed or not."""
    record: dict = {}
    start_cell()
    t_start = time.perf_counter()
    try:
        problem = cell.make_problem()
        cls = solvers.get_solver(cell.solver)
        cfg = cell.make_config(profile.name)
        record["config"] = dataclasses.asdict(cfg)
        workdir = str(Path(run_dir) / "artifacts") if run_dir is not None else None
        cpu_start = time.thread_time()  # CELL_THREADS = 1: the solver's torch work runs on this thread
        traj = solvers.validate_trajectory(
            cls(cfg).run(problem, seed=cell.seed, device=device, progress=progress, workdir=workdir), problem)
        record["solve_cpu_s"] = cpu_seconds(time.thread_time() - cpu_start, traj.info, device)
        t_eval = time.perf_counter()
        metric_failures: list[str] = []
        floors: list[dict] = []
        resolution = profile.reference_resolution
        rows = evaluate(traj, problem, cell.seed, resolution, failures=metric_failures, floors=floors)
        diag_rows, diag_error = _diagnostics(traj, problem, cls, cell.seed, resolution)
        rows += diag_rows
        if diag_error:
            record["diagnostics_error"] = diag_error
        record.update(_certificates(traj, problem, cell.seed))
        ap_s = _add_a_posteriori(record, traj, problem, cfg, cell.seed, resolution, workdir)
        if run_dir is not None:
            store.write_particles(store.particles_path(Path(run_dir), cell.id), traj)
        bad = [r for r in rows if not math.isfinite(r["value"])]
        if bad:
            raise FloatingPointError(f"non-finite metric {bad[0]['metric']} at t = {bad[0]['t']}")
        info = {k: v for k, v in traj.info.items() if isinstance(v, (int, float, str, type(None)))}
        if ap_s is not None:
            info["a_posteriori_s"] = ap_s
        record["warnings"] = metric_failures + absurd_metrics(rows)
        record.update(status="ok", rows=rows, floors=floors, wall_time={**traj.wall_time, "evaluation": time.perf_counter() - t_eval},
                      info=info, curves=_curves(traj.info.get("curves")), solve_s=solve_seconds(traj.wall_time, info))
    except (Exception, SystemExit) as exc:  # recorded, the run goes on (a plugin's sys.exit() too)
        what = f"SystemExit: the solver called sys.exit({exc.code!r})" if isinstance(exc, SystemExit) \
            else f"{type(exc).__name__}: {exc}"
        return CellRecord.failed(cell, profile.name, one_line(what), traceback=traceback.format_exc(limit=6),
                                 total_s=time.perf_counter() - t_start, config=record.get("config", {}), **cell_usage())
    return CellRecord(cell.solver, cell.problem, cell.seed, cell.id, profile.name, total_s=time.perf_counter() - t_start,
                      overrides=dict(cell.overrides), **record, **cell_usage())


#: a metric this many times its floor (or a relative metric this large) is flagged in the cell's warnings
ABSURD_FACTOR = 1e6
#: from the registry (metrics.specs, `absurd`): metric -> its floor, and the relative metrics
FLOORED = LiveView(lambda: {m.name: m.floors[0] for m in METRICS.values() if m.absurd == "floor"})
RELATIVE = LiveView(lambda: tuple(m.name for m in METRICS.values() if m.absurd == "relative"))


def absurd_metrics(rows: list[dict]) -> list[str]:
    """One line per metric value that no working solver produces: more than ABSURD_FACTOR times its Monte Carlo
    floor (w1, kde_l2), or a relative error above ABSURD_FACTOR (rfd, cov_err, ...). The cell stays 'ok' (its
    numbers are what the solver did) but the run says so."""
    by_t: dict[float, dict[str, float]] = {}
    for r in rows:
        by_t.setdefault(r["t"], {})[r["metric"]] = r["value"]
    out = []
    for t, vals in sorted(by_t.items()):
        for metric, floor in FLOORED.items():
            if metric in vals and vals.get(floor, 0) > 0 and vals[metric] > ABSURD_FACTOR * vals[floor]:
                out.append(f"{metric} = {vals[metric]:.3g} at t = {t:g} is {vals[metric] / vals[floor]:.2g}x its floor")
        for metric in RELATIVE:
            if abs(vals.get(metric, 0.0)) > ABSURD_FACTOR:
                out.append(f"{metric} = {vals[metric]:.3g} at t = {t:g}")
    return out


#: phases that are not the cell's cost: its evaluation, and the time a PINN-PM cell waited for (and loaded) the
#: training another cell of the run did, whose cost it is charged through info['train_s'] instead
NOT_COST = ("evaluation", "checkpoint_wait")


def solve_seconds(wall_time: dict, info: dict) -> float:
    """The cost of producing the cell's answer, NOT_COST excluded: every solver phase, with the
    'training' phase replaced by the full training time of the model used (`info['train_s']`,
    cumulative over the sessions that trained it), so a model loaded from a checkpoint is charged
    what it cost, not zero."""
    phases = {k: v for k, v in wall_time.items() if k not in NOT_COST}
    if isinstance(info.get("train_s"), (int, float)):
        phases["training"] = float(info["train_s"])
    return float(sum(phases.values()))


def cpu_seconds(thread_s: float, info: dict, device: str) -> float | None:
    """The cell's solve CPU seconds for the record: `thread_s` (this thread's CPU time in the solver's run), or None
    where it is not the method's cost: a trained solver (info holds 'train_s': its training may have run in another
    cell or session, which solve_seconds charges and thread time cannot see) or a cell on a GPU (the thread waits on
    the device)."""
    if "train_s" in info or solvers.resolve_device(device).type != "cpu":
        return None
    return float(thread_s)


def _certificates(traj, problem, seed) -> dict:
    """{'certificates': rows} for a trajectory with a probe on an applicable problem; a failure here is
    recorded as 'certificates_error' and does not fail the cell (its metrics stand)."""
    if traj.probe is None or not certificates.applicable(problem)[0]:
        return {}
    try:
        return {"certificates": certificates.certify(traj.probe, problem, seed)}
    except Exception as exc:  # recorded, the cell goes on
        return {"certificates_error": f"{type(exc).__name__}: {exc}"}


def _add_a_posteriori(record: dict, traj, problem, cfg, seed, resolution: str, workdir) -> float | None:
    """Appends the a-posteriori certificate rows of a cell whose particles are a flow map's push-forward of f0
    (`certificates.a_posteriori`) or a particle method's with a recorded path (blob, sbp:
    `certificates.particle_residual`) to record['certificates'] and returns the seconds it took (None: neither); a
    failure is recorded as 'certificates_error' (if none yet) and does not fail the cell."""
    start = time.perf_counter()
    try:
        path = certificates.flow_path_of(traj, problem, cfg, seed, workdir)
        particles = certificates.particle_path_of(traj, problem) if path is None else None
        if path is None and particles is None:
            return None
        judged = judged_problem(problem, resolution)[0]
        rows = (certificates.certify_flow(path, problem, judged, traj.initial, seed) if path is not None
                else certificates.certify_particles(particles, problem, judged, seed))
        record["certificates"] = record.get("certificates", []) + rows
    except Exception as exc:  # recorded, the cell goes on
        record.setdefault("certificates_error", one_line(f"a_posteriori: {type(exc).__name__}: {exc}"))
    return time.perf_counter() - start


def _diagnostics(traj, problem, cls, seed, resolution: str) -> tuple[list[dict], str]:
    """(rows, error) of `certificates.training_diagnostics` for a solver that declares `diagnose_training`
    and a trajectory with a probe; a failure is returned as one line and does not fail the cell."""
    if traj.probe is None or not getattr(cls, "diagnose_training", False):
        return [], ""
    try:
        judged, kind = judged_problem(problem, resolution)
        return certificates.training_diagnostics(traj.probe, problem, judged, seed, bool(cls.has_flow_map),
                                                 kind or ""), ""
    except Exception as exc:  # recorded, the cell goes on
        return [], one_line(f"{type(exc).__name__}: {exc}")


def _curves(curves) -> dict:
    """A solver's {'name': [floats]} curves (training losses), kept if the lists are of equal length."""
    if not isinstance(curves, dict) or not curves:
        return {}
    lengths = {len(v) for v in curves.values() if isinstance(v, (list, tuple))}
    return {k: [float(x) for x in v] for k, v in curves.items()} if len(lengths) == 1 else {}
