"""A metric added by one registration in a plugin file is computed in every cell it applies to and shown in
the summary's last-snapshot table and warnings, with no harness edit."""
import textwrap

import pandas as pd
import pytest

from harness.cli import main

PLUGIN_PROBLEMS = "tests/harness_plugin.py"


def test_a_plugin_metric_is_computed_and_shown(tmp_path):
    plugin = tmp_path / "speed_metric.py"
    plugin.write_text(textwrap.dedent('''
        from metrics.specs import MetricSpec, register_metric
        register_metric(MetricSpec("max_speed", "largest |v| of the particles",
                                   lambda s: float(s.x.norm(dim=1).max()), better="", absurd="relative"))
        register_metric(MetricSpec("huge", "a value no solver should produce", lambda s: 1e9, absurd="relative"))
    '''))
    out = tmp_path / "r"
    assert main(["run", "-s", "still", "-p", "tiny2d", "--plugin", PLUGIN_PROBLEMS, "--plugin", str(plugin),
                 "--profile", "smoke", "--jobs", "1", "--quiet", "--out", str(out)]) == 0
    table = pd.read_csv(out / "metrics.csv")
    import problems
    from infra import seeds
    v0 = problems.get_problem("tiny2d").sample(64, seeds.INITIAL_PARTICLES.seed(0))  # `still` keeps them
    rows = table[table.metric == "max_speed"]
    assert sorted(rows.t) == [0.5, 1.0]
    assert rows.value.tolist() == pytest.approx([float(v0.norm(dim=1).max())] * 2, rel=1e-12)
    header = next(line for line in (out / "summary.md").read_text().splitlines()
                  if line.startswith("| solver |") and "energy_drift" in line)  # the last-snapshot errors table
    assert header.endswith("| max_speed | huge |")
    import json
    rec = json.loads((out / "cells" / "still__tiny2d__seed0.json").read_text())
    assert any(w.startswith("huge = 1e+09") for w in rec["warnings"])


def test_metric_spec_fields_are_checked_at_construction():
    """A typo in an enum-like field is a one-line error naming the valid values, not a silently hidden metric."""
    from metrics.specs import MetricSpec
    with pytest.raises(ValueError, match=r"show = 'per-time' is not one of 'per_time', 'last', 'floor', 'parquet', 'diagnosis'"):
        MetricSpec("typo_metric", "a typo", None, show="per-time")
    with pytest.raises(ValueError, match=r"better = 'smaller' is not one of 'lower', 'higher', ''"):
        MetricSpec("typo_metric", "a typo", None, better="smaller")
    with pytest.raises(ValueError, match=r"roles = 'acuracy' is not one of 'accuracy', 'regression'"):
        MetricSpec("typo_metric", "a typo", None, roles=("accuracy", "acuracy"))
    with pytest.raises(ValueError, match="absurd = 'floor' needs a floor"):
        MetricSpec("typo_metric", "a typo", None, absurd="floor")
    assert MetricSpec("fine_metric", "ok", None, show="parquet", scale="log", roles=("regression",)).show == "parquet"


def test_metric_names_are_read_when_asked(monkeypatch):
    """metrics.METRIC_NAMES is the registry now, not a copy frozen at import."""
    import metrics
    from metrics import specs
    monkeypatch.setitem(specs.METRICS, "late_metric", specs.MetricSpec("late_metric", "registered late", None))
    assert metrics.METRIC_NAMES[-1] == "late_metric"
    assert metrics.METRIC_NAMES == list(specs.METRICS)
