"""Rebuild a run directory's outputs from its cell records: tables, figures, diagnosis, summary.md and index.html
(`harness report`, and `run` after its cells). It lives in report/, so `report` reads and draws without importing
the execution stack (issue 44); the particle figures may be drawn in a forked child meanwhile (`beside`), which is
waited on for at most FIGURE_CHILD_TIMEOUT_S and then drawn here instead."""
from __future__ import annotations

import multiprocessing as mp
import sys
from concurrent.futures import ProcessPoolExecutor, wait
from contextlib import contextmanager
from pathlib import Path

from harness.store import tables as store
from harness.store.manifest import read_manifest
from harness.plan.context import RunContext
from harness.plan.trust import older_configuration, record_mismatch
from harness.report.figures import (write_certificate_figures, write_figures, write_frontier_figures,
                                    write_particle_figures, write_sweep_figures, write_training_figures)
from harness.report.diagnosis import LEGEND as DIAGNOSIS_LEGEND, diagnosis_lines
from harness.report.html_page import markdown_to_html
from harness.report.summary import render_summary

#: how long the rest of the report waits, after its own figures, for the forked child drawing the particle figures
#: (they took about 15 s for the 32 cells of the main job, 2026-12-07); a child still drawing then is stopped and
#: its figures drawn in this process
FIGURE_CHILD_TIMEOUT_S = 600.0


def trusted_records(records: list, profile: str, warn=None, planned: dict | None = None) -> list:
    """The records that belong to a run of `profile` (`harness.plan.trust.record_mismatch`); each other one is left
    out with one warning line naming it and why."""
    say = warn or (lambda m: print(m, file=sys.stderr))
    kept = []
    for rec in records:
        why = record_mismatch(rec, profile, (planned or {}).get(rec.cell_id))
        if why:
            say(f"warning: cell record {rec.cell_id}.json is not reported: {why}")
        else:
            kept.append(rec)
    return kept


def rebuild_outputs(context: RunContext, jobs: int = 1) -> dict:
    """Write metrics.{csv,parquet}, timings.csv, failures, summary.md, index.html and figures from the cell files of
    context.run_dir: the particle figures against the reference at context.profile's resolution (the values the run
    recorded), each cell's "older configuration" judged against context.today. With jobs > 1 the particle figures
    (about half the figure time) are drawn in a forked process meanwhile."""
    run_dir = Path(context.run_dir).resolve()
    manifest = read_manifest(run_dir)
    profile = manifest.config.profile
    records = trusted_records(store.load_records(run_dir), profile, planned=manifest.planned)
    older = [(rec.cell_id, why) for rec in records
             if (why := older_configuration(rec, context.today, manifest.planned.get(rec.cell_id)))]
    resolution = context.profile.reference_resolution if context.profile is not None else None
    table, timings, failures = store.collect_tables(run_dir, records)
    certs = store.collect_certificates(run_dir, records)
    floors = store.collect_floors(run_dir, records)
    store.atomic_write_frame(certs, run_dir / "certificates.csv")
    store.atomic_write_frame(store.floors_csv(floors), run_dir / "floors.csv")
    store.atomic_write_frame(table, run_dir / "metrics.csv")
    store.atomic_write_frame(table, run_dir / "metrics.parquet")
    store.atomic_write_frame(timings, run_dir / "timings.csv")
    fig_dir = run_dir / "figures"
    with beside(write_particle_figures, (run_dir, fig_dir, records, resolution), jobs) as particle_figures:
        figures = (write_figures(table, fig_dir, floors) + write_sweep_figures(table, timings, fig_dir)
                   + write_frontier_figures(table, timings, fig_dir)
                   + write_training_figures(run_dir, fig_dir, records)
                   + write_certificate_figures(certs, fig_dir))
    figures += particle_figures.result()
    raw = manifest.to_json()  # what the report's readers take
    diagnosis = diagnosis_lines(table, raw, floors)
    if diagnosis:
        store.atomic_write_text(run_dir / "diagnosis.md", "\n".join(["# PINN-PM diagnosis", "", DIAGNOSIS_LEGEND, ""]
                                                                    + diagnosis))
    from harness.report.seed_w2 import seed_w2_frame
    seed_w2 = seed_w2_frame(run_dir, records)
    if not seed_w2.empty:
        store.atomic_write_frame(seed_w2, run_dir / "seed_w2.csv")
    summary = render_summary(table, timings, failures, raw, certs, store.set_aside_records(run_dir),
                             sorted(p.name for p in figures), floors, older, seed_w2)
    store.atomic_write_text(run_dir / "summary.md", summary)
    store.atomic_write_text(run_dir / "index.html", markdown_to_html(summary, f"landau-bench: {run_dir.name}"))
    return {"rows": len(table), "failed": len(failures)}


class Pending:
    """fn(*args)'s result, from `future` (a forked process's) when there is one and it succeeded, else by calling fn
    here: a child that failed, died or timed out is not a lost report (its exception, if fn fails here too, is the
    caller's)."""

    def __init__(self, fn, args: tuple, future=None):
        self.fn, self.args, self.future = fn, args, future

    def result(self):
        """fn's return: the child's, else computed here."""
        if self.future is not None:
            try:
                return self.future.result(timeout=0)
            except Exception:  # noqa: BLE001  (drawn here instead: the figures are not lost)
                pass
        return self.fn(*self.args)


def _single_threaded(fn, *args):
    """fn(*args) on one torch thread: a forked child must not start an OpenMP team its parent's pool may hold."""
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(1)
    return fn(*args)


@contextmanager
def beside(fn, args: tuple, jobs: int, timeout: float = FIGURE_CHILD_TIMEOUT_S):
    """Run fn(*args) in a forked process while the body runs (jobs > 1 and fork available), else after it in this
    process; yields a `Pending` whose .result() is fn's return. After the body, the child gets at most `timeout`
    seconds more; one still running then is terminated (one warning line) and .result() computes fn here."""
    if jobs <= 1 or "fork" not in mp.get_all_start_methods():
        yield Pending(fn, args)
        return
    pool = ProcessPoolExecutor(max_workers=1, mp_context=mp.get_context("fork"))
    pending = Pending(fn, args, pool.submit(_single_threaded, fn, *args))
    try:
        yield pending
    finally:
        done, _ = wait([pending.future], timeout=timeout)
        if not done:
            print(f"warning: the forked child drawing {getattr(fn, '__name__', 'figures')} was still running "
                  f"{timeout:g} s after the rest of the report; stopped, drawn here instead", file=sys.stderr)
            for process in list((getattr(pool, "_processes", None) or {}).values()):  # no public kill before 3.14
                process.terminate()
            pending.future = None
        pool.shutdown(wait=done != set(), cancel_futures=True)
