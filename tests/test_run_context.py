"""Issue 44 item 4, one run context: the CLI builds a RunContext once (harness/cli/context.py), a run records its
profile's values in the manifest, and a command that reads the run takes the values recorded there, not today's
profile table; a cell process is handed the values, not a name to look up."""
import dataclasses
import json

import pytest

from harness.cli.context import read_context
from harness.execute import runner
from harness.execute.tasks import cell_spec, context_of_spec
from harness.plan.cell import Cell
from harness.plan.context import RunContext
from harness.plan.profiles import PROFILES, Profile
from harness.report import rebuild
from harness.store.manifest import read_manifest


def _empty_run(tmp_path, monkeypatch):
    """A run directory of one planned cell whose engine runs nothing (its manifest is written as a run writes it)."""
    monkeypatch.setattr(runner, "run_cells", lambda context, todo, **kw: iter(()))
    monkeypatch.setattr(runner, "rebuild_outputs", lambda *a, **k: None)
    run_dir = tmp_path / "run"
    runner.run([Cell("blob", "bkw2d", 0)], RunContext(PROFILES["smoke"], run_dir, device="cpu", quiet=True))
    return run_dir


def test_a_profile_reads_back_from_its_json_and_a_wrong_field_is_named():
    for profile in PROFILES.values():
        assert Profile.from_json(json.loads(json.dumps(profile.to_json()))) == profile
    bad = {**PROFILES["quick"].to_json(), "diagnosis_iters": "750"}
    with pytest.raises(ValueError, match="recorded profile field 'diagnosis_iters' is missing or not of its type"):
        Profile.from_json(bad)
    with pytest.raises(ValueError, match="reference_resolution 'medium' is not one of coarse, fine"):
        Profile.from_json({**PROFILES["quick"].to_json(), "reference_resolution": "medium"})


def test_a_run_records_its_profile_values_and_a_report_reads_those_not_todays(tmp_path, monkeypatch, capsys):
    run_dir = _empty_run(tmp_path, monkeypatch)
    manifest = read_manifest(run_dir)
    assert manifest.config.profile_values == PROFILES["smoke"].to_json()
    assert read_context(manifest, run_dir).profile == PROFILES["smoke"]
    # the run was planned when smoke was judged against the fine references: the report draws against those
    raw = json.loads((run_dir / "manifest.json").read_text())
    raw["config"]["profile_values"]["reference_resolution"] = "fine"
    (run_dir / "manifest.json").write_text(json.dumps(raw))
    context = read_context(read_manifest(run_dir), run_dir)
    assert context.profile.reference_resolution == "fine" and context.today == PROFILES["smoke"]
    drawn = []
    monkeypatch.setattr(rebuild, "write_particle_figures", lambda run_dir, fig_dir, records, resolution:
                        drawn.append(resolution) or [])
    rebuild.rebuild_outputs(context)
    assert drawn == ["fine"]


def test_a_manifest_without_recorded_values_reads_as_todays_profile_of_its_name(tmp_path, monkeypatch, capsys):
    run_dir = _empty_run(tmp_path, monkeypatch)
    raw = json.loads((run_dir / "manifest.json").read_text())
    del raw["config"]["profile_values"]
    raw["config"]["profile"] = "gone"  # a profile today's code no longer has
    (run_dir / "manifest.json").write_text(json.dumps(raw))
    context = read_context(read_manifest(run_dir), run_dir)
    assert context.profile is None and context.today is None
    raw["config"]["profile"] = "smoke"
    raw["config"]["profile_values"] = {**PROFILES["quick"].to_json()}  # of another profile: not used, one line
    (run_dir / "manifest.json").write_text(json.dumps(raw))
    context = read_context(read_manifest(run_dir), run_dir)
    assert context.profile == PROFILES["smoke"]
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "recorded profile values are of 'quick', its config names 'smoke'" in err


def test_a_cell_process_is_handed_the_profiles_values_not_its_name(tmp_path):
    odd = dataclasses.replace(PROFILES["smoke"], reference_resolution="fine")  # no registered profile has these
    context = RunContext(odd, tmp_path, device="cpu", plugins=("/x/plugin.py",), jobs=3, executor="process")
    spec = json.loads(json.dumps(cell_spec(context)))
    back = context_of_spec(spec)
    assert back.profile == odd and back.device == "cpu" and back.plugins == ("/x/plugin.py",)
    assert back.run_dir == tmp_path
