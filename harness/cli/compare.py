"""`compare`: the same cells of two run directories, metric by metric (harness.report.compare)."""
from __future__ import annotations

import math

from harness.cli.common import UsageError
from harness.report.compare import DEFAULT_RTOL, CompareError, compare, load_run, report_lines


def cmd_compare(args) -> int:
    """Print the comparison of two runs (harness.report.compare); 1 if a cell ok in A is failed or missing in B or B is
    worse in an accuracy metric, 2 (UsageError) if the runs cannot be read or compared."""
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
