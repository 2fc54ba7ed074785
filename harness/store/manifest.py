"""The run manifest: the one type `run`, `sweep` and `diagnose` write as RUN/manifest.json and every
command that reads a run directory reads back.

`RunManifest.to_json()` is the JSON object of the file (json.dumps(..., indent=1), keys in the order
below, so a run written twice with the same options gives the same bytes but for its provenance);
`RunManifest.from_json(data)` is its inverse and its validation, with the one set of defaults: a key a
manifest lacks (one written before the key existed: `overrides`, `verb`, `executor`, `diagnosis`) reads
as the default of its field, and unknown keys are ignored. Anything of another shape (not an object, a
`config` that is not an object, a field of the wrong type) raises `DamagedManifest`, a ValueError whose
one-line message names the field.

Cells are kept as the JSON lists `harness.plan.cell.Cell.to_json` writes ([solver, problem, seed,
overrides], or the old [solver, problem, seed]): the store is the bottom layer and never imports the plan;
`Cell.from_json` turns them into cells.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field, fields
from pathlib import Path

from infra.files import read_text, replacing
from harness.store.planned import PlannedCell

MANIFEST_NAME = "manifest.json"


class DamagedManifest(ValueError):
    """A manifest.json that is not of the shape RunManifest.to_json writes: unreadable text, not JSON, or a
    field of the wrong type (the message names it)."""


@dataclass(frozen=True)
class RunConfig:
    """What a run was asked for: the `config` object of the manifest.

    profile and device as given (device 'auto' unresolved); seeds: the distinct seeds of the planned cells;
    solvers / problems: the names the run covers; overrides: the --set options as typed; verb: run, sweep
    or diagnose; plugins: absolute paths of the plugin files (never loaded from here: a run directory does
    not run code); executor: local, process or dask; diagnosis: {problem: {overrides label: variant}} of a
    `diagnose` run, None otherwise; profile_values: the profile's values when the run was planned
    (`harness.plan.profiles.Profile.to_json`: what `report` and `--resume` read instead of today's profile table),
    None in a manifest written before they were recorded.
    """

    profile: str = "quick"  # harness.plan.profiles.DEFAULT_PROFILE (the store does not import the plan)
    device: str = "auto"
    seeds: tuple[int, ...] = ()
    solvers: tuple[str, ...] = ()
    problems: tuple[str, ...] = ()
    overrides: tuple[str, ...] = ()
    verb: str = "run"
    plugins: tuple[str, ...] = ()
    executor: str = "local"
    diagnosis: dict[str, dict[str, str]] | None = None
    profile_values: dict | None = None

    def __post_init__(self):
        for name in _SEQUENCE_FIELDS:
            object.__setattr__(self, name, tuple(getattr(self, name)))

    def to_json(self) -> dict:
        """The config object; `diagnosis` and `profile_values` only when there are some (as runs without them always
        wrote)."""
        out = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name not in ("diagnosis", "profile_values"):
                out[f.name] = list(value) if f.name in _SEQUENCE_FIELDS else value
        if self.diagnosis:
            out["diagnosis"] = {p: dict(v) for p, v in self.diagnosis.items()}
        if self.profile_values is not None:
            out["profile_values"] = dict(self.profile_values)
        return out

    @classmethod
    def from_json(cls, data) -> "RunConfig":
        """The config a JSON object holds, missing keys at their defaults; DamagedManifest naming the first
        field of the wrong type."""
        if not isinstance(data, dict):
            raise DamagedManifest(f"field 'config' is {_shown(data)}, not an object")
        kwargs = {}
        for f in fields(cls):
            if f.name not in data:
                continue
            value = data[f.name]
            check, what = _CONFIG_TYPES[f.name]
            if not check(value):
                raise DamagedManifest(f"config field {f.name!r} is not {what} (found {_shown(value)})")
            kwargs[f.name] = value
        if kwargs.get("diagnosis"):
            kwargs["diagnosis"] = {p: dict(labels) for p, labels in kwargs["diagnosis"].items()}
        else:
            kwargs.pop("diagnosis", None)
        return cls(**kwargs)


@dataclass(frozen=True)
class RunManifest:
    """RUN/manifest.json: the run's config, where and with what it ran (provenance: versions, commit and diff,
    device, host, hardware, plugin hashes, environment; `harness.store.provenance`), and its planned cells as Cell JSON lists."""

    config: RunConfig = field(default_factory=RunConfig)
    provenance: dict = field(default_factory=dict)
    cells: tuple[list, ...] = ()
    #: cell id -> the cell as resolved when it was planned (harness.plan.resolved); {} in a manifest written before
    #: planned cells were recorded
    planned: dict = field(default_factory=dict)

    def __post_init__(self):
        object.__setattr__(self, "cells", tuple(list(c) for c in self.cells))
        object.__setattr__(self, "planned", dict(self.planned))

    def to_json(self) -> dict:
        """The manifest object, as readers that take the raw dict expect it."""
        out = {"config": self.config.to_json(), "provenance": dict(self.provenance),
               "cells": [list(c) for c in self.cells]}
        if self.planned:  # only when there are some: a manifest without keeps the bytes it always had
            out["planned"] = {k: v.to_json() for k, v in sorted(self.planned.items())}
        return out

    @classmethod
    def from_json(cls, data) -> "RunManifest":
        """The manifest a JSON object holds; DamagedManifest naming the field if it is not one."""
        if not isinstance(data, dict):
            raise DamagedManifest(f"a JSON {type(data).__name__}, not a manifest object")
        if not isinstance(data.get("config"), dict):
            raise DamagedManifest("field 'config' is missing or not an object")
        provenance = data.get("provenance", {})
        if not isinstance(provenance, dict):
            raise DamagedManifest(f"field 'provenance' is {_shown(provenance)}, not an object")
        cells = data.get("cells", [])
        if not isinstance(cells, list):
            raise DamagedManifest(f"field 'cells' is {_shown(cells)}, not a list of cells")
        bad = next((c for c in cells if not _is_cell(c)), None)
        if bad is not None:
            raise DamagedManifest(f"field 'cells' lists a malformed cell ({_shown(bad)})")
        raw_planned = data.get("planned", {})
        if not isinstance(raw_planned, dict):
            raise DamagedManifest(f"field 'planned' is {_shown(raw_planned)}, not an object")
        planned = {}
        for key, entry in raw_planned.items():
            try:
                planned[key] = PlannedCell.from_json(entry)
            except ValueError as exc:
                raise DamagedManifest(f"field 'planned' entry {_shown(key)}: {exc}") from None
        return cls(RunConfig.from_json(data["config"]), provenance, cells, planned)


def manifest_path(run_dir: Path) -> Path:
    return Path(run_dir) / MANIFEST_NAME


def read_manifest(run_dir: Path) -> RunManifest:
    """RUN/manifest.json; FileNotFoundError if there is none (other OSErrors as raised), DamagedManifest if
    it is not UTF-8 JSON of the manifest's shape."""
    try:
        data = json.loads(read_text(manifest_path(run_dir)))
    except UnicodeDecodeError:
        raise DamagedManifest("not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise DamagedManifest(f"not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})") from None
    except RecursionError:
        raise DamagedManifest("not valid JSON (nested too deeply)") from None
    return RunManifest.from_json(data)


