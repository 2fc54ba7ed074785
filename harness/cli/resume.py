"""What the CLI takes from a run directory's manifest (harness.store.manifest): the manifest itself as a
one-line UsageError when it is missing or damaged, the cells `--resume DIR` alone continues, the plugins the
run was made with (never loaded from the manifest), and the profile a resumed run keeps."""
from __future__ import annotations

from pathlib import Path

from infra.seeds import MAX_CELL_SEED
from harness.plan.profiles import PROFILES

from harness.cli.common import UsageError
from harness.plan.cell import Cell
from harness.store.manifest import DamagedManifest, RunManifest, manifest_path, read_manifest


def read_run_manifest(run_dir: Path, flag: str) -> RunManifest:
    """manifest.json of a run directory; UsageError if it is missing or damaged."""
    if not manifest_path(run_dir).exists():
        raise UsageError(f"{flag} {str(run_dir)!r}: no manifest.json there; give a run directory")
    try:
        return read_manifest(run_dir)
    except (OSError, ValueError) as exc:
        why = str(exc) if isinstance(exc, DamagedManifest) else type(exc).__name__
        raise UsageError(f"{flag} {str(run_dir)!r}: manifest.json is damaged ({why}); the cell records in cells/ "
                         f"are intact: start a new --out with the same options") from None


def manifest_cells(manifest: RunManifest, run_dir: Path) -> list[Cell]:
    """The cells a manifest was planned with (shape checked when it was read); UsageError if there are none."""
    if not manifest.cells:
        raise UsageError(f"--resume {str(run_dir)!r}: manifest.json 'cells' is [], not a non-empty list of cells; "
                         f"give the cells (--all, or -s and -p) to resume")
    cells = [Cell.from_json(c) for c in manifest.cells]
    too_large = max((c.seed for c in cells), default=0)
    if too_large > MAX_CELL_SEED:
        raise UsageError(f"--resume {str(run_dir)!r}: manifest.json plans seed {too_large}; seeds 0..{MAX_CELL_SEED} "
                         f"keep a cell's random streams apart (infra/seeds.py)")
    return cells


def check_manifest_plugins(manifest: RunManifest, given: list[str], where: str) -> list[str]:
    """The plugin files a run was made with (manifest config 'plugins') that the command line does not name.
    Nothing a run directory lists is executed: resuming needs them named with --plugin (UsageError otherwise);
    `report` goes on without them (the caller says so)."""
    named = {str(Path(p).resolve()) for p in given}
    missing = [p for p in manifest.config.plugins if str(Path(p).resolve()) not in named]
    if missing and where.startswith("--resume"):
        raise UsageError(f"{where} was run with plugin(s) {', '.join(missing)}; a run directory never runs code "
                         f"by itself: name them with --plugin FILE.py to resume")
    return missing


def check_resume(args, manifest: RunManifest, selected: bool, seeds: list[int] | None) -> None:
    """The rules of --resume: alone it takes no --seeds (they need the cells too), and the run keeps the
    profile it was made with (args.profile is set to it); UsageError otherwise."""
    if not selected and seeds is not None:
        raise UsageError(f"--resume {args.resume!r} alone continues the cells it was planned with; --seeds "
                         f"{args.seeds!r} needs the cells too (--all, or -s SOLVER and -p PROBLEM)")
    old_profile = manifest.config.profile
    if args.profile is not None and old_profile != args.profile:
        raise UsageError(f"--resume {args.resume!r} was run with profile {old_profile!r}, not {args.profile!r}")
    if old_profile not in PROFILES:
        raise UsageError(f"--resume {args.resume!r}: manifest.json names profile {old_profile!r}; valid profiles: "
                         f"{', '.join(PROFILES)}")
    args.profile = old_profile
    too_large = max(manifest.config.seeds, default=0)
    if too_large > MAX_CELL_SEED:
        raise UsageError(f"--resume {args.resume!r}: manifest.json names seed {too_large}; seeds 0..{MAX_CELL_SEED} "
                         f"keep a cell's random streams apart (infra/seeds.py)")
