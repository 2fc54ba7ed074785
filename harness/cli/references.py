"""`references`: build (or load) the cached reference of each problem without an exact solution."""
from __future__ import annotations

import time

import problems
from problems.references.base import RESOLUTIONS, cache_dir, is_cached, reference_cache_path

from harness.cli.common import UsageError, check_names
from harness.plan.plugins import load_plugins

#: the accuracy entries of a reference that `references` prints
SHOWN = ("mass_drift", "energy_drift", "self_convergence", "paths", "dt", "cells")


def cmd_references(args) -> int:
    """Build or load each problem's reference; one line per problem with its kind, seconds and accuracy."""
    load_plugins(args.plugin)
    if args.resolution not in RESOLUTIONS:
        raise UsageError(f"unknown resolution {args.resolution!r}; valid resolutions: {', '.join(RESOLUTIONS)}")
    check_names(args.problem, problems.list_problems(), "problem")
    print(f"reference cache: {cache_dir()}")
    for name in args.problem or problems.list_problems():
        problem = problems.get_problem(name)
        kind = problems.reference_kind(problem)
        if kind in ("exact", None):
            print(f"  {name}: {kind or 'no reference'}")
            continue
        t0 = time.perf_counter()
        cached = is_cached(problem, args.resolution, kind)  # the builder's own key: a stale file is rebuilt
        path = reference_cache_path(problem, args.resolution, kind)
        ref = problems.reference_for(problem, args.resolution, progress=True)
        acc = ", ".join(f"{k} {_shown(v)}" for k, v in (ref.accuracy or {}).items() if k in SHOWN)
        how = "loaded" if cached else "built"
        print(f"  {name}: {ref.kind} ({args.resolution}) {how} in {time.perf_counter() - t0:.1f} s"
              f"{f' ({path.name})' if path is not None else ''}; {acc}", flush=True)
    return 0


def _shown(v) -> str:
    """An accuracy value: a float to 2 digits, a list as 1.0e-03/..., anything else as str."""
    return (f"{v:.2g}" if isinstance(v, float) else
            "/".join(f"{x:.1e}" for x in v) if isinstance(v, list) else str(v))
