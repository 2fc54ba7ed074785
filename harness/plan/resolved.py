"""What a planned cell runs with, resolved when it is planned and written into the manifest (issue 44): the solver's
full config at the run's profile with the cell's overrides, the problem with its constants, the reference it is
judged against (kind and cache file), and a content hash of the three.

`report`, `--resume` and the trust check read these, never today's defaults: a stored record is checked against what
its run planned (`harness.plan.trust.record_mismatch`), and a cell whose planned hash differs from what today's code
would plan is "from an older configuration": kept, reported as such, not rerun by `--resume`
(`older_configuration`), as asv starts a new series when a benchmark's version changes. A manifest written before
planned cells were recorded has none: its records are then trusted as they state their config.
"""
from __future__ import annotations

from dataclasses import asdict

from harness.store.planned import PlannedCell, json_value, planned_hash


def _reference(problem, profile) -> str:
    from problems.references.base import reference_cache_path, reference_kind
    kind = reference_kind(problem)
    if kind in (None, "exact"):
        return kind or ""
    path = reference_cache_path(problem, profile.reference_resolution, kind)
    return f"{kind} {path.name if path is not None else ''}".strip()


def resolve(cell, profile, commit: str) -> PlannedCell | None:
    """The PlannedCell of `cell` (harness.plan.cell.Cell) at `profile` (a harness.plan.profiles.Profile), or None
    when its config cannot be built here (an unknown solver or a plugin not loaded: that cell fails later with its
    own message)."""
    try:
        problem = cell.make_problem()
        config = json_value(asdict(cell.make_config(profile.name)))
        reference = _reference(problem, profile)
    except Exception:  # noqa: BLE001  (the cell reports its own error when it runs)
        return None
    return PlannedCell(config, repr(problem), reference, commit, planned_hash(config, repr(problem), reference))


def older_configuration(planned: PlannedCell, cell, profile) -> str | None:
    """Why `planned` (a cell as its run planned it) is not what today's code plans for `cell` at `profile` (today's
    Profile of the run's profile name) (the first
    config field that differs, or the problem or reference), or None when the hashes agree or today's plan cannot be
    built here."""
    today = resolve(cell, profile, planned.commit)
    if today is None or today.hash == planned.hash:
        return None
    for name in sorted(set(planned.config) | set(today.config)):
        if planned.config.get(name) != today.config.get(name):
            return (f"its config had {name} = {planned.config.get(name)!r}, today's code gives "
                    f"{today.config.get(name)!r}")
    if planned.problem != today.problem:
        return f"its problem was {planned.problem}, today's is {today.problem}"
    return f"its reference was {planned.reference!r}, today's is {today.reference!r}"
