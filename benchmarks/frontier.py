"""The accuracy-per-CPU-second frontier over several sweep runs of one commit (issue 45).

    PYTHONPATH=. python benchmarks/frontier.py RUN [RUN ...] --out DIR [--problem P ...]

A sweep of the O(N) methods to N = 100,000 and one of the O(N^2) methods to the N their budget allows are
separate runs (their ladders and budgets differ). This reads each run's trusted cell records (the same loader as
`harness report`: harness.report.rebuild.trusted_records), refuses runs of different commits or profiles in one
line (their seconds and errors would not compare), and writes into DIR, per problem with a ladder in N, the
frontier figure ({problem}_frontier.png) and frontier.md: the cost exponents, one sentence per CPU budget and the
figures (harness.report.frontier). Nothing is run; nothing is written into the runs.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def load_runs(runs: list[Path]):
    """(table, timings, commit, profile) of the runs' trusted records concatenated; ValueError (one line) when the
    runs differ in commit or profile, or a path is not a run directory. A cell found in several runs (same cell id:
    solver, problem, seed, overrides) is counted once, from the first run that holds an ok record of it (else the
    first that holds it; a note on stderr), so a mean or a paired test over seeds never sees one cell twice and a
    failed copy never hides a good one."""
    import pandas as pd

    from harness.report.rebuild import trusted_records
    from harness.store import tables as store
    from harness.store.manifest import read_manifest

    manifests = []
    for run in runs:
        try:
            manifests.append(read_manifest(run))
        except (OSError, ValueError) as exc:
            raise ValueError(f"{str(run)!r} is not a run directory ({exc})") from None
    keys = {(str(m.provenance.get("git_commit", "")), m.config.profile) for m in manifests}
    if len(keys) != 1:
        raise ValueError("the runs differ in (commit, profile): " + ", ".join(f"{c[:12]}/{p}" for c, p in sorted(keys))
                         + "; a frontier compares seconds and errors of one commit and profile")
    per_run = [trusted_records(store.load_records(run, read_only=True), manifest.config.profile,
                               planned=manifest.planned) for run, manifest in zip(runs, manifests)]
    chosen: dict = {}  # cell id -> its record counted: the first ok copy, else the first
    for records in per_run:
        for rec in records:
            if rec.cell_id not in chosen or (rec.ok and not chosen[rec.cell_id].ok):
                chosen[rec.cell_id] = rec
    tables, timings = [], []
    for run, records in zip(runs, per_run):
        repeated = [r for r in records if chosen[r.cell_id] is not r]
        if repeated:
            print(f"note: {len(repeated)} cell(s) of {run} are also in another run and counted once (an ok copy "
                  "first): " + ", ".join(sorted(r.cell_id for r in repeated)[:4])
                  + (" ..." if len(repeated) > 4 else ""), file=sys.stderr)
        records = [r for r in records if chosen[r.cell_id] is r]
        table, timing, _ = store.collect_tables(run, records)
        tables.append(table)
        timings.append(timing)
    (commit, profile), = keys
    if all(t.empty for t in tables):
        raise ValueError("the runs hold no trusted cell record: nothing to draw")
    return pd.concat(tables, ignore_index=True), pd.concat(timings, ignore_index=True), commit, profile


def main(argv: list[str] | None = None) -> int:
    """Write DIR/frontier.md and DIR/{problem}_frontier.png from the runs; 2 with a one-line message on bad input."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="+", type=Path)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--problem", action="append", default=None)
    args = parser.parse_args(argv)
    try:
        table, timings, commit, profile = load_runs(args.runs)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    from harness.report.figures.frontier import write_frontier_figures
    from harness.report.frontier import frontier_lines

    problems = args.problem or sorted(table.problem.unique())
    unknown = sorted(set(problems) - set(table.problem))
    if unknown:
        print(f"error: problem(s) {', '.join(unknown)} not in the runs (they have: "
              f"{', '.join(sorted(table.problem.unique()))})", file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    figures = {p.name for p in write_frontier_figures(table[table.problem.isin(problems)], timings, args.out)}
    lines = [f"# Accuracy per CPU second (commit {commit[:12]}, profile {profile})", "",
             "Runs: " + ", ".join(f"`{r.name}`" for r in args.runs), ""]
    for problem in problems:
        section = frontier_lines(table, timings, problem, figures)
        if section:
            lines += [f"## {problem}", ""] + [ln.replace("](figures/", "](") for ln in section]
    (args.out / "frontier.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
