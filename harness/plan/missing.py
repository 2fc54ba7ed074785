"""The planned cells of a run that have no record: an interrupted run, a cell whose record was set aside, a plan a
resume added to. The summary says how many (`missing_line`), so a table of the finished cells is never read as
the whole run."""
from __future__ import annotations

from harness.plan.cell import Cell

KEY = ("solver", "problem", "seed", "overrides")


def missing_cells(planned, recorded) -> list[Cell]:
    """The cells of `planned` (Cells, or their JSON form as a manifest holds them; a malformed one is skipped) with
    no record among `recorded` ((solver, problem, seed, overrides label) of every ok or failed record), in plan
    order, each once."""
    have = {(str(s), str(p), int(k), str(o)) for s, p, k, o in recorded}
    out, seen = [], set()
    for c in planned:
        try:
            cell = c if isinstance(c, Cell) else Cell.from_json(c)
        except ValueError:
            continue
        key = (cell.solver, cell.problem, cell.seed, cell.label)
        if key not in have and key not in seen:
            seen.add(key)
            out.append(cell)
    return out


def missing_planned(manifest: dict, timings, failures) -> list[Cell]:
    """The cells `manifest` (manifest.json as a dict) plans that neither `timings` (a row per ok record) nor
    `failures` (a row per failed record) holds."""
    recorded = [tuple(row) for df in (timings, failures) if df is not None and not df.empty and set(KEY) <= set(df.columns)
                for row in df[list(KEY)].itertuples(index=False)]
    return missing_cells(manifest.get("cells") or [], recorded)


def missing_line(manifest: dict, timings, failures) -> list[str]:
    """['**N of M planned cells have no record** (...)', ''] for summary.md, or [] when every planned cell has one."""
    missing = missing_planned(manifest, timings, failures)
    if not missing:
        return []
    shown = ", ".join(c.describe() for c in missing[:3]) + (", ..." if len(missing) > 3 else "")
    total = len(manifest.get("cells") or [])
    return [f"**{len(missing)} of {total} planned cells have no record** (not run yet, interrupted, or set aside: "
            f"{shown}); the tables below leave them out, `run --resume` runs them.", ""]
