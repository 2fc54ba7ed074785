"""The command-line grammar of `python -m harness` (argparse)."""
from __future__ import annotations

import argparse

DEVICES = ("auto", "cpu", "cuda")


def _add_run_options(sub, sweep: bool) -> None:
    sub.add_argument("-s", "--solver", action="append", default=[], help="solver name (repeatable)")
    sub.add_argument("-p", "--problem", action="append", default=[], help="problem name (repeatable)")
    sub.add_argument("--profile", default=None, help="smoke | quick (default) | paper")
    sub.add_argument("--device", default="auto", help="auto (default) | cpu | cuda")
    sub.add_argument("--seeds", default=None, help="comma-separated non-negative ints, e.g. 0,1,2 (default 0"
                     + ("; a sweep: 0,1 for steppers, 0 for trained solvers)" if sweep else ")"))
    sub.add_argument("--set", action="append", default=[], dest="overrides", metavar="[SOLVER.]FIELD=V1,V2",
                     help="override a solver config field, or a problem constant (PROBLEM.FIELD=...); a comma list "
                          "is a grid (one cell per value), several --set make the cartesian product; `harness list` "
                          "shows the fields and constants")
    sub.add_argument("--out", default=None, help="run directory (default results/<timestamp>)")
    sub.add_argument("--resume", default=None, metavar="DIR",
                     help="continue the run in DIR; finished cells are kept (alone: the cells DIR was planned with)")
    sub.add_argument("--plugin", action="append", default=[], metavar="FILE.py", help="register a user's problems/solvers")
    sub.add_argument("--jobs", default="auto", help="cells in parallel processes (or LocalCluster workers): a positive "
                     "int, or auto (default: the machine's cores, at most the number of cells)")
    sub.add_argument("--executor", default=None, help="local | process | dask (default: local, process if jobs > 1)")
    sub.add_argument("--scheduler", default=None, metavar="tcp://HOST:PORT",
                     help="dask scheduler to use with --executor dask (default: start a LocalCluster)")
    sub.add_argument("--cell-timeout", type=float, default=None, metavar="SECONDS",
                     help="stop a cell after this many seconds and record it failed (default: no limit)")
    sub.add_argument("--quiet", action="store_true", help="no progress bars")
    sub.add_argument("--force", action="store_true",
                     help="run cells the size check refuses (memory beyond what is available, over a million steps)")
    sub.add_argument("--dry-run", action="store_true",
                     help="print the plan, its estimate and the provenance it would record; run and write nothing")


def _add_run_verbs(sub) -> None:
    """run, sweep and diagnose: the verbs that plan cells and write a run directory."""
    run = sub.add_parser("run", help="run solver x problem x seed (x --set grid) cells and write a run directory")
    run.add_argument("--all", action="store_true", help="every registered solver on every problem it applies to")
    _add_run_options(run, sweep=False)
    sweep = sub.add_parser("sweep", help="work-precision sweep: default resolution ladders per solver on the given problems")
    sweep.add_argument("--all", action="store_true", help="every problem (default solvers: sbp, blob, pinn_pm_*)")
    _add_run_options(sweep, sweep=True)
    diag = sub.add_parser("diagnose", help="PINN-PM's default training beside its oracle ablations on each problem, "
                                           "and which error source dominates (harness.plan.diagnosis)")
    _add_run_options(diag, sweep=False)
    diag.add_argument("--variants", default=None, metavar="V1,V2",
                      help="the variants to run (default: every one that applies); names as in the table, e.g. "
                           "default,drift_score=exact")
    diag.set_defaults(all=False)


def _add_reading_verbs(sub) -> None:
    """compare, report and references: the verbs that read (or rebuild) what runs and caches hold."""
    cmp_ = sub.add_parser("compare", help="the same cells in two run directories, metric by metric; exit 1 when an "
                                         "accuracy metric of B is worse (harness.report.compare)")
    cmp_.add_argument("run_a")
    cmp_.add_argument("run_b")
    cmp_.add_argument("--rtol", type=float, default=None,
                      help="relative tolerance before B counts as worse (default 0.1: 10%%)")
    cmp_.add_argument("--all-rows", action="store_true", help="every time and metric, not only the last snapshot")
    rep = sub.add_parser("report", help="rebuild tables, summary.md and figures of a run directory")
    rep.add_argument("run_dir")
    rep.add_argument("--plugin", action="append", default=[], metavar="FILE.py",
                     help="load this plugin (the run's own plugins are never loaded from its manifest)")
    refs = sub.add_parser("references", help="build (or load) the cached reference of every problem without an exact "
                                             "solution, and print its kind, cost and measured accuracy")
    refs.add_argument("-p", "--problem", action="append", default=[], help="problem name (repeatable; default all)")
    refs.add_argument("--resolution", default="fine", help="coarse (the smoke profile) | fine (default)")
    refs.add_argument("--plugin", action="append", default=[], metavar="FILE.py", help="register a user's problems")


def package_version() -> str:
    """The version pyproject.toml beside the package states (this checkout's), else the installed package's."""
    from importlib import metadata
    from pathlib import Path
    try:
        import tomllib
        with open(Path(__file__).resolve().parents[2] / "pyproject.toml", "rb") as fh:
            return str(tomllib.load(fh)["project"]["version"])
    except (OSError, KeyError, ValueError, ImportError):
        try:
            return metadata.version("landau-bench")
        except metadata.PackageNotFoundError:
            return "unknown"


def build_parser() -> argparse.ArgumentParser:
    """The parser of every verb: list, run, sweep, diagnose, compare, report, references."""
    ap = argparse.ArgumentParser(prog="python -m harness", description="landau-bench: benchmark and verify Landau particle solvers.")
    ap.add_argument("--version", action="version", version=f"landau-bench {package_version()}")
    sub = ap.add_subparsers(dest="verb", required=True)
    ls = sub.add_parser("list", help="solvers (with their config fields per profile), problems, metrics, profiles")
    ls.add_argument("--plugin", action="append", default=[], metavar="FILE.py", help="register a user's problems/solvers")
    _add_run_verbs(sub)
    _add_reading_verbs(sub)
    return ap
