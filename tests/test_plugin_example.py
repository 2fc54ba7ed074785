"""The plugin example of docs/plugins.md runs as written: extracted from the page, loaded with --plugin, one smoke
cell of its solver on its problem finishes ok, and its numbers are those of particles that never move."""
import json
import re
from pathlib import Path

import pytest

from harness.cli import main

DOC = Path(__file__).resolve().parents[1] / "docs" / "plugins.md"


def example_code() -> str:
    match = re.search(r"```python\n(# my_plugin\.py.*?)```", DOC.read_text(encoding="utf-8"), re.S)
    assert match, "docs/plugins.md lost its my_plugin.py example"
    return match.group(1)


@pytest.mark.slow
def test_the_documented_plugin_runs(tmp_path, capsys):
    plugin = tmp_path / "my_plugin.py"
    plugin.write_text(example_code())
    out = tmp_path / "run"
    code = main(["run", "-s", "my_solver", "-p", "my_problem", "--profile", "smoke", "--plugin", str(plugin),
                 "--out", str(out), "--quiet", "--jobs", "1"])
    assert code == 0, capsys.readouterr().err
    record = json.loads((out / "cells" / "my_solver__my_problem__seed0.json").read_text())
    assert record["status"] == "ok" and record["config"] == {"n": 500}
    assert record["warnings"] == []  # no metric is tried that the problem cannot give (cov_err needs moments)
    values = {(r["metric"], r["t"]): r["value"] for r in record["rows"]}
    # the particles never move: no energy or momentum drift; the problem states no exact solution or moments, so
    # only the invariants and the score's entropy dissipation are measured
    assert {m for m, _ in values} == {"kinetic_energy", "energy_drift", "momentum_drift", "entropy_dissipation"}
    assert values[("energy_drift", 1.0)] == 0.0 and values[("momentum_drift", 1.0)] == 0.0
    assert values[("kinetic_energy", 0.5)] == values[("kinetic_energy", 1.0)] > 0
