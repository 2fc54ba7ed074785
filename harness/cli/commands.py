"""`python -m harness {list, run, sweep, diagnose, compare, report, references}`: the front door.

Bad input (unknown solver/problem/profile/device, a solver that does not apply to a problem,
malformed seeds, an unwritable output directory, a failing plugin) prints one line naming the
bad value and the valid ones, exits with code 2 and touches nothing in the output directory.
Exit code 1 means the run finished but some cell failed.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import signal
import sys
from pathlib import Path

import problems
import solvers

from harness.execute.executors import EXECUTORS, ExecutorError, check_cell_timeout, connect_dask
from harness.execute.plugins import PluginError, load_plugins
from harness.plan.sweep import SWEEP_SOLVERS

DEVICES = ("auto", "cpu", "cuda")


class UsageError(Exception):
    """Bad command-line input: printed as one line, exit code 2."""


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


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m harness", description="landau-bench: benchmark and verify Landau particle solvers.")
    sub = ap.add_subparsers(dest="verb", required=True)
    ls = sub.add_parser("list", help="solvers (with their config fields per profile), problems, metrics, profiles")
    ls.add_argument("--plugin", action="append", default=[], metavar="FILE.py", help="register a user's problems/solvers")
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
    from infra.seeds import MAX_CELL_SEED
    if max(seeds) > MAX_CELL_SEED:
        raise UsageError(f"seed {max(seeds)} is too large; seeds 0..{MAX_CELL_SEED} keep a cell's random streams "
                         f"apart (infra/seeds.py)")
    return seeds


def _parse_jobs(text) -> int | None:
    """--jobs as an int >= 1, or None for 'auto'; UsageError otherwise."""
    if str(text).strip().lower() == "auto":
        return None
    try:
        jobs = int(str(text))
    except ValueError:
        jobs = 0
    if jobs < 1:
        raise UsageError(f"--jobs must be a positive int or auto, got {text!r}")
    return jobs


def available_cores() -> int:
    """CPU cores this process may run on (its affinity mask where the OS has one)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def resolve_jobs(jobs: int | None, n_cells: int, quiet: bool = False) -> int:
    """Worker processes for a run of n_cells: `auto` (None) = min(cores, cells); a given number is capped at
    the number of cells (more workers than cells would idle), with a warning when it exceeds the cores."""
    cores = available_cores()
    if jobs is None:
        return max(1, min(cores, n_cells))
    if jobs > cores and not quiet:
        print(f"warning: --jobs {jobs} exceeds the {cores} cores here; cells will compete for them", file=sys.stderr)
    return max(1, min(jobs, n_cells))


def _check_writable(path: Path) -> None:
    probe = path
    while not probe.exists():
        probe = probe.parent
    if not probe.is_dir() or not os.access(probe, os.W_OK):
        raise UsageError(f"output directory {str(path)!r} is not writable (checked {str(probe)!r})")


def _describe_values(values: list) -> str:
    distinct = list(dict.fromkeys(repr(v) if isinstance(v, float) or v == "" else str(v) for v in values))
    if len(distinct) == 1:
        return distinct[0]
    numbers = [v for v in values if isinstance(v, (int, float)) and not isinstance(v, bool)]
    if len(numbers) == len(values):
        return f"{min(numbers):g}..{max(numbers):g}*"
    return "by problem*"


def solver_field_lines(name: str) -> list[str]:
    """Lines of `harness list`: the settable config fields of a solver with their default per profile
    (over the problems it applies to; '*' marks a value that depends on the problem)."""
    from solvers import PROFILES

    from harness.plan.overrides import settable_fields
    cls = solvers.get_solver(name)
    fields = settable_fields(cls)
    where = [problems.get_problem(p) for p in problems.list_problems() if cls.applies_to(problems.get_problem(p))[0]]
    if not fields or not where:
        return []
    configs = {prof: [cls.profile_config(prof, p) for p in where] for prof in PROFILES}
    width = max(len(f) for f in fields) + 2
    lines = [f"    {'field':<{width}}{'type':<14}" + "".join(f"{prof:<16}" for prof in PROFILES)]
    for f, typ in fields.items():
        cells = [_describe_values([getattr(c, f) for c in configs[prof]]) for prof in PROFILES]
        lines.append(f"    {f:<{width}}{typ:<14}" + "".join(f"{c:<16}" for c in cells))
    return lines


