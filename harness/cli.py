"""`python -m harness {list, run, report}`: the front door.

Bad input (unknown solver/problem/profile/device, a solver that does not apply to a problem,
malformed seeds, an unwritable output directory, a failing plugin) prints one line naming the
bad value and the valid ones, exits with code 2 and touches nothing in the output directory.
Exit code 1 means the run finished but some cell failed.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
from pathlib import Path

import problems
import solvers

from .executors import EXECUTORS, ExecutorError, connect_dask
from .plugins import PluginError, load_plugins

DEVICES = ("auto", "cpu", "cuda")


class UsageError(Exception):
    """Bad command-line input: printed as one line, exit code 2."""


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m harness", description="landau-bench: benchmark and verify Landau particle solvers.")
    sub = ap.add_subparsers(dest="verb", required=True)
    ls = sub.add_parser("list", help="solvers, problems, metrics, profiles, and which solver applies where")
    ls.add_argument("--plugin", action="append", default=[], metavar="FILE.py", help="register a user's problems/solvers")
    run = sub.add_parser("run", help="run solver x problem x seed cells and write a run directory")
    run.add_argument("--all", action="store_true", help="every registered solver on every problem it applies to")
    run.add_argument("-s", "--solver", action="append", default=[], help="solver name (repeatable)")
    run.add_argument("-p", "--problem", action="append", default=[], help="problem name (repeatable)")
    run.add_argument("--profile", default="quick", help="smoke | quick (default) | paper")
    run.add_argument("--device", default="auto", help="auto (default) | cpu | cuda")
    run.add_argument("--seeds", default="0", help="comma-separated non-negative ints, e.g. 0,1,2")
    run.add_argument("--out", default=None, help="run directory (default results/<timestamp>)")
    run.add_argument("--resume", default=None, metavar="DIR", help="continue the run in DIR; finished cells are kept")
    run.add_argument("--plugin", action="append", default=[], metavar="FILE.py", help="register a user's problems/solvers")
    run.add_argument("--jobs", type=int, default=1, help="independent cells in parallel processes (or LocalCluster workers)")
    run.add_argument("--executor", default=None, help="local | process | dask (default: local, process if --jobs > 1)")
    run.add_argument("--scheduler", default=None, metavar="tcp://HOST:PORT",
                     help="dask scheduler to use with --executor dask (default: start a LocalCluster)")
    run.add_argument("--quiet", action="store_true", help="no progress bars")
    rep = sub.add_parser("report", help="rebuild tables, summary.md and figures of a run directory")
    rep.add_argument("run_dir")
    return ap


def _check_names(given, valid, kind):
    for name in given:
        if name not in valid:
            raise UsageError(f"unknown {kind} {name!r}; valid {kind}s: {', '.join(valid)}")


def _parse_seeds(text: str) -> list[int]:
    try:
        seeds = [int(x) for x in text.split(",") if x.strip() != ""]
    except ValueError:
        seeds = []
    if not seeds or any(s < 0 for s in seeds) or len(set(seeds)) != len(seeds):
        raise UsageError(f"malformed seeds {text!r}; expected distinct non-negative ints such as 0,1,2")
    return seeds


def _check_writable(path: Path) -> None:
    probe = path
    while not probe.exists():
        probe = probe.parent
    if not probe.is_dir() or not os.access(probe, os.W_OK):
        raise UsageError(f"output directory {str(path)!r} is not writable (checked {str(probe)!r})")


def cmd_list(args) -> int:
    load_plugins(args.plugin)
    from metrics import METRIC_NAMES
    from solvers import PROFILES
    print("problems:")
    for name in problems.list_problems():
        print("  " + problems.get_problem(name).describe())
    print("solvers:")
    for name in solvers.list_solvers():
        cls = solvers.get_solver(name)
        where = [p for p in problems.list_problems() if cls.applies_to(problems.get_problem(p))[0]]
        flags = ", ".join(f for f in ("has_score", "has_flow_map", "needs_gpu_for_paper") if getattr(cls, f))
        print(f"  {name}: applies to {', '.join(where) or 'none'}" + (f" [{flags}]" if flags else ""))
    print("profiles: " + ", ".join(PROFILES))
    print("metrics: " + ", ".join(METRIC_NAMES))
    return 0


def cmd_run(args) -> int:
    from .runner import plan, run

    from solvers import PROFILES
    if args.profile not in PROFILES:
        raise UsageError(f"unknown profile {args.profile!r}; valid profiles: {', '.join(PROFILES)}")
    if args.device not in DEVICES:
        raise UsageError(f"unknown device {args.device!r}; valid devices: {', '.join(DEVICES)}")
    if args.device == "cuda":
        import torch
        if not torch.cuda.is_available():
            raise UsageError("device 'cuda' requested but no CUDA device is available; valid here: auto, cpu")
    if args.jobs < 1:
        raise UsageError(f"--jobs must be >= 1, got {args.jobs}")
    seeds = _parse_seeds(args.seeds)
    executor = args.executor or ("process" if args.jobs > 1 else "local")
    if executor not in EXECUTORS:
        raise UsageError(f"unknown executor {executor!r}; valid executors: {', '.join(EXECUTORS)}")
    if args.scheduler and executor != "dask":
        raise UsageError(f"--scheduler needs --executor dask (got executor {executor!r})")
    if executor == "dask" and args.scheduler:
        try:
            connect_dask(args.scheduler, args.jobs).close()
        except ExecutorError as exc:
            raise UsageError(str(exc)) from None
    try:
        load_plugins(args.plugin)
    except PluginError as exc:
        raise UsageError(str(exc)) from None
    all_solvers = [s for s in solvers.list_solvers() if not s.startswith("_")]
    _check_names(args.solver, all_solvers, "solver")
    _check_names(args.problem, problems.list_problems(), "problem")
    if args.all:
        solver_names = args.solver or all_solvers
        problem_names = args.problem or problems.list_problems()
    else:
        if not args.solver or not args.problem:
            raise UsageError("give --all, or at least one -s SOLVER and one -p PROBLEM")
        solver_names, problem_names = args.solver, args.problem
        for s in solver_names:
            for p in problem_names:
                ok, why = solvers.get_solver(s).applies_to(problems.get_problem(p))
                if not ok:
                    valid = [x for x in all_solvers if solvers.get_solver(x).applies_to(problems.get_problem(p))[0]]
                    raise UsageError(f"solver {s!r} does not apply to {p!r} ({why}); solvers for {p}: {', '.join(valid)}")
    if args.resume:
        run_dir = Path(args.resume)
        if not (run_dir / "manifest.json").exists():
            raise UsageError(f"--resume {args.resume!r}: no manifest.json there; give a run directory")
        old = json.loads((run_dir / "manifest.json").read_text())["config"]
        if old.get("profile") != args.profile:
            raise UsageError(f"--resume {args.resume!r} was run with profile {old.get('profile')!r}, not {args.profile!r}")
    else:
        run_dir = Path(args.out or Path("results") / dt.datetime.now().strftime("%Y%m%d-%H%M%S"))
        if run_dir.exists() and any(run_dir.iterdir()):
            raise UsageError(f"output directory {str(run_dir)!r} is not empty; use --resume {str(run_dir)!r} or another --out")
    _check_writable(run_dir)
    cells, skipped = plan(solver_names, problem_names, seeds)
    config = {"profile": args.profile, "device": args.device, "seeds": seeds, "solvers": solver_names,
              "problems": problem_names, "plugins": [str(Path(p).resolve()) for p in args.plugin]}
    if not args.quiet:
        print(f"run directory: {run_dir}  ({len(cells)} cells, profile {args.profile})")
        for s in skipped:
            print(f"  skipped: {s}")
    config["executor"] = executor
    counts = run(cells, run_dir, config, plugin_files=[str(Path(p).resolve()) for p in args.plugin], jobs=args.jobs,
                 quiet=args.quiet, executor=executor, scheduler=args.scheduler)
    if len(cells) == 1 or not args.quiet:
        print_cells(run_dir, cells if len(cells) <= 3 else [])
    print(f"{counts['cells']} cells ({counts['already_done']} already done), {counts['failed']} failed; "
          f"summary: {run_dir / 'summary.md'}")
    return 1 if counts["failed"] else 0


def print_cells(run_dir: Path, cells) -> None:
    """Per-snapshot W1, KDE L2 (with floors), energy drift and wall time of each given cell."""
    from . import store
    show = ["w1", "w1_mc_floor", "kde_l2", "kde_l2_bias_floor", "kde_l2_mc_floor", "trajectory_error", "rfd",
            "cov_err", "energy_drift"]
    for c in cells:
        rec = store.read_cell(run_dir, *c)
        if not rec or rec["status"] != "ok":
            continue
        wall = ", ".join(f"{k} {v:.2f}s" for k, v in rec["wall_time"].items())
        print(f"\n{c[0]} on {c[1]}, seed {c[2]}  (wall: {wall})")
        rows = rec["rows"]
        present = [m for m in show if any(r["metric"] == m for r in rows)]
        print("  t       " + "".join(f"{m:>19s}" for m in present))
        for t in sorted({r["t"] for r in rows}):
            vals = {r["metric"]: r["value"] for r in rows if r["t"] == t}
            print(f"  {t:<7g} " + "".join(f"{vals.get(m, float('nan')):>19.4g}" for m in present))


def cmd_report(args) -> int:
    from .runner import rebuild_outputs
    run_dir = Path(args.run_dir)
    if not (run_dir / "manifest.json").exists():
        raise UsageError(f"{args.run_dir!r} is not a run directory (no manifest.json)")
    manifest = json.loads((run_dir / "manifest.json").read_text())
    load_plugins(manifest["config"].get("plugins", []))
    counts = rebuild_outputs(run_dir)
    print(f"rebuilt {run_dir / 'summary.md'} from {counts['rows']} rows ({counts['failed']} failed cells)")
    return 0


def main(argv=None) -> int:
    args = _parser().parse_args(argv)
    try:
        return {"list": cmd_list, "run": cmd_run, "report": cmd_report}[args.verb](args)
    except (UsageError, PluginError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
