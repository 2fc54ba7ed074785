import os

import torch
from hypothesis import settings

#: under pytest-xdist (`-n 2`, the README's command) every worker is a process of its own: one torch thread each, so
#: the workers do not oversubscribe the 2 cores; a single process keeps up to 2
WORKERS = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1") or 1)
torch.set_num_threads(max(1, min(2, os.cpu_count() or 1) // WORKERS))
settings.register_profile("ci", max_examples=40, deadline=None, derandomize=True)
settings.register_profile("dev", max_examples=100, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


import pytest  # noqa: E402


@pytest.fixture(autouse=True, scope="session")
def reference_cache(tmp_path_factory):
    """References (problems.references.base) and floors are cached in a fresh directory per test run, so CI
    computes them from scratch (coarse for the smoke profile) and never reads a user's cache. Under pytest-xdist
    the workers share it (the directory above each worker's base temp is the run's; both caches write under a
    lock, so a reference or a floor distribution is computed once per run, not once per worker). A developer's
    loop may keep them between sessions: LANDAU_TEST_REFERENCE_CACHE=DIR (a directory of its own, never the
    user's cache) is used instead."""
    keep = os.environ.get("LANDAU_TEST_REFERENCE_CACHE")
    if keep:
        os.environ["LANDAU_REFERENCE_CACHE"] = keep
    elif os.environ.get("PYTEST_XDIST_WORKER"):
        shared = tmp_path_factory.getbasetemp().parent / "reference-cache"
        shared.mkdir(exist_ok=True)
        os.environ["LANDAU_REFERENCE_CACHE"] = str(shared)
    else:
        os.environ["LANDAU_REFERENCE_CACHE"] = str(tmp_path_factory.mktemp("reference-cache"))
    yield


@pytest.fixture(autouse=True)
def isolated_registries():
    """Plugins and test solvers register into process-global registries: restore them after each test."""
    import harness.plan.plugins
    import metrics.specs
    import problems.cases.registry
    import solvers.registry
    saved = (dict(problems.cases.registry._FACTORIES), dict(solvers.registry._SOLVERS), set(harness.plan.plugins._LOADED))
    saved_metrics = dict(metrics.specs.METRICS)
    yield
    metrics.specs.METRICS.clear()
    metrics.specs.METRICS.update(saved_metrics)
    problems.cases.registry._FACTORIES.clear()
    problems.cases.registry._FACTORIES.update(saved[0])
    solvers.registry._SOLVERS.clear()
    solvers.registry._SOLVERS.update(saved[1])
    harness.plan.plugins._LOADED.clear()
    harness.plan.plugins._LOADED.update(saved[2])


#: fast-tier tests moved to the slow tier by their measured time (2026-12-02: the fast tier took 178 s idle on the
#: 2-core machine; each of these took 7-16 s on 2 loaded cores, `pytest -m "not slow" --durations=40`). CI runs them.
SLOW_BY_MEASUREMENT = (
    # measured 2026-12-07 at 4.5-12 s on the idle 2-core machine (the fast tier was 148 s with them)
    "tests/test_reliability.py::test_report_names_the_particle_file_it_skips",
    "tests/test_reliability.py::test_a_trajectory_of_the_wrong_dimension_fails_its_cell",
    "tests/test_reliability.py::test_a_huge_n_is_refused_up_front_within_bounded_memory",
    "tests/test_drift.py::test_float32_close_to_float64",
    "tests/test_reference_tasks.py::test_local_engine_builds_the_references_first_then_runs_the_cells",
    "tests/test_reliability.py::test_report_waits_for_no_run_it_refuses_while_one_holds_the_directory",
    "tests/test_solvers.py::test_sbp_exact_score_distance_to_exact_flow_shrinks_like_inverse_sqrt_n",
    "tests/test_probes.py::test_the_flow_probe_velocity_is_the_time_derivative_of_its_positions",
    "tests/test_cli_grammar.py::test_no_command_line_ends_in_a_traceback_and_the_grammar_reaches_every_outcome",
    "tests/test_certificates.py::test_log_gronwall_matches_the_closed_form",
    "tests/test_references.py::test_sde_pools_follow_the_closed_form_covariance_and_matching_makes_it_exact",
    "tests/test_reliability.py::test_a_particle_file_of_the_wrong_dimension_is_skipped_by_report",
    "tests/test_fused_drift.py::test_compiled_cpu_kernel_equals_reference_and_is_the_default[-3.0-3]",
    "tests/test_certificates.py::test_theorem6_holds_for_exact_samples[bkw3d]",
    "tests/test_orders.py::test_declared_rate_in_n_is_observed[blob]",
    "tests/test_orders.py::test_declared_order_in_dt_is_observed[blob]",
    "tests/test_solvers.py::test_trajectories_are_reproducible",
    "tests/test_solvers.py::test_momentum_conserved_on_every_problem[bkw2d-sbp]",
    "tests/test_parallel.py::test_cell_rows_identical_with_a_cold_and_a_warm_floor_cache",
)


def pytest_collection_modifyitems(config, items):
    """Mark SLOW_BY_MEASUREMENT `slow` (a node id, or a function name for all its parameters)."""
    for item in items:
        if item.nodeid in SLOW_BY_MEASUREMENT or item.nodeid.split("[")[0] in SLOW_BY_MEASUREMENT:
            item.add_marker(pytest.mark.slow)