def cmd_list(args) -> int:
    load_plugins(args.plugin)
    from metrics.specs import METRICS
    from solvers import PROFILES
    from harness.plan.overrides import problem_fields
    print("problems (constants settable with --set PROBLEM.FIELD=V1,V2):")
    for name in problems.list_problems():
        problem = problems.get_problem(name)
        print("  " + problem.describe())
        print("    constants: " + ", ".join(f"{f}={getattr(problem, f)!r}" for f in problem_fields(problem)))
    print("solvers (settable with --set FIELD=V1,V2 or --set SOLVER.FIELD=...; * = depends on the problem):")
    for name in solvers.list_solvers():
        cls = solvers.get_solver(name)
        where = [p for p in problems.list_problems() if cls.applies_to(problems.get_problem(p))[0]]
        flags = [f for f in ("has_score", "has_flow_map", "needs_gpu_for_paper", "diagnose_training", "uses_workdir")
                 if getattr(cls, f)]
        flags += [f"dt order {cls.dt_order}"] if cls.dt_order is not None else []
        flags += [f"N rate {cls.n_rate:g}"] if cls.n_rate is not None else []
        flags = ", ".join(flags)
        print(f"  {name}: applies to {', '.join(where) or 'none'}" + (f" [{flags}]" if flags else ""))
        for line in solver_field_lines(name):
            print(line)
    print("profiles: " + ", ".join(PROFILES))
    from certificates import DIAGNOSTIC_METRICS
    print("metrics: " + ", ".join(m for m in METRICS if m not in DIAGNOSTIC_METRICS))  # the registry as it is now
    print("training diagnostics (PINN-PM cells): " + ", ".join(DIAGNOSTIC_METRICS))
    return 0


