"""neural_flow: a velocity network u_theta(t, v) whose flow carries the particles, their log-density and their score,
trained to move with the Landau drift of its own push-forward (a map that cannot fold).

PINN-PM writes the map Phi(v, t) as a free network, and nothing in its loss forbids det J <= 0 (it folds on
gaussian_mixture3d). Here the map is the flow of dX/dt = u_theta(t, X): for a Lipschitz u_theta it is a
diffeomorphism, det J = exp(int div u) > 0, and along each trajectory log f and the score follow from u_theta
exactly (solvers.characteristics_rk4: fixed-step RK4 of x, log f, grad log f and log det J). Training
(solvers.neural_flow_training): the self-consistency residual |u_theta - U[f_theta]|^2 on the RK4 nodes of [t0, T],
one network global in time, the carried score inside the drift detached (a Picard iteration; gradient=through
differentiates through the path).

Read-out: the P1 particles V carried (in float64, a float64 copy of the trained network) through the same RK4 nodes
to every snapshot: x, the carried score (the trajectory's scores), det J = exp(log det J) (min_det_j, fold_fraction:
positive by construction) and the carried density exp(log f) (entropy_pushforward); n_density samples of f0 moved
(positions only, float32) for the KDE. On truncated2d the carried score starts from the problem's mollified f0
(`mollify_eps`, Problem.mollified_start): from f0's own score (-v on the support) the drift is zero and nothing
moves. There is no score model away from the particles, so no certificate probe and no training diagnostics.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch

from infra import seeds

from solvers.base import Solver, Trajectory, initial_particles, resolve_device
from solvers.characteristics_rk4 import Carried, carry, transport
from solvers.neural_flow_drift import CONSERVE, DRIFT_ESTIMATORS
from solvers.neural_flow_training import GRADIENTS, start_state, train_neural_flow
from solvers.registry import register_solver


@dataclass(frozen=True)
class NeuralFlowConfig:
    """n particles per training rollout, iters rollouts (Picard iterations), inner Adam steps per rollout, RK4 steps
    of at most dt (graded towards t0 by grade >= 1), the velocity net's Arch fields, mollify_eps (0: the problem's own
    f0; > 0: its mollified start where it declares one), drift_estimator ('pairs' or, gamma = 0 only, 'by_parts') and
    conserve ('affine': the ensemble's momentum and energy kept by an affine correction of the field; 'none'), both in
    solvers.neural_flow_drift."""

    CHOICES: ClassVar[dict] = {"gradient": GRADIENTS, "dtype": ("float32", "float64"),
                               "drift_estimator": DRIFT_ESTIMATORS, "conserve": CONSERVE}
    POSITIVE: ClassVar[tuple] = ("dt", "grade")
    n: int = 512
    iters: int = 10
    inner: int = 10
    lr: float = 5e-4
    dt: float = 0.25
    slab_steps: int = 2
    grade: float = 1.0
    gradient: str = "detached"
    mollify_eps: float = 0.0
    drift_estimator: str = "pairs"
    conserve: str = "affine"
    arch: tuple = (32, 2, 16, 1, 64, 3)
    dtype: str = "float32"
    n_eval: int = 1_000
    n_density: int = 20_000
    checkpoint_every: int = 50
    log_every: int = 10


def _profile(profile: str, problem) -> NeuralFlowConfig:
    span = problem.T - problem.t0
    moll = 0.05 if problem.mollified_start(0.05) is not None else 0.0  # truncated2d: hole mass vs eps, docs/pinn-pm.md
    if profile == "smoke":
        return NeuralFlowConfig(n=128, iters=5, inner=5, dt=max(span / 8, 0.05), mollify_eps=moll,
                                arch=(16, 1, 8, 1, 32, 2), n_eval=300, n_density=2_000, checkpoint_every=10,
                                log_every=5)
    if profile == "quick":
        return NeuralFlowConfig(dt=span / 16, mollify_eps=moll, grade=2.0 if moll else 1.0)
    return NeuralFlowConfig(n=1_000, iters=40, dt=span / 40, mollify_eps=moll, grade=2.0 if moll else 1.0,
                            arch=(32, 2, 16, 1, 128, 4), n_eval=10_000, n_density=100_000, checkpoint_every=200,
                            log_every=50)


@register_solver("neural_flow")
class NeuralFlow(Solver):
    """The flow of a trained velocity network: particles, log-density, score and det J carried by RK4."""

    Config = NeuralFlowConfig
    has_score = True
    has_flow_map = True
    uses_workdir = True
    n_rate = 0.5  # N particles of f0 moved by a smooth map: the Monte Carlo rate of the samples

    @classmethod
    def _profile(cls, profile, problem):
        return _profile(profile, problem)

    @classmethod
    def refusal(cls, config, problem):
        if config.mollify_eps > 0 and problem.mollified_start(config.mollify_eps) is None:
            return (f"mollify_eps={config.mollify_eps:g}: {problem.name} declares no mollified start (its f0 is "
                    f"smooth); use mollify_eps=0")
        if config.drift_estimator == "by_parts" and problem.gamma != 0:
            return (f"drift_estimator='by_parts' needs gamma = 0, {problem.name} has gamma={problem.gamma:g}; "
                    f"use drift_estimator='pairs'")
        return None

    def solve(self, problem, seed=0, device="cpu", initial=None, progress=False, workdir=None):
        cfg = self.config
        why = self.refusal(cfg, problem)
        if why:
            raise ValueError(why)
        dev = resolve_device(device)
        with self.phase("training"):
            trained = train_neural_flow(problem, cfg, seed, dev, workdir)
        if not trained.trained_here:
            self.move_phase_time("training", "checkpoint_wait")
        v0 = initial_particles(problem, cfg.n_eval, seed, initial)
        with self.phase("inference"):
            state = start_state(problem, v0, cfg.mollify_eps)
            state = Carried(*(a.to(dev) for a in (state.x, state.log_f, state.score, state.log_det)))
            xd = problem.sample(cfg.n_density, seeds.PINN_DENSITY.seed(seed)).to(dev, torch.float32)
            nodes, states, moved = [trained.slabs[0][0]], [state], [xd]
            for slab, field64, vel32 in zip(trained.slabs, trained.slab_fields(torch.float64),
                                            trained.slab_velocities()):
                states += carry(field64, states[-1], slab)[1:]
                moved += transport(vel32, moved[-1], slab)[1:]
                nodes += slab[1:]
        snaps = set(float(t) for t in problem.snapshot_times)
        times, parts, scores, dets, dens, dparts = [], [], [], [], [], []
        for t, s, xd in zip(nodes, states, moved):
            if t not in snaps:
                continue
            if not (torch.isfinite(s.x).all() and torch.isfinite(s.score).all()):
                raise FloatingPointError(f"the carried particles or scores are non-finite at t = {t:g}")
            times.append(t)
            parts.append(s.x.to("cpu", torch.float64))
            scores.append(s.score.to("cpu", torch.float64))
            dets.append(torch.exp(s.log_det).to("cpu", torch.float64))
            dens.append(torch.exp(s.log_f).to("cpu", torch.float64))
            dparts.append(xd.to("cpu", torch.float64))
        last = trained.history[-1] if trained.history else {}
        log_det = torch.stack([s.log_det for s in states])
        info = {"training_key": trained.key, "trained_here": int(trained.trained_here),
                "iterations": trained.iterations, "train_s": trained.train_seconds,
                "s_per_iter": trained.seconds_per_iteration, "loss_phys": last.get("phys"),
                "rk4_steps": len(nodes) - 1, "min_log_det_j": float(log_det.min()),
                "curves": {k: [h.get(k, float("nan")) for h in trained.history]
                           for k in ("iteration", "phys", "signal", "seconds")}}
        return Trajectory(self.name, problem.name, times, parts, scores, v0, {}, info, density_particles=dparts,
                          probe=None, det_j=dets, densities=dens,
                          score_is_own=True)
