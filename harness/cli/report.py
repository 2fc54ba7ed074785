"""`report`: rebuild a run directory's tables, summary and figures; and what `run` prints of its cells."""
from __future__ import annotations

import sys
from pathlib import Path

from metrics.specs import METRICS, with_show

from infra.files import read_text
from harness.cli.common import UsageError, load_named_plugins
from harness.cli.context import read_context
from harness.cli.resume import check_manifest_plugins, read_run_manifest
from harness.report.rebuild import rebuild_outputs
from harness.store import tables as store
from harness.store.lock import run_dir_lock
from harness.store.manifest import manifest_path


def cmd_report(args) -> int:
    """Rebuild the outputs of RUN from its cell records, with the plugins named here (never the manifest's)."""
    run_dir = Path(args.run_dir).resolve()  # a link the user names is followed here, once; none below it
    if not manifest_path(run_dir).exists():
        raise UsageError(f"{args.run_dir!r} is not a run directory (no manifest.json)")
    manifest = read_run_manifest(run_dir, "report")
    missing = check_manifest_plugins(manifest, args.plugin, "report")
    if missing:
        print(f"note: the run was made with plugin(s) {', '.join(missing)}, not loaded (a run directory never runs "
              f"code by itself): their metrics and figures are left out; name them with --plugin to load them",
              file=sys.stderr)
    load_named_plugins(args.plugin)
    context = read_context(manifest, run_dir, args.plugin)  # the profile as the run recorded it
    with run_dir_lock(run_dir):  # a run still writing there holds it: RunDirInUse, one line, exit 2
        counts = rebuild_outputs(context)
    print(f"rebuilt {run_dir / 'summary.md'} from {counts['rows']} rows ({counts['failed']} failed cells)")
    return 0


def print_diagnosis(run_dir: Path) -> None:
    """The diagnosis tables and verdicts of a diagnosis run, as written to RUN/diagnosis.md."""
    path = run_dir / "diagnosis.md"
    if path.exists():
        print("\n" + read_text(path))


def print_cells(run_dir: Path, cells) -> None:
    """Per-snapshot W1, KDE L2 (with floors), energy drift and wall time of each given cell."""
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
