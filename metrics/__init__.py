"""Measurements: W1 (POT), KDE L2 and its floors, RFD, trajectory error, invariants, exact moments.

Plain functions on tensors, one job each, and `specs`: the registry of what each metric is (its floors,
direction, scale, requirements) that evaluators, tables and figures read. Metrics may read problems'
exact references; they never import solvers.
"""
from metrics.errors import mean_squared_distance, rfd, trajectory_error
from metrics.invariants import energy_drift, entropy_dissipation, kinetic_energy, momentum, momentum_drift
from metrics.kde import (kde_l2, kde_l2_bias_floor, kde_l2_mc_floor, kde_on_axes, relative_l2,
                  smoothed_density, smoothed_on_grid)
from metrics.moments import cov_err, exact_covariance, exact_fourth_moment, moment4_err
from metrics.wasserstein import MAX_EXACT_POINTS, w1, w1_mc_floor, w1_subsampled

from metrics.specs import METRICS, MetricSpec, Snapshot, applicable, get_metric, register_metric



def __getattr__(name: str):
    """`metrics.METRIC_NAMES`: the registered metric names (the harness's long format), in registration order,
    computed when asked, so that a metric a plugin registers later is in it."""
    if name == "METRIC_NAMES":
        return list(METRICS)
    raise AttributeError(f"module 'metrics' has no attribute {name!r}")


__all__ = [
    "METRICS", "METRIC_NAMES", "MAX_EXACT_POINTS", "MetricSpec", "Snapshot", "applicable", "get_metric",
    "register_metric", "cov_err", "energy_drift", "entropy_dissipation", "exact_covariance",
    "exact_fourth_moment", "kde_l2", "kde_l2_bias_floor", "kde_l2_mc_floor", "kde_on_axes",
    "kinetic_energy", "mean_squared_distance", "moment4_err", "momentum", "momentum_drift",
    "relative_l2", "rfd", "smoothed_density", "smoothed_on_grid", "trajectory_error", "w1", "w1_mc_floor",
    "w1_subsampled",
]
