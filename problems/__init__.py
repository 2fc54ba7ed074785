"""The Landau equation and its data: kernel, particle drift, the six problems, exact references."""
from problems.cases.base import NoExactReference, Problem, make_generator
from problems.cases.bkw import BKW, bkw2d, bkw3d
from problems.particle_drift.dispatch import drift, maxwell_drift, naive_pairwise_drift, pairwise_drift
from problems.equation.kernel import kernel_apply, kernel_divergence, kernel_matrix
from problems.equation.maxwell import maxwell_covariance, maxwell_mean_field_drift
from problems.cases.mixtures import anisotropic2d, gaussian_mixture3d
from problems.cases.radial import rosenbluth3d, truncated2d
from problems.cases.registry import get_problem, list_problems, register_problem

for _factory in (bkw2d, bkw3d, anisotropic2d, rosenbluth3d, gaussian_mixture3d, truncated2d):
    register_problem(_factory.__name__)(_factory)
del _factory

__all__ = [
    "BKW", "NoExactReference", "Problem", "drift", "get_problem", "kernel_apply", "kernel_divergence",
    "kernel_matrix", "list_problems", "make_generator", "maxwell_covariance", "maxwell_drift",
    "maxwell_mean_field_drift", "naive_pairwise_drift", "pairwise_drift", "register_problem",
]
from problems.cases.pde_residual import pde_residual, relative_pde_residual  # noqa: E402
from problems.references.base import (Reference, ReferencedProblem, reference_for, reference_kind,  # noqa: E402
                                      true_score, with_reference)
from problems.references import grid, radial, sde  # noqa: E402,F401  (register the references)
from infra import seeds  # noqa: E402,F401  (`from problems import seeds` keeps working)
