"""The paper's error certificates (Lemma 2, Theorems 2, 4, 5, 6) evaluated numerically against the
errors actually observed. `certify(probe, problem, seed)` -> rows; see `certificates.evaluate`."""
from certificates.diagnostics import DIAGNOSTIC_METRICS, training_diagnostics
from certificates.evaluate import CERTIFICATES, applicable, certify
from certificates.a_posteriori import A_POSTERIORI, certify_flow
from certificates.flow_path import flow_path_of
from certificates.particle_residual import certify_particles, particle_path_of
from solvers.probe import FlowProbe, PiecewiseLinearProbe

__all__ = ["A_POSTERIORI", "CERTIFICATES", "certify_flow", "certify_particles", "flow_path_of", "particle_path_of", "DIAGNOSTIC_METRICS", "training_diagnostics", "FlowProbe", "PiecewiseLinearProbe", "applicable", "certify"]
