"""Time the main job as a new user meets it: `python -m harness run --all` from an empty reference cache.

    PYTHONPATH=. python benchmarks/bench_run_all.py [--profile quick] [--jobs auto] [--keep DIR]

Runs the harness in a subprocess into a temporary run directory, with LANDAU_REFERENCE_CACHE pointing
at a new empty directory (so the reference builds and floors count, as on a fresh machine), and prints
the total wall time, then one line per cell (solve seconds = training + stepping, evaluation seconds,
cell total) and the five most expensive cells. Run it on an otherwise idle machine.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profile", default="quick")
    ap.add_argument("--jobs", default="auto")
    ap.add_argument("--keep", default=None, metavar="DIR", help="write the run directory here (default: a temp dir)")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="landau-bench-run-all-") as tmp:
        run_dir = Path(args.keep) if args.keep else Path(tmp) / "run"
        env = {**os.environ, "LANDAU_REFERENCE_CACHE": str(Path(tmp) / "empty-reference-cache")}
        cmd = [sys.executable, "-m", "harness", "run", "--all", "--profile", args.profile, "--jobs", str(args.jobs),
               "--out", str(run_dir), "--quiet"]
        start = time.perf_counter()
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
        wall = time.perf_counter() - start
        print(f"$ {' '.join(cmd[1:])}  (empty reference cache)")
        print(f"exit code {proc.returncode}; total wall time {wall:.1f} s ({wall / 60:.1f} min)")
        if proc.returncode not in (0, 1):
            print(proc.stderr[-2000:])
            return proc.returncode
        records = [json.loads(p.read_text()) for p in sorted((run_dir / "cells").glob("*.json"))]
        print(f"{len(records)} cells, {sum(r.get('status') != 'ok' for r in records)} failed")
        print(f"{'cell':<48}{'solve s':>9}{'eval s':>9}{'total s':>9}")
        for r in records:
            ev = (r.get("wall_time") or {}).get("evaluation", float("nan"))
            print(f"{r['cell_id']:<48}{r.get('solve_s', float('nan')):>9.1f}{ev:>9.1f}{r.get('total_s', float('nan')):>9.1f}")
        summed = lambda key: sum(r.get(key) or 0.0 for r in records)
        print(f"summed over cells: solve {summed('solve_s'):.0f} s, evaluation "
              f"{sum((r.get('wall_time') or {}).get('evaluation', 0.0) for r in records):.0f} s, "
              f"cell totals {summed('total_s'):.0f} s")
        print("five most expensive cells (total s):")
        for r in sorted(records, key=lambda r: -(r.get("total_s") or 0.0))[:5]:
            print(f"  {r['cell_id']:<46}{r.get('total_s', 0.0):>9.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
