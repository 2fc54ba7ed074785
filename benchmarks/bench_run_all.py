"""Time the main job as a new user meets it: `python -m harness run --all` from an empty reference cache.

    PYTHONPATH=. python benchmarks/bench_run_all.py [--profile quick] [--jobs auto] [--keep DIR] [--against REV]
                                                   [--solvers S1,S2]

Runs the harness in a subprocess into a temporary run directory, with LANDAU_REFERENCE_CACHE pointing
at a new empty directory and TORCHINDUCTOR_CACHE_DIR at another (so the reference builds, floors and
compilations count, as on a fresh machine), and prints
the total wall time, then one line per cell (solve seconds = training + stepping, evaluation seconds,
cell total) and the five most expensive cells. Run it on an otherwise idle machine.

Machines of one kind differ up to 2x in speed, so the main job is also printed in calibration units: the
seconds of a fixed workload (`calibrate`: dense float64 linear algebra and the pairwise Landau drift on one
thread, the two kinds of work the main job does) timed before and after the run in the same process. With
`--against REV` the same profile runs at commit REV (a git worktree in a temp dir, its own empty cache) right
before this checkout, and the ratio new / old is printed: that ratio, not either number, is the comparison.
`--solvers` restricts both runs to those solvers (`run --all -s ...`): a solver added since REV is then left out
of the comparison (and timed on its own with `--solvers NEW`).

The machine's speed drifts during a comparison (measured 2026-12-07 on the idle 2-core machine: the calibration read
0.99 s before the old run, 1.36 s between and 1.42 s after, 34%), so with `--pairs K` the two commits run K times
alternately (old, new, old, new, ...), each run is also divided by the mean of the calibrations just before and
after it, and the ratio is printed both ways: raw (sum of new walls / sum of old walls) and calibrated (the same of
calibrated units).
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

ROOT = Path(__file__).resolve().parents[1]


def calibrate(repeats: int = 3) -> float:
    """Seconds of the fixed calibration workload (the best of `repeats`), on one torch thread: ten float64
    matmuls and a Cholesky of a 600 x 600 SPD matrix, and the pairwise drift of 3,000 particles in 3D with
    gamma = -3 (problems.pairwise_drift, the O(N^2) kernel of SBP and Blob), inputs from a fixed seed."""
    import torch

    from problems import pairwise_drift
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        gen = torch.Generator().manual_seed(20261202)
        a = torch.randn(600, 600, generator=gen, dtype=torch.float64)
        spd = a @ a.T + 600 * torch.eye(600, dtype=torch.float64)
        v = torch.randn(3_000, 3, generator=gen, dtype=torch.float64)
        s = -v
        best = float("inf")
        for _ in range(repeats):
            start = time.perf_counter()
            b = a
            for _ in range(10):
                b = (b @ a) / 600.0
            torch.linalg.cholesky(spd)
            pairwise_drift(v, s, gamma=-3.0, C=1 / 24)
            best = min(best, time.perf_counter() - start)
        return best
    finally:
        torch.set_num_threads(threads)


def run_main_job(source: Path, profile: str, jobs: str, run_dir: Path, cache: Path, solvers: list[str] = ()
                 ) -> tuple[float, int, str]:
    """(wall seconds, exit code, stderr tail) of `run --all` with the code of `source` (its directory first on
    PYTHONPATH), into `run_dir`, with an empty reference cache `cache` and an empty torch.compile cache beside it
    (a new user's machine has compiled nothing: the compiled CPU kernels cost about 12 s a process the first time)."""
    env = {**os.environ, "LANDAU_REFERENCE_CACHE": str(cache), "PYTHONPATH": str(source),
           "TORCHINDUCTOR_CACHE_DIR": str(cache.with_name(cache.name + "-inductor"))}
    cmd = [sys.executable, "-m", "harness", "run", "--all", "--profile", profile, "--jobs", str(jobs),
           "--out", str(run_dir), "--quiet"] + [arg for name in solvers for arg in ("-s", name)]
    start = time.perf_counter()
    proc = subprocess.run(cmd, env=env, cwd=source, capture_output=True, text=True)
    return time.perf_counter() - start, proc.returncode, proc.stderr[-2000:]


def print_cells(run_dir: Path) -> None:
    """One line per cell record of `run_dir`, summed times and the five most expensive cells."""
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


def timed(label: str, source: Path, args, tmp: Path) -> float | None:
    """Run and report the main job of `source`; its wall seconds, or None if the harness failed."""
    run_dir = Path(args.keep) / label if args.keep else tmp / f"run-{label}"
    wall, code, err = run_main_job(source, args.profile, args.jobs, run_dir, tmp / f"empty-cache-{label}", args.solvers)
    only = f" -s {' -s '.join(args.solvers)}" if args.solvers else ""
    print(f"[{label}] run --all{only} --profile {args.profile} --jobs {args.jobs} (empty reference cache, code of {source})")
    print(f"[{label}] exit code {code}; total wall time {wall:.1f} s ({wall / 60:.1f} min)")
    if code not in (0, 1):
        print(err)
        return None
    print_cells(run_dir)
    return wall


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profile", default="quick")
    ap.add_argument("--jobs", default="auto")
    ap.add_argument("--keep", default=None, metavar="DIR", help="write the run directories here (default: a temp dir)")
    ap.add_argument("--against", default=None, metavar="REV", help="also run commit REV first and print new / old")
    ap.add_argument("--pairs", type=int, default=1, metavar="K", help="with --against: K alternating old/new pairs")
    ap.add_argument("--solvers", default="", metavar="S1,S2", help="only these solvers (both runs)")
    args = ap.parse_args(argv)
    args.solvers = [name for name in args.solvers.split(",") if name]
    if args.pairs < 1:
        ap.error(f"--pairs must be a positive integer, got {args.pairs}")
    if args.against:
        check = subprocess.run(["git", "rev-parse", "--verify", "--quiet", f"{args.against}^{{commit}}"], cwd=ROOT,
                               capture_output=True, text=True)
        if check.returncode != 0:
            ap.error(f"--against {args.against!r} is not a commit of this repository (git rev-parse found none)")
    with tempfile.TemporaryDirectory(prefix="landau-bench-run-all-") as tmp_name:
        tmp = Path(tmp_name)
        calib = [calibrate()]
        print(f"calibration workload: {calib[0]:.3f} s (one thread)")
        walls: dict[str, list[tuple[float, float]]] = {"old": [], "new": []}  # (wall s, calibrated units)
        worktree = tmp / "against"
        if args.against:
            subprocess.run(["git", "worktree", "add", "--detach", str(worktree), args.against], cwd=ROOT, check=True,
                           capture_output=True)
        try:
            for k in range(args.pairs):
                for side in (("old", "new") if args.against else ("new",)):
                    source = worktree if side == "old" else ROOT
                    label = f"{side}-{args.against}" if side == "old" else "new"
                    wall = timed(label + (f"-{k}" if args.pairs > 1 else ""), source, args, tmp)
                    if wall is None:
                        return 1
                    calib.append(calibrate())
                    unit = (calib[-2] + calib[-1]) / 2
                    print(f"[{label}] calibration before / after: {calib[-2]:.3f} / {calib[-1]:.3f} s: "
                          f"{wall / unit:.0f} calibrated units")
                    walls[side].append((wall, wall / unit))
        finally:
            if args.against:
                subprocess.run(["git", "worktree", "remove", "--force", str(worktree)], cwd=ROOT, capture_output=True)
        mean = sum(calib) / len(calib)
        spread = (max(calib) - min(calib)) / mean
        print(f"calibration: {', '.join(f'{c:.3f}' for c in calib)} s (mean {mean:.3f} s, spread {spread:.0%}; a spread "
              f"over 10% means the machine's speed changed during the runs)")
        for side, runs in walls.items():
            if runs:
                name = f"old {args.against}" if side == "old" else "new"
                print(f"main job ({name}): {', '.join(f'{w:.0f}' for w, _ in runs)} s; calibrated "
                      f"{', '.join(f'{u:.0f}' for _, u in runs)} units")
        if walls["old"]:
            raw = sum(w for w, _ in walls["new"]) / sum(w for w, _ in walls["old"])
            cal = sum(u for _, u in walls["new"]) / sum(u for _, u in walls["old"])
            print(f"ratio new / old over {args.pairs} pair(s): raw {raw:.2f}, calibrated {cal:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
