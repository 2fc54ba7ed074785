"""The Landau equation and its data: kernel, particle drift, the six problems, exact references."""
from .base import NoExactReference, Problem, make_generator
from .bkw import BKW, bkw2d, bkw3d
from .drift import drift, maxwell_drift, naive_pairwise_drift, pairwise_drift
from .kernel import kernel_apply, kernel_divergence, kernel_matrix
from .maxwell import maxwell_covariance, maxwell_mean_field_drift
from .mixtures import anisotropic2d, gaussian_mixture3d
from .radial import rosenbluth3d, truncated2d
from .registry import get_problem, list_problems, register_problem

for _factory in (bkw2d, bkw3d, anisotropic2d, rosenbluth3d, gaussian_mixture3d, truncated2d):
    register_problem(_factory.__name__)(_factory)
del _factory

__all__ = [
    "BKW", "NoExactReference", "Problem", "drift", "get_problem", "kernel_apply", "kernel_divergence",
    "kernel_matrix", "list_problems", "make_generator", "maxwell_covariance", "maxwell_drift",
    "maxwell_mean_field_drift", "naive_pairwise_drift", "pairwise_drift", "register_problem",
]
from .pde_residual import pde_residual, relative_pde_residual  # noqa: E402
from .reference import (Reference, ReferencedProblem, reference_for, reference_kind, true_score,  # noqa: E402
                        with_reference)
from . import grid_reference, radial_reference, sde_reference  # noqa: E402,F401  (register the references)
