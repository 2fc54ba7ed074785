"""A planned cell as its run resolved it (the type that crosses from the plan into the manifest, issue 44):
`harness.plan.resolved` builds it, `harness.store.manifest.RunManifest.planned` keeps it by cell id."""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class PlannedCell:
    """One planned cell as resolved at plan time. config: the solver config's fields (JSON values); problem: the
    problem's repr (its name and constants); reference: '<kind> <cache file name>' of the reference it is judged
    against ('exact', '' for none); commit: the commit that planned it; hash: `planned_hash` of the first three."""

    config: dict
    problem: str
    reference: str
    commit: str
    hash: str

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data) -> "PlannedCell":
        """The PlannedCell of a manifest entry; ValueError naming the field that is not of its type."""
        if not isinstance(data, dict):
            raise ValueError(f"a planned cell is a JSON {type(data).__name__}, not an object")
        if not isinstance(data.get("config"), dict):
            raise ValueError("a planned cell's 'config' is missing or not an object")
        for name in ("problem", "reference", "commit", "hash"):
            if not isinstance(data.get(name), str):
                raise ValueError(f"a planned cell's {name!r} is missing or not a string")
        return cls(data["config"], data["problem"], data["reference"], data["commit"], data["hash"])


def json_value(value):
    """`value` as it reads back from JSON (tuples become lists)."""
    return json.loads(json.dumps(value))


def planned_hash(config: dict, problem: str, reference: str) -> str:
    """The first 16 hex digits of sha256 over the canonical JSON [config, problem, reference] (keys sorted)."""
    text = json.dumps([config, problem, reference], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]