def _read_manifest(run_dir: Path, flag: str) -> dict:
    """manifest.json of a run directory; UsageError if it is missing or damaged."""
    path = run_dir / "manifest.json"
    if not path.exists():
        raise UsageError(f"{flag} {str(run_dir)!r}: no manifest.json there; give a run directory")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(manifest, dict) or not isinstance(manifest.get("config"), dict):
            raise ValueError("no 'config' object")
        return manifest
    except (OSError, UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise UsageError(f"{flag} {str(run_dir)!r}: manifest.json is damaged ({type(exc).__name__}); "
                         f"the cell records in cells/ are intact: start a new --out with the same options") from None


def _manifest_cells(manifest: dict, run_dir: Path):
    """The cells a manifest was planned with; UsageError (one line) for anything that is not a list of cells."""
    from harness.plan.cell import Cell
    listed = manifest.get("cells")
    if not isinstance(listed, list) or not listed:
        raise UsageError(f"--resume {str(run_dir)!r}: manifest.json 'cells' is {json.dumps(listed)[:40]}, not a "
                         f"non-empty list of cells; give the cells (--all, or -s and -p) to resume")
    try:
        return [Cell.from_json(c) for c in listed]
    except ValueError as exc:
        raise UsageError(f"--resume {str(run_dir)!r}: manifest.json lists a malformed cell ({exc})") from None


def _manifest_diagnosis(manifest: dict, run_dir) -> dict | None:
    """The manifest's diagnosis section ({problem: {overrides label: variant}}), None if there is none;
    UsageError if it is not of that shape."""
    diagnosis = manifest["config"].get("diagnosis")
    if diagnosis is None:
        return None
    if not (isinstance(diagnosis, dict) and all(isinstance(v, dict) and all(
            isinstance(a, str) and isinstance(b, str) for a, b in v.items()) for v in diagnosis.values())):
        raise UsageError(f"--resume {str(run_dir)!r}: manifest.json 'diagnosis' is not an object "
                         f"{{problem: {{overrides: variant}}}}; start a new --out")
    return diagnosis


def _check_manifest_plugins(manifest: dict, given: list[str], where: str) -> list[str]:
    """The plugin files a run was made with (manifest config 'plugins') that the command line does not name.
    Nothing a run directory lists is executed: resuming needs them named with --plugin (UsageError otherwise);
    `report` goes on without them (the caller says so)."""
    listed = manifest["config"].get("plugins", [])
    listed = [p for p in listed if isinstance(p, str)] if isinstance(listed, list) else []
    named = {str(Path(p).resolve()) for p in given}
    missing = [p for p in listed if str(Path(p).resolve()) not in named]
    if missing and where.startswith("--resume"):
        raise UsageError(f"{where} was run with plugin(s) {', '.join(missing)}; a run directory never runs code "
                         f"by itself: name them with --plugin FILE.py to resume")
    return missing


def _select(args, sweep: bool):
    """(solver names, problem names) named on the command line; UsageError for unknown names."""
    all_solvers = [s for s in solvers.list_solvers() if not s.startswith("_")]
    _check_names(args.solver, all_solvers, "solver")
    _check_names(args.problem, problems.list_problems(), "problem")
    if sweep:
        if not args.problem and not args.all:
            raise UsageError("give at least one -p PROBLEM (or --all) to sweep")
        default = [s for s in SWEEP_SOLVERS if s in all_solvers]
        return args.solver or default, args.problem or problems.list_problems()
    if args.all:
        return args.solver or all_solvers, args.problem or problems.list_problems()
    if not args.solver or not args.problem:
        raise UsageError("give --all, or at least one -s SOLVER and one -p PROBLEM")
    return args.solver, args.problem


def _no_cell_error(skipped: list, problem_names: list[str]) -> UsageError:
    all_solvers = [s for s in solvers.list_solvers() if not s.startswith("_")]
    hints = []
    for p in problem_names:
        valid = [x for x in all_solvers if solvers.get_solver(x).applies_to(problems.get_problem(p))[0]]
        hints.append(f"solvers for {p}: {', '.join(valid) or 'none'}")
    reasons = "; ".join(f"solver {s.solver!r} does not apply to {s.problem!r} ({s.why})" for s in skipped)
    return UsageError(f"no selected solver applies to a selected problem: {reasons}; {'; '.join(hints)}")


def cmd_run(args, sweep: bool = False, diagnose: bool = False) -> int:
    from harness.store.lock import RunDirInUse, run_dir_lock
    from harness.plan.overrides import grids, parse_set_options, problem_grids
    from harness.execute.runner import plan, run
    from harness.plan.sweep import plan_sweep

    from solvers import PROFILES
    if args.profile is not None and args.profile not in PROFILES:
        raise UsageError(f"unknown profile {args.profile!r}; valid profiles: {', '.join(PROFILES)}")
    if args.device not in DEVICES:
        raise UsageError(f"unknown device {args.device!r}; valid devices: {', '.join(DEVICES)}")
    if args.device == "cuda":
        import torch
        if not torch.cuda.is_available():
            raise UsageError("device 'cuda' requested but no CUDA device is available; valid here: auto, cpu")
    jobs_given = _parse_jobs(args.jobs)
    if args.cell_timeout is not None and check_cell_timeout(args.cell_timeout):
        raise UsageError(check_cell_timeout(args.cell_timeout))
    seeds = _parse_seeds(args.seeds) if args.seeds is not None else None
    executor = args.executor or "local"  # for the checks below; with jobs > 1 the default becomes process
    if executor not in EXECUTORS:
        raise UsageError(f"unknown executor {executor!r}; valid executors: {', '.join(EXECUTORS)}")
    if args.scheduler and executor != "dask":
        raise UsageError(f"--scheduler needs --executor dask (got executor {executor!r})")
    options = parse_set_options(args.overrides)
    # every path is fixed before a plugin runs (a plugin that calls chdir must not move the run)
    args.resume = str(Path(args.resume).resolve()) if args.resume else None
    args.out = str(Path(args.out or Path("results") / dt.datetime.now().strftime("%Y%m%d-%H%M%S")).resolve())
    args.plugin = [str(Path(p).resolve()) for p in args.plugin]
    manifest = _read_manifest(Path(args.resume), "--resume") if args.resume else None
    if manifest is not None:
        _check_manifest_plugins(manifest, args.plugin, f"--resume {args.resume!r}")
    try:
        load_plugins(args.plugin)
    except PluginError as exc:
        raise UsageError(str(exc)) from None
    selected = args.all or args.solver or args.problem or args.overrides
    if manifest is not None and not selected and seeds is not None:
        raise UsageError(f"--resume {args.resume!r} alone continues the cells it was planned with; --seeds "
                         f"{args.seeds!r} needs the cells too (--all, or -s SOLVER and -p PROBLEM)")
    if manifest is not None:
        old_profile = manifest["config"].get("profile")
        if args.profile is not None and old_profile != args.profile:
            raise UsageError(f"--resume {args.resume!r} was run with profile {old_profile!r}, not {args.profile!r}")
        if old_profile not in PROFILES:
            raise UsageError(f"--resume {args.resume!r}: manifest.json names profile {old_profile!r}; valid profiles: "
                             f"{', '.join(PROFILES)}")
        args.profile = old_profile
    profile = args.profile or "quick"
    diagnosis = _manifest_diagnosis(manifest, args.resume) if manifest is not None else None
    if manifest is not None and not selected:
        cells, skipped = _manifest_cells(manifest, Path(args.resume)), []
        solver_names = sorted({c.solver for c in cells})
        problem_names = sorted({c.problem for c in cells})
        _check_names(solver_names, solvers.list_solvers(), "solver")
        _check_names(problem_names, problems.list_problems(), "problem")
    else:
        if diagnose:
            _check_names(args.problem, problems.list_problems(), "problem")
            cells, skipped, diagnosis = _plan_diagnosis(args, options, profile, seeds)
            solver_names, problem_names = sorted({c.solver for c in cells}), list(args.problem)
        else:
            solver_names, problem_names = _select(args, sweep)
        classes = {s: solvers.get_solver(s) for s in solver_names}
        if diagnose:
            pass
        elif sweep:
            cells, skipped = plan_sweep(classes, [problems.get_problem(p) for p in problem_names], profile, options,
                                        seeds)
        else:
            cells, skipped = plan(solver_names, problem_names, seeds or [0], grids(options, classes),
                                  problem_grids(options, problem_names))
        if not cells:
            raise _no_cell_error(skipped, problem_names)
    refuse_configs(cells, profile)
    if not args.force:
        from harness.plan.limits import SizeError, check_cells
        try:
            check_cells(cells, profile)
        except SizeError as exc:
            raise UsageError(str(exc)) from None
    args.jobs = resolve_jobs(jobs_given, len(cells), args.quiet)
    executor = args.executor or ("process" if args.jobs > 1 else "local")
    if executor == "dask" and args.scheduler:
        try:
            connect_dask(args.scheduler, args.jobs).close()
        except ExecutorError as exc:
            raise UsageError(str(exc)) from None
    if args.resume:
        run_dir = Path(args.resume)
    else:
        run_dir = Path(args.out)
        if run_dir.exists() and (not run_dir.is_dir() or any(run_dir.iterdir())):
            raise UsageError(f"output directory {str(run_dir)!r} is not empty; use --resume {str(run_dir)!r} or another --out")
    _check_writable(run_dir)
    config = {"profile": profile, "device": args.device, "seeds": sorted({c.seed for c in cells}),
              "solvers": solver_names, "problems": problem_names, "overrides": list(args.overrides),
              "verb": "diagnose" if diagnose else "sweep" if sweep else "run", "plugins": [str(Path(p).resolve()) for p in args.plugin],
              "executor": executor}
    if diagnosis:
        config["diagnosis"] = diagnosis
    try:
        with run_dir_lock(run_dir):
            RUN_IN_PROGRESS[0] = run_dir  # from here on an interrupt keeps finished cells and --resume continues
            if not args.quiet:
                print(f"run directory: {run_dir}  ({len(cells)} cells, profile {profile})")
                for s in skipped:
                    print(f"  skipped: {s}")
            counts = run(cells, run_dir, config, plugin_files=config["plugins"], jobs=args.jobs, quiet=args.quiet,
                         executor=executor, scheduler=args.scheduler, cell_timeout=args.cell_timeout)
    except RunDirInUse as exc:
        raise UsageError(str(exc)) from None
    if diagnosis:
        print_diagnosis(run_dir)
    elif len(cells) == 1 or not args.quiet:
        print_cells(run_dir, cells if len(cells) <= 3 else [])
    print(f"{counts['cells']} cells ({counts['already_done']} already done), {counts['failed']} failed; "
          f"summary: {run_dir / 'summary.md'}")
    return 1 if counts["failed"] else 0


def _plan_diagnosis(args, options, profile: str, seeds):
    """(cells, skipped, {problem: {overrides label: variant}}) of `diagnose`: -p is required, -s and --all are
    not options, every --set takes one value (it is the budget all variants share)."""
    from harness.plan.diagnosis import SOLVER, plan_diagnosis
    from harness.plan.overrides import grids, label
    if args.solver or args.all:
        raise UsageError(f"diagnose runs {SOLVER} and its ablations; give -p PROBLEM only (no -s, no --all)")
    if not args.problem:
        raise UsageError(f"give at least one -p PROBLEM to diagnose; valid problems: {', '.join(problems.list_problems())}")
    if any(o.solver is not None and o.solver in problems.list_problems() for o in options):
        raise UsageError("diagnose does not take problem constants; run the variants with `run --set PROBLEM.FIELD=...`")
    grid = grids(options, {SOLVER: solvers.get_solver(SOLVER)})[SOLVER]
    if len(grid) != 1:
        raise UsageError("diagnose takes one value per --set field (the budget every variant shares), not a grid")
    from harness.plan.diagnosis import VARIANTS
    only = None
    if args.variants is not None:
        only = [v.strip() for v in args.variants.split(",") if v.strip()]
        bad = [v for v in only if v not in VARIANTS]
        if bad or not only:
            raise UsageError(f"unknown diagnosis variant {(bad or [args.variants])[0]!r}; valid variants: {', '.join(VARIANTS)}")
    cells, names = plan_diagnosis(args.problem, profile, dict(grid[0]), seed=(seeds or [0])[0], only=only)
    if not cells:
        raise UsageError(f"no variant of {', '.join(only or [])} applies to {', '.join(args.problem)}")
    diagnosis: dict[str, dict[str, str]] = {}
    for (p_name, overrides), name in names.items():
        diagnosis.setdefault(p_name, {})[label(overrides)] = name
    return cells, [], diagnosis


def print_diagnosis(run_dir: Path) -> None:
    """The diagnosis tables and verdicts of a diagnosis run, as written to RUN/diagnosis.md."""
    path = run_dir / "diagnosis.md"
    if path.exists():
        print("\n" + path.read_text(encoding="utf-8"))


def refuse_configs(cells, profile: str) -> None:
    """UsageError for the first planned cell whose config its solver refuses on its problem
    (`Solver.refusal(config, problem)`, e.g. an oracle ablation the problem has no oracle for); one line,
    nothing run."""
    from harness.plan.cell import distinct_configs
    for cell, problem, cfg in distinct_configs(cells, profile):
        why = solvers.get_solver(cell.solver).refusal(cfg, problem)
        if why:
            raise UsageError(f"{cell.describe()}: {why}")


def print_cells(run_dir: Path, cells) -> None:
    """Per-snapshot W1, KDE L2 (with floors), energy drift and wall time of each given cell."""
    from harness.store import tables as store
    from metrics.specs import METRICS, with_show
    show = [n for m in with_show("per_time") for n in (m, *METRICS[m].floors)] + with_show("last")
    for c in cells:
        rec = store.read_cell(run_dir, c.id)
        if not rec or not rec.ok:
            continue
        wall = ", ".join(f"{k} {v:.2f}s" for k, v in rec.wall_time.items())
        print(f"\n{c.describe()}  (wall: {wall})")
        rows = rec.rows
        present = [m for m in show if any(r["metric"] == m for r in rows)]
        print("  t       " + "".join(f"{m:>19s}" for m in present))
        for t in sorted({r["t"] for r in rows}):
            vals = {r["metric"]: r["value"] for r in rows if r["t"] == t}
            print(f"  {t:<7g} " + "".join(f"{vals.get(m, float('nan')):>19.4g}" for m in present))


def cmd_report(args) -> int:
    from harness.execute.runner import rebuild_outputs
    run_dir = Path(args.run_dir)
    if not (run_dir / "manifest.json").exists():
        raise UsageError(f"{args.run_dir!r} is not a run directory (no manifest.json)")
    manifest = _read_manifest(run_dir, "report")
    missing = _check_manifest_plugins(manifest, args.plugin, "report")
    if missing:
        print(f"note: the run was made with plugin(s) {', '.join(missing)}, not loaded (a run directory never runs "
              f"code by itself): their metrics and figures are left out; name them with --plugin to load them",
              file=sys.stderr)
    try:
        load_plugins(args.plugin)
    except PluginError as exc:
        raise UsageError(str(exc)) from None
    from harness.store.lock import run_dir_lock
    with run_dir_lock(run_dir):  # a run still writing there holds it: RunDirInUse, one line, exit 2
        counts = rebuild_outputs(run_dir)
    print(f"rebuilt {run_dir / 'summary.md'} from {counts['rows']} rows ({counts['failed']} failed cells)")
    return 0


def cmd_compare(args) -> int:
    """Print the comparison of two runs (harness.report.compare); 1 if a cell ok in A is failed or missing in B or B is
    worse in an accuracy metric, 2 (UsageError) if the runs cannot be read or compared."""
    from harness.report.compare import DEFAULT_RTOL, CompareError, compare, load_run, report_lines
    rtol = DEFAULT_RTOL if args.rtol is None else args.rtol
    if not (math.isfinite(rtol) and rtol >= 0):
        raise UsageError(f"--rtol must be a non-negative number, got {args.rtol}")
    try:
        a, b = load_run(args.run_a), load_run(args.run_b)
        comparison = compare(a, b, rtol)
    except CompareError as exc:
        raise UsageError(str(exc)) from None
    print("\n".join(report_lines(a, b, comparison, rtol, args.all_rows)))
    return 1 if comparison.regressed else 0


def cmd_references(args) -> int:
    """Build or load each problem's reference; one line per problem with its kind, seconds and accuracy."""
    import time

    from problems.references.base import RESOLUTIONS, cache_dir
    load_plugins(args.plugin)
    if args.resolution not in RESOLUTIONS:
        raise UsageError(f"unknown resolution {args.resolution!r}; valid resolutions: {', '.join(RESOLUTIONS)}")
    _check_names(args.problem, problems.list_problems(), "problem")
    print(f"reference cache: {cache_dir()}")
    for name in args.problem or problems.list_problems():
        problem = problems.get_problem(name)
        kind = problems.reference_kind(problem)
        if kind in ("exact", None):
            print(f"  {name}: {kind or 'no reference'}")
            continue
        t0 = time.perf_counter()
        ref = problems.reference_for(problem, args.resolution, progress=True)
        fmt = lambda v: (f"{v:.2g}" if isinstance(v, float) else
                         "/".join(f"{x:.1e}" for x in v) if isinstance(v, list) else str(v))
        acc = ", ".join(f"{k} {fmt(v)}" for k, v in (ref.accuracy or {}).items()
                        if k in ("mass_drift", "energy_drift", "self_convergence", "paths", "dt", "cells"))
        print(f"  {name}: {ref.kind} ({args.resolution}) in {time.perf_counter() - t0:.1f} s; {acc}", flush=True)
    return 0


def main(argv=None) -> int:
    """Parse the command line and run the verb; returns the exit code (0 ok, 1 a cell failed, 2 bad input)."""
    from harness.store.lock import RunDirInUse
    from harness.plan.overrides import OverrideError
    try:
        args = _parser().parse_args(argv)
    except SystemExit as exc:  # argparse: --help (0) or a malformed command line (2, message printed)
        return exc.code if isinstance(exc.code, int) else 2
    verbs = {"list": cmd_list, "run": cmd_run, "sweep": lambda a: cmd_run(a, sweep=True),
             "diagnose": lambda a: cmd_run(a, diagnose=True), "compare": cmd_compare, "report": cmd_report,
             "references": cmd_references}
    for stream in (sys.stdout, sys.stderr):  # a C locale: non-ASCII text (a summary's ±) escaped, never a crash
        if hasattr(stream, "reconfigure") and (stream.encoding or "").lower().replace("-", "") != "utf8":
            stream.reconfigure(errors="backslashreplace")
    previous = _terminate_as_interrupt()
    RUN_IN_PROGRESS[0] = None
    try:
        return verbs[args.verb](args)
    except Terminated:
        print(f"terminated (SIGTERM){_after_interrupt()}", file=sys.stderr)
        return 143
    except (UsageError, PluginError, OverrideError, RunDirInUse, ExecutorError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # an unwritable or vanished path, a full disk: the user's environment, not a bug
        print(f"error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"interrupted{_after_interrupt()}", file=sys.stderr)
        return 130
    finally:
        RUN_IN_PROGRESS[0] = None
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


#: the run directory a `run`, `sweep` or `diagnose` is working in once it holds its lock (None before: an interrupt
#: while planning or importing a plugin has no run to resume)
RUN_IN_PROGRESS: list[Path | None] = [None]


def _after_interrupt() -> str:
    """What an interrupt leaves: '; finished cells are kept: --resume RUN continues' during a run, else '; nothing
    was written'."""
    run_dir = RUN_IN_PROGRESS[0]
    if run_dir is None:
        return "; no run was in progress (nothing to resume)"
    return f"; finished cells are kept: --resume {str(run_dir)!r} continues"


class Terminated(KeyboardInterrupt):
    """SIGTERM (`kill`, `timeout`, a scheduler): unwinds like Ctrl-C, so cells stop and outputs are written."""


def _terminate_as_interrupt():
    """Make SIGTERM raise Terminated in the main thread; returns the previous handler (None off the main thread)."""
    import threading
    if threading.current_thread() is not threading.main_thread():
        return None

    def handler(signum, frame):
        raise Terminated()

    return signal.signal(signal.SIGTERM, handler)
