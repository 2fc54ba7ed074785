"""Issue 31, the typed run seam: RUN/manifest.json is a RunManifest (harness.store.manifest). It round-trips,
writes the bytes the untyped dict wrote, reads manifests of older versions with one set of defaults, and a
damaged one raises one ValueError naming the field."""
import json
import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.cli import main
from harness.plan.profiles import DEFAULT_PROFILE, PROFILES
from harness.store.manifest import (DamagedManifest, RunConfig, RunManifest, manifest_path, read_manifest,
                                    write_manifest)

PROVENANCE = {"git_commit": "7c9fc8b209d1783d274f0f4fbede389a85c6ae17", "python": "3.11.7", "torch": "2.13.0+cpu",
              "numpy": "2.4.6", "scipy": "1.17.1", "pot": "0.9.7.post1", "pandas": "3.1.1", "device": "auto",
              "host": "vm", "cuda_device": None, "threads": 2}

names = st.text(st.characters(min_codepoint=32, max_codepoint=0x2FF), max_size=12)
labels = st.dictionaries(names, names, max_size=3)
scalars = st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6), names,
                    st.floats(allow_nan=False, allow_infinity=False))
cells = st.one_of(st.tuples(names, names, st.integers(0, 9997)).map(list),
                  st.tuples(names, names, st.integers(0, 9997), st.dictionaries(names, scalars, max_size=3)).map(list))
configs = st.builds(RunConfig, profile=names, device=names, seeds=st.lists(st.integers(0, 9997), max_size=4),
                    solvers=st.lists(names, max_size=3), problems=st.lists(names, max_size=3),
                    overrides=st.lists(names, max_size=3), verb=st.sampled_from(["run", "sweep", "diagnose"]),
                    plugins=st.lists(names, max_size=2), executor=st.sampled_from(["local", "process", "dask"]),
                    diagnosis=st.one_of(st.none(), st.dictionaries(names, labels, min_size=1, max_size=3)))
manifests = st.builds(RunManifest, config=configs, provenance=st.dictionaries(names, scalars, max_size=4),
                      cells=st.lists(cells, max_size=4).map(tuple))


@settings(max_examples=200, deadline=None)
@given(manifests)
def test_round_trip(manifest):
    data = json.loads(json.dumps(manifest.to_json()))
    again = RunManifest.from_json(data)
    assert again == manifest
    assert again.to_json() == data


@settings(max_examples=30, deadline=None)
@given(manifests)
def test_write_then_read(tmp_path_factory, manifest):
    run = tmp_path_factory.mktemp("run")
    write_manifest(run, manifest)
    assert read_manifest(run) == manifest


def test_the_bytes_are_those_of_the_untyped_manifest(tmp_path):
    """What run and runner wrote before the manifest had a type (config keys in this order, `diagnosis` only
    when there is one, json.dumps(..., indent=1)) is what write_manifest writes."""
    for diagnosis in (None, {"bkw2d": {"": "default", "drift_score=exact": "drift_score=exact"}}):
        config = {"profile": "smoke", "device": "auto", "seeds": [0, 1], "solvers": ["blob", "exact_flow"],
                  "problems": ["bkw2d"], "overrides": ["n=100,200"], "verb": "run", "plugins": ["/abs/plugin.py"],
                  "executor": "process"}
        if diagnosis:
            config["diagnosis"] = diagnosis
        old = {"config": config, "provenance": PROVENANCE,
               "cells": [["blob", "bkw2d", 0, {"n": 100}], ["exact_flow", "bkw2d", 1, {}]]}
        typed = RunManifest(RunConfig("smoke", "auto", [0, 1], ["blob", "exact_flow"], ["bkw2d"], ["n=100,200"], "run",
                                      ["/abs/plugin.py"], "process", diagnosis),
                            PROVENANCE, tuple(old["cells"]))
        write_manifest(tmp_path, typed)
        assert manifest_path(tmp_path).read_text(encoding="utf-8") == json.dumps(old, indent=1)
        assert RunManifest.from_json(old) == typed


def test_an_empty_diagnosis_is_written_as_none():
    assert "diagnosis" not in RunConfig(diagnosis={}).to_json()
    assert RunConfig.from_json({"diagnosis": {}}) == RunConfig.from_json({"diagnosis": None}) == RunConfig()


@pytest.mark.parametrize("config", [
    # before --set, sweep and diagnose (no overrides, verb): cells as [solver, problem, seed]
    {"profile": "quick", "device": "cpu", "seeds": [0, 1], "solvers": ["sbp"], "problems": ["bkw2d"],
     "plugins": [], "executor": "local"},
    # the first harness (no executor either)
    {"profile": "smoke", "device": "auto", "seeds": [0], "solvers": ["sbp"], "problems": ["bkw2d"], "plugins": []},
])
def test_an_old_manifest_loads_with_the_defaults(tmp_path, config):
    old = {"config": config, "provenance": {"git_commit": "0436a12"}, "cells": [["sbp", "bkw2d", 0]]}
    manifest_path(tmp_path).write_text(json.dumps(old, indent=1))
    manifest = read_manifest(tmp_path)
    assert manifest.config.profile == config["profile"] and manifest.config.solvers == ("sbp",)
    assert (manifest.config.overrides, manifest.config.verb, manifest.config.executor, manifest.config.diagnosis) == (
        (), "run", "local", None)
    assert manifest.cells == (["sbp", "bkw2d", 0],)
    assert RunManifest.from_json({"config": {}}) == RunManifest()  # every key has its one default
    assert RunManifest().config.profile == DEFAULT_PROFILE


