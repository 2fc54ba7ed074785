import os

import torch
from hypothesis import settings

torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))
settings.register_profile("ci", max_examples=40, deadline=None, derandomize=True)
settings.register_profile("dev", max_examples=100, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


import pytest  # noqa: E402


@pytest.fixture(autouse=True, scope="session")
def reference_cache(tmp_path_factory):
    """References (problems.reference) and floors are cached in a fresh directory per test session, so CI
    computes them from scratch (coarse for the smoke profile) and never reads a user's cache. A developer's
    loop may keep them between sessions: LANDAU_TEST_REFERENCE_CACHE=DIR (a directory of its own, never the
    user's cache) is used instead."""
    keep = os.environ.get("LANDAU_TEST_REFERENCE_CACHE")
    os.environ["LANDAU_REFERENCE_CACHE"] = keep or str(tmp_path_factory.mktemp("reference-cache"))
    yield


@pytest.fixture(autouse=True)
def isolated_registries():
    """Plugins and test solvers register into process-global registries: restore them after each test."""
    import harness.plugins
    import metrics.specs
    import problems.registry
    import solvers.registry
    saved = (dict(problems.registry._FACTORIES), dict(solvers.registry._SOLVERS), set(harness.plugins._LOADED))
    saved_metrics = dict(metrics.specs.METRICS)
    yield
    metrics.specs.METRICS.clear()
    metrics.specs.METRICS.update(saved_metrics)
    problems.registry._FACTORIES.clear()
    problems.registry._FACTORIES.update(saved[0])
    solvers.registry._SOLVERS.clear()
    solvers.registry._SOLVERS.update(saved[1])
    harness.plugins._LOADED.clear()
    harness.plugins._LOADED.update(saved[2])