def write_manifest(run_dir: Path, manifest: RunManifest) -> None:
    """Write RUN/manifest.json atomically in UTF-8 (`infra.files.replacing`: a temporary file replaces it, so
    a killed run leaves the old file or the new one and a symbolic link there is replaced, never written
    through)."""
    with replacing(manifest_path(run_dir)) as tmp:
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(json.dumps(manifest.to_json(), indent=1))


def _shown(value) -> str:
    """A value as it appears in the file, cut to 40 characters for a one-line message."""
    try:
        return json.dumps(value)[:40]
    except (TypeError, ValueError, RecursionError):
        return type(value).__name__


def _is_int(x) -> bool:
    return isinstance(x, int) and not isinstance(x, bool) and x >= 0


def _list_of(check):
    return lambda v: isinstance(v, list) and all(check(x) for x in v)


def _is_diagnosis(v) -> bool:
    return v is None or isinstance(v, dict) and all(
        isinstance(labels, dict) and all(isinstance(a, str) and isinstance(b, str) for a, b in labels.items())
        for labels in v.values())


def _is_cell(c) -> bool:
    """The rule of `Cell.from_json`: [solver, problem, seed] or [solver, problem, seed, overrides]."""
    return (isinstance(c, list) and len(c) in (3, 4) and isinstance(c[0], str) and isinstance(c[1], str)
            and _is_int(c[2]) and (len(c) == 3 or isinstance(c[3], dict)))


def _is_str(v) -> bool:
    return isinstance(v, str)


#: the config fields that hold a list in the file (a tuple in RunConfig)
_SEQUENCE_FIELDS = ("seeds", "solvers", "problems", "overrides", "plugins")
#: how each config field is checked, and what it must be (for the message)
_CONFIG_TYPES = {
    "profile": (_is_str, "a string"),
    "device": (_is_str, "a string"),
    "seeds": (_list_of(_is_int), "a list of non-negative ints"),
    "solvers": (_list_of(_is_str), "a list of strings"),
    "problems": (_list_of(_is_str), "a list of strings"),
    "overrides": (_list_of(_is_str), "a list of strings"),
    "verb": (_is_str, "a string"),
    "plugins": (_list_of(_is_str), "a list of strings"),
    "executor": (_is_str, "a string"),
    "diagnosis": (_is_diagnosis, "an object {problem: {overrides label: variant}}"),
    "profile_values": (lambda v: v is None or isinstance(v, dict), "an object (the profile's recorded values)"),
}
