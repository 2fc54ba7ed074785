"""pinn_pm_sc: PINN-PM trained with its own push-forward score in the drift (self-consistent), read out as particles.

The training is PINN-PM's with `drift_score = flow` (solvers.flow_score): the drift inside L_phys is built from the
flow's own push-forward score s_t(Phi_t(v)) = J^-T (grad log f0 - grad_v log|det J|), so there is no score network
and no ISM term; `flow_score_gradient = detached` (the default: a fixed point of the drift) or `through` (the
L_phys gradient also goes through the score). The read-out is pinn_pm_particle's: x = Phi(V, t) at every snapshot,
the score there the flow's push-forward score, 10^5 (quick) pushed samples for the KDE, det J(V) (a fold where
<= 0: min_det_j, fold_fraction) and the change-of-variables density f0(V) / |det J(V)| at the particles
(entropy_pushforward).

drift_score = flow is this solver's default and its only allowed value, and it enters the training key
(`solvers.pinn_training.training_key` compares against PINNConfig's defaults), so pinn_pm_sc never reuses
pinn_pm_particle's default training; it shares the training of `pinn_pm_particle --set drift_score=flow` (the
same networks). Profiles: pinn_pm_particle's sizes (solvers.pinn_pm._profile) with drift_score = flow.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import ClassVar

from solvers.pinn_pm import PINNConfig, PINNParticle
from solvers.registry import register_solver


@dataclass(frozen=True)
class PINNSCConfig(PINNConfig):
    """PINNConfig with drift_score = flow (the only value: another drift score is pinn_pm_particle)."""

    CHOICES: ClassVar[dict] = {**PINNConfig.CHOICES, "drift_score": ("flow",)}
    drift_score: str = "flow"


@register_solver("pinn_pm_sc")
class PINNSelfConsistent(PINNParticle):
    """PINN-PM with the self-consistent (push-forward) score in its drift, queried as x(t) = Phi(V, t)."""

    Config = PINNSCConfig

    @classmethod
    def _profile(cls, profile, problem):
        base = super()._profile(profile, problem)
        return PINNSCConfig(**{**{f.name: getattr(base, f.name) for f in dataclasses.fields(base)},
                               "drift_score": "flow"})

    @classmethod
    def refusal(cls, config, problem):
        if config.drift_score != "flow":
            return (f"pinn_pm_sc is PINN-PM with drift_score=flow (got {config.drift_score!r}); "
                    f"for another drift score use pinn_pm_particle")
        return super().refusal(config, problem)
