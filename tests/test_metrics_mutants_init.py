"""metrics/__init__.py (issue 43 item 5): METRIC_NAMES is read from the registry when asked, so a metric registered
later is in it; another missing attribute is an AttributeError naming it."""
import pytest

import metrics
from metrics import specs


def test_metric_names_follow_the_registry(monkeypatch):
    assert metrics.METRIC_NAMES == list(specs.METRICS) and metrics.METRIC_NAMES[:2] == ["kinetic_energy",
                                                                                         "energy_drift"]
    monkeypatch.setitem(specs.METRICS, "late_metric", specs.MetricSpec("late_metric", "", None))
    assert metrics.METRIC_NAMES[-1] == "late_metric"
    with pytest.raises(AttributeError, match="module 'metrics' has no attribute 'NOT_THERE'"):
        metrics.NOT_THERE  # noqa: B018
    assert not hasattr(metrics, "metric_names")
