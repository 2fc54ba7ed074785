"""Solvers, one module each, registered by name: exact_flow, sbp, blob, rbm_blob (blob in random batches),
pairwise_collision (binary collisions), and PINN-PM variants: pinn_pm_particle, pinn_pm_score, pinn_pm_sc; neural_flow (a velocity network carried by RK4).

Solvers know nothing of metrics or the harness; they return a `Trajectory`.
"""
from solvers.base import (PROFILES, Solver, Stopwatch, Trajectory, TrajectoryError, initial_particles, resolve_device,
                   validate_trajectory)
from solvers.registry import get_solver, list_solvers, register_solver

from solvers import exact_flow, sbp, blob, rbm_blob, pinn_pm, pinn_pm_sc, pairwise_collision, neural_flow  # noqa: E402,F401

__all__ = ["PROFILES", "Solver", "Stopwatch", "Trajectory", "TrajectoryError", "get_solver", "initial_particles",
           "list_solvers", "register_solver", "resolve_device", "validate_trajectory"]