@pytest.mark.parametrize("data, words", [
    ([1, 2], "a JSON list, not a manifest object"),
    ({"cells": []}, "field 'config' is missing or not an object"),
    ({"config": "smoke"}, "field 'config' is missing or not an object"),
    ({"config": {"profile": 3}}, "config field 'profile' is not a string (found 3)"),
    ({"config": {"seeds": [0, True]}}, "config field 'seeds' is not a list of non-negative ints"),
    ({"config": {"seeds": [-1]}}, "config field 'seeds' is not a list of non-negative ints"),
    ({"config": {"plugins": "a.py"}}, "config field 'plugins' is not a list of strings (found \"a.py\")"),
    ({"config": {"overrides": [1]}}, "config field 'overrides' is not a list of strings"),
    ({"config": {"diagnosis": [1, 2]}}, "config field 'diagnosis' is not an object"),
    ({"config": {"diagnosis": {"bkw2d": {"": 1}}}}, "config field 'diagnosis' is not an object"),
    ({"config": {}, "provenance": []}, "field 'provenance' is [], not an object"),
    ({"config": {}, "cells": 5}, "field 'cells' is 5, not a list of cells"),
    ({"config": {}, "cells": None}, "field 'cells' is null, not a list of cells"),
    ({"config": {}, "cells": [["sbp", "bkw2d", -1]]}, 'field \'cells\' lists a malformed cell (["sbp", "bkw2d", -1])'),
    ({"config": {}, "cells": [["sbp", "bkw2d", 0, []]]}, "field 'cells' lists a malformed cell"),
])
def test_a_damaged_manifest_names_the_field(data, words):
    with pytest.raises(ValueError) as info:
        RunManifest.from_json(data)
    assert isinstance(info.value, DamagedManifest) and words in str(info.value) and "\n" not in str(info.value)


@pytest.mark.parametrize("raw, words", [(b'{"config": {"prof', "not valid JSON: Unterminated string"),
                                        (b"\xff\xfe", "not UTF-8 text"), (b"[" * 100000, "not valid JSON")])
def test_an_unreadable_manifest_is_damaged(tmp_path, raw, words):
    manifest_path(tmp_path).write_bytes(raw)
    with pytest.raises(DamagedManifest, match=words):
        read_manifest(tmp_path)


def test_no_manifest_is_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError):
        read_manifest(tmp_path)


def test_writing_replaces_a_link_and_never_writes_through_it(tmp_path):
    precious = tmp_path / "precious"
    precious.write_text("precious")
    run = tmp_path / "run"
    run.mkdir()
    os.symlink(precious, manifest_path(run))
    write_manifest(run, RunManifest())
    assert precious.read_text() == "precious"
    assert not manifest_path(run).is_symlink() and read_manifest(run) == RunManifest()


def test_report_of_a_damaged_manifest_is_one_line_naming_the_field(tmp_path, capsys):
    run = tmp_path / "run"
    (run / "cells").mkdir(parents=True)
    manifest_path(run).write_text(json.dumps({"config": {"profile": "smoke", "seeds": "0"}}))
    assert main(["report", str(run)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "manifest.json is damaged (config field 'seeds' is not a list" in err


def test_planned_cells_round_trip_and_a_damaged_entry_is_named(tmp_path):
    """The manifest keeps each planned cell's resolved config (harness.plan.resolved) by cell id; an entry of the
    wrong shape is a DamagedManifest naming the entry and the field."""
    from harness.plan.cell import Cell
    from harness.plan.resolved import resolve
    from harness.store.manifest import DamagedManifest
    cell = Cell("blob", "bkw2d", 0, (("n", 100),))
    entry = resolve(cell, PROFILES["smoke"], "abc123")
    assert entry.config["n"] == 100 and entry.reference == "exact" and entry.commit == "abc123"
    manifest = RunManifest(RunConfig("smoke"), PROVENANCE, (cell.to_json(),), {cell.id: entry})
    write_manifest(tmp_path, manifest)
    assert read_manifest(tmp_path) == manifest
    data = json.loads(manifest_path(tmp_path).read_text(encoding="utf-8"))
    data["planned"][cell.id]["hash"] = 7
    with pytest.raises(DamagedManifest, match=f"'planned' entry \"{cell.id}\".*'hash'"):
        RunManifest.from_json(data)
