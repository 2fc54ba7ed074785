"""Whether a stored cell record belongs to the run that finds it: made at the run's profile, with the config
its run planned for it (the manifest's planned cells, harness.plan.resolved), and whether that configuration is
older than what today's code plans (kept and reported as such, never rerun by itself: issue 44).

A record edited by hand (`profile: paper, n: 99999`), copied from another run, or left by a run of another
profile is data the run did not produce: `run --resume` runs such a cell again (the record is set aside) and
`report` leaves it out, each with one warning line naming the field that differs. So is a record with a row at a
time outside its problem's [t0, T] (t = 1e300): no snapshot of the run was taken there (`time_outside`).
"""
from __future__ import annotations


import functools

from harness.store.planned import PlannedCell, json_value
from harness.store.record import CellRecord


def expected_config(record: CellRecord, profile: str) -> dict | None:
    """The config (as a JSON object) the record's cell has at `profile` today, or None when it cannot be built
    here (a solver or problem that is not registered: a plugin that was not loaded)."""
    import dataclasses

    from harness.plan.cell import Cell
    try:
        cfg = Cell(record.solver, record.problem, record.seed, tuple(record.overrides.items())).make_config(profile)
    except Exception:  # an unknown solver, a plugin not loaded, a config that no longer builds
        return None
    return json_value(dataclasses.asdict(cfg))


def _first_difference(stated: dict, expected: dict, what: str, solver: str) -> str | None:
    for name, value in sorted(stated.items()):
        if name not in expected:
            return f"its config field {name!r} is not a field of {solver}'s config"
        if json_value(value) != expected[name]:
            return f"its config says {name} = {value!r}, {what} {expected[name]!r}"
    return None


@functools.lru_cache(maxsize=64)
def _interval(problem: str, constants: tuple) -> tuple[float, float]:
    """(t0, T) of `problem` with its constants ((field, value) pairs) applied."""
    import problems
    built = problems.get_problem(problem, **dict(constants))
    return float(built.t0), float(built.T)


def time_outside(record: CellRecord) -> str | None:
    """Why a row, certificate row or floor distribution of `record` is not at a time of its problem (one line: the
    first whose t lies outside [t0, T], with 1e-9 relative slack for rounding), or None when all are (or the problem
    cannot be built here: a plugin's that was not loaded)."""
    from harness.plan.cell import Cell
    try:
        cell = Cell(record.solver, record.problem, record.seed, tuple(record.overrides.items()))
        t0, T = _interval(record.problem, tuple(sorted(cell.problem_constants().items())))
    except Exception:  # an unknown problem, a plugin not loaded, constants that no longer build
        return None
    slack = 1e-9 * max(1.0, abs(t0), abs(T))
    for what, rows, name in (("row", record.rows, "metric"), ("certificate row", record.certificates, "certificate"),
                             ("floor distribution", record.floors, "metric")):
        for row in rows:
            if not t0 - slack <= row["t"] <= T + slack:
                return (f"its {what} {row[name]!r} is at t = {row['t']}, outside {record.problem}'s [t0, T] = "
                        f"[{t0:g}, {T:g}]")
    return None


def record_mismatch(record: CellRecord, profile: str, planned: PlannedCell | None = None) -> str | None:
    """Why `record` is not a record of its cell in a run of `profile` (one line), or None when it is: its
    profile differs (a record that names none, written before records did, is not refused for it), or (an ok
    record) a config field it states differs from the one its run planned (`planned`, the manifest's entry for the
    cell: issue 44). Without a planned entry (a manifest written before they were recorded) the record's config
    is what ran: it is trusted as it states it (`older_configuration` says whether today's code differs)."""
    if record.profile and record.profile != profile:  # '' is a record from before records named their profile
        return f"it was made with profile {record.profile!r}, the run's is {profile!r}"
    if record.ok and (why := time_outside(record)):
        return why
    if not record.ok or not record.config or planned is None:
        return None
    return _first_difference(record.config, json_value(planned.config), "its run planned", record.solver)


def older_configuration(record: CellRecord, today, planned: PlannedCell | None = None) -> str | None:
    """Why the configuration `record`'s cell ran with is not what today's code plans for it at `today` (today's
    Profile of the run's profile name, harness.plan.context.RunContext.today; None: today's code has none, so
    nothing is compared) (one line: the first field that differs), or None when it is the same or cannot be built
    here. With `planned` the planned hashes are compared (harness.plan.resolved); without, the record's stated
    config against today's."""
    from harness.plan.cell import Cell
    if today is None:
        return None
    profile = today.name
    cell = Cell(record.solver, record.problem, record.seed, tuple(record.overrides.items()))
    if planned is not None:
        from harness.plan.resolved import older_configuration as planned_older
        return planned_older(planned, cell, today)
    if not record.ok or not record.config:
        return None
    expected = expected_config(record, profile)
    if expected is None:
        return None
    return _first_difference(record.config, expected, "today's code gives", record.solver)
