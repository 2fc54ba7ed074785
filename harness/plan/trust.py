"""Whether a stored cell record belongs to the run that finds it: made at the run's profile, with the config
the run's profile and the cell's overrides give today.

A record edited by hand (`profile: paper, n: 99999`), copied from another run, or left by a run of another
profile is data the run did not produce: `run --resume` runs such a cell again (the record is set aside) and
`report` leaves it out, each with one warning line naming the field that differs.
"""
from __future__ import annotations

import json

from harness.store.record import CellRecord


def _json_value(value):
    """`value` as it reads back from a record's JSON (tuples become lists, NaN stays NaN)."""
    return json.loads(json.dumps(value))


def expected_config(record: CellRecord, profile: str) -> dict | None:
    """The config (as a JSON object) the record's cell has at `profile` today, or None when it cannot be built
    here (a solver or problem that is not registered: a plugin that was not loaded)."""
    import dataclasses

    from harness.plan.cell import Cell
    try:
        cfg = Cell(record.solver, record.problem, record.seed, tuple(record.overrides.items())).make_config(profile)
    except Exception:  # an unknown solver, a plugin not loaded, a config that no longer builds
        return None
    return _json_value(dataclasses.asdict(cfg))


def record_mismatch(record: CellRecord, profile: str) -> str | None:
    """Why `record` is not a record of its cell in a run of `profile` (one line), or None when it is: its
    profile differs (a record that names none, written before records did, is not refused for it), or (for an ok record whose solver is registered here) a config field it states differs
    from the one the profile gives (fields the record does not state, added since it was written, are not
    compared)."""
    if record.profile and record.profile != profile:  # '' is a record from before records named their profile
        return f"it was made with profile {record.profile!r}, the run's is {profile!r}"
    if not record.ok or not record.config:
        return None
    expected = expected_config(record, profile)
    if expected is None:
        return None
    for name, value in sorted(record.config.items()):
        if name not in expected:
            return f"its config field {name!r} is not a field of {record.solver}'s config"
        if _json_value(value) != expected[name]:
            return f"its config says {name} = {value!r}, the profile and overrides give {expected[name]!r}"
    return None
