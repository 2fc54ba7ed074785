"""`run`, `sweep` and `diagnose`: check the options, plan the cells, check the plan, run it, print the result.

Bad input (unknown solver/problem/profile/device, a solver that does not apply to a problem, malformed
seeds, an unwritable output directory, a failing plugin) prints one line naming the bad value and the valid
ones, exits with code 2 and touches nothing in the output directory. Exit code 1 means the run finished
but some cell failed.
"""
from __future__ import annotations

import datetime as dt
from pathlib import Path

from harness.cli.common import RUN_IN_PROGRESS, UsageError, load_named_plugins
from harness.cli.context import run_profiles
from harness.cli.dry_run import dry_run
from harness.cli.options import check_run_flags, choose_executor, run_directory
from harness.cli.planning import Planned, check_planned, plan_new, plan_resumed
from harness.cli.report import print_cells, print_diagnosis
from harness.cli.resume import check_manifest_plugins, check_resume, read_run_manifest
from harness.execute import runner
from harness.plan.cell import Cell, merged_plan, unique_cells
from harness.plan.context import RunContext
from harness.plan.overrides import parse_set_options
from harness.store.lock import RunDirInUse, run_dir_lock
from harness.store.manifest import RunConfig, RunManifest


def cmd_run(args, sweep: bool = False, diagnose: bool = False) -> int:
    """parse -> plan -> check -> execute; returns the exit code (0, or 1 if a cell failed). With --dry-run: parse -> plan
    -> check -> print what would run (harness.cli.dry_run), 0. The profile is looked up once (`run_profiles`: a resume
    takes the values its manifest recorded) and the run context built once (`RunContext`), then passed down."""
    jobs_given, seeds = check_run_flags(args)
    options = parse_set_options(args.overrides)
    manifest, selected = _open(args, seeds)
    profile, today = run_profiles(args, manifest)
    if manifest is not None and not selected:
        planned = plan_resumed(manifest, args.resume)
    else:
        planned = plan_new(args, sweep, diagnose, options, profile, seeds,
                           manifest.config.diagnosis if manifest is not None else None)
    once(planned)
    check_planned(planned.cells, profile.name, args.force)  # solver configs: the solvers' own tables
    executor = choose_executor(args, jobs_given, len(planned.cells))
    run_dir = run_directory(args)
    verb = "diagnose" if diagnose else "sweep" if sweep else "run"
    whole = kept_plan(manifest, planned) if manifest is not None and selected else planned.cells
    config = RunConfig(profile.name, args.device, sorted({c.seed for c in whole}),
                       _union(whole, planned.solver_names, "solver"),
                       _union(whole, planned.problem_names, "problem"),
                       _union_text(manifest.config.overrides if manifest is not None and selected else [], args.overrides),
                       verb, [str(Path(p).resolve()) for p in args.plugin], executor, planned.diagnosis,
                       profile.to_json())
    context = RunContext(profile, run_dir, device=args.device, seeds=tuple(seeds or ()), plugins=config.plugins,
                         jobs=args.jobs, executor=executor, scheduler=args.scheduler, cell_timeout=args.cell_timeout,
                         quiet=args.quiet, today=today)
    if args.dry_run:
        return dry_run(context, planned.cells, planned.skipped, config, manifest is not None)
    counts = _execute(context, planned, config, whole)
    return _finish(args, run_dir, planned, counts)


def cmd_sweep(args) -> int:
    return cmd_run(args, sweep=True)


def cmd_diagnose(args) -> int:
    return cmd_run(args, diagnose=True)


def _open(args, seeds) -> tuple[RunManifest | None, bool]:
    """Fix every path (before a plugin runs: one that calls chdir must not move the run), read the manifest of
    --resume and check its plugins are named, load the plugins; (the manifest or None, whether cells were
    selected on the command line)."""
    args.resume = str(Path(args.resume).resolve()) if args.resume else None
    args.out = str(Path(args.out or Path("results") / dt.datetime.now().strftime("%Y%m%d-%H%M%S")).resolve())
    args.plugin = [str(Path(p).resolve()) for p in args.plugin]
    manifest = read_run_manifest(Path(args.resume), "--resume") if args.resume else None
    if manifest is not None:
        check_manifest_plugins(manifest, args.plugin, f"--resume {args.resume!r}")
    load_named_plugins(args.plugin)
    selected = bool(args.all or args.solver or args.problem or args.overrides)
    if manifest is not None:
        check_resume(args, manifest, selected, seeds)
    return manifest, selected


def once(planned: Planned) -> None:
    """Plan each cell once (`harness.plan.cell.unique_cells`), saying how many were named more than once."""
    planned.cells, repeated = unique_cells(planned.cells)
    if repeated:
        shown = ", ".join(dict.fromkeys(c.describe() for c in repeated))
        print(f"note: {len(repeated)} cell(s) named more than once are planned once: {shown}")


def kept_plan(manifest: RunManifest, planned: Planned) -> list[Cell]:
    """The plan a resume with a selection records: the manifest's cells, then the selected ones not among them
    (`harness.plan.cell.merged_plan`; a resume never shrinks a plan). A manifest cell that does not parse is kept
    out (it was checked when the manifest was read)."""
    old = []
    for c in manifest.cells:
        try:
            old.append(Cell.from_json(c))
        except ValueError:
            continue
    return merged_plan(old, planned.cells)


def _union(cells: list[Cell], names: list[str], what: str) -> list[str]:
    """`names`, then the other solver (or problem) names of `cells`, each once."""
    return list(dict.fromkeys([*names, *(getattr(c, what) for c in cells)]))


def _union_text(old, new) -> list[str]:
    return list(dict.fromkeys([*old, *new]))


def _execute(context: RunContext, planned: Planned, config: RunConfig, whole: list[Cell] | None = None) -> dict:
    """Run the planned cells in context.run_dir under its lock (harness.execute.runner.run), recording `whole`
    (default: the planned cells) as the run's plan in the manifest; the counts."""
    run_dir = context.run_dir
    try:
        with run_dir_lock(run_dir):
            RUN_IN_PROGRESS[0] = run_dir  # from here on an interrupt keeps finished cells and --resume continues
            if not context.quiet:
                print(f"run directory: {run_dir}  ({len(planned.cells)} cells, profile {config.profile})")
                for s in planned.skipped:
                    print(f"  skipped: {s}")
            return runner.run(planned.cells, context, config, planned=whole)
    except RunDirInUse as exc:
        raise UsageError(str(exc)) from None


def _finish(args, run_dir: Path, planned: Planned, counts: dict) -> int:
    """Print the diagnosis (or the cells, when few) and the counts; the exit code."""
    cells = planned.cells
    if planned.diagnosis:
        print_diagnosis(run_dir)
    elif len(cells) == 1 or not args.quiet:
        print_cells(run_dir, cells if len(cells) <= 3 else [])
    print(f"{counts['cells']} cells ({counts['already_done']} already done), {counts['failed']} failed; "
          f"summary: {run_dir / 'summary.md'}")
    return 1 if counts["failed"] else 0
