"""pinn_pm_particle and pinn_pm_score: the two read-outs of one PINN-PM training (paper 2.4, 5.1).

* pinn_pm_particle: particles at any t are one forward pass, x_i(t) = Phi(V_i, t) (eq. 2.9),
  for any initial particles V (protocol P1: the harness's initial set). Density reconstruction
  uses `n_density` (10^5, as the paper) fresh samples of f0 pushed through Phi. Its score at
  the particles is s_theta(x, t). The trajectory also carries det J(V) of v -> Phi(v, t) (a fold where
  <= 0) and the change-of-variables density f0(V) / |det J(V)| at the particles.
* pinn_pm_score: explicit Euler v <- v + dt U(v, s_theta(v, t)) with the particle drift of
  eq. 2.7 and the learned score, from the same initial set (paper 5.1, "PINN-score").

Both call `train_pinn_pm` with the same config, so one (problem, seed, profile) is trained once
(see `solvers.pinn_training`). Profiles: smoke (tiny nets, seconds), quick (group-A-sized nets
for every problem, a few minutes on 2 CPU cores), paper (Appendix B.2 groups, N = 1000,
16 collocation times, Adam 1e-4, float32).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch

from solvers.probe import FlowProbe, PathRecorder
from problems import drift
from infra import seeds

from solvers.base import Solver, Stopwatch, Trajectory, initial_particles, quick_steps, reduced_dt, resolve_device, step_rule
from solvers.flow_score import jacobian_determinants, self_consistent_score
from solvers.pinn_training import (COLLOCATIONS, DRIFT_SCORES, FLOW_SCORE_GRADIENTS, SCORE_SAMPLES, TrainedPINN,
                                   ablation_refusal, train_pinn_pm)
from solvers.registry import register_solver
from solvers.stepping import integrate

QUERY_CHUNK = 32_768


@dataclass(frozen=True)
class PINNConfig:
    CHOICES: ClassVar[dict] = {"group": ("paper", "A", "B", "C", "D", "tiny"), "drift_score": DRIFT_SCORES,
                               "score_samples": SCORE_SAMPLES, "flow_score_gradient": FLOW_SCORE_GRADIENTS,
                               "collocation": COLLOCATIONS}
    n: int = 1_000  # training particles per iteration (Appendix B.2)
    n_times: int = 16  # collocation times per iteration
    collocation: str = "uniform"  # uniform in [t0, T] (Algorithm 1) | log: log(t - t0 + e) uniform, dense near t0
    collocation_eps: float = 0.05  # collocation=log: e = collocation_eps * (T - t0) (solvers.pinn_training.collocation_times)
    iters: int = 20_000
    lr: float = 1e-4
    lambda_score: float = 1.0
    resample: bool = True  # fresh particles from f0 every iteration (Algorithm 1, line 3)
    ism_through_flow: bool = False  # see pinn_loss.pinn_losses: Algorithm 1 literally, the collapsing variant
    drift_score: str = "net"  # the score inside the drift of L_phys: net | exact, reference (oracles) | flow (the
    # flow's own push-forward score, solvers.flow_score: no score network, no ISM)
    flow_score_gradient: str = "detached"  # drift_score=flow: detached (a fixed point) or through the drift
    score_samples: str = "flow"  # oracle ablation: ISM on the flow's push-forward or on exact samples of f_t
    detach_drift_positions: bool = False  # ablation: no L_phys gradient through the positions U is evaluated at
    group: str = "paper"  # Appendix B.2 group A-D; "paper": the problem's own group; "tiny": the smoke nets
    flow_arch: tuple = ()  # explicit Arch fields, overriding the group
    score_arch: tuple = ()
    dtype: str = "float32"
    n_eval: int = 10_000  # protocol P1 initial set when the harness gives none
    n_density: int = 100_000  # samples pushed through Phi for density reconstruction
    dt: float | None = 0.01  # Euler step of the score variant; None: adaptive (solvers.stepping)
    dt_max: float = 0.2
    tol: float = 2e-3
    max_move: float = 0.0
    checkpoint_every: int = 1_000
    log_every: int = 50


def quick_iterations(problem) -> int:
    """Training iterations of the quick profile: 250, where W1/floor stops improving on every problem
    (README, PINN-PM quick budget; `run --all -s pinn_pm_particle --set iters=250,500,1000,1500`, seed 0).
    On the Maxwell problems nothing improves after 250 (on bkw2d, gaussian_mixture3d and truncated2d longer
    training is worse); on the Coulomb problems KDE L2 still halves by 1,000 iterations (anisotropic2d
    0.12 -> 0.070, rosenbluth3d 0.29 -> 0.15) at 4x the training time, which the 10-minute main job cannot
    afford: `--set pinn_pm_particle.iters=1000` buys it."""
    return 250


def _profile(profile: str, problem) -> PINNConfig:
    if profile == "smoke":
        return PINNConfig(n=200, n_times=4, iters=30, lr=1e-3, group="tiny",
                          n_eval=300, n_density=2_000, dt=reduced_dt("smoke", problem), checkpoint_every=10,
                          log_every=5)
    if profile == "quick":
        coulomb, three_d = problem.gamma != 0, problem.dim == 3
        n, n_times = (300, 4) if coulomb else (400, 6) if three_d else (500, 8)
        return PINNConfig(n=n, n_times=n_times, iters=quick_iterations(problem), lr=3e-4,
                          group="A", n_eval=1_000,
                          n_density=100_000, checkpoint_every=250, log_every=25, **quick_steps(problem))
    return PINNConfig(n=problem.paper_n_pinn, n_times=16, iters=20_000, lr=1e-4, n_eval=10_000,
                      n_density=100_000, dt=0.01, checkpoint_every=1_000, log_every=50)


class _PINNBase(Solver):
    Config = PINNConfig
    has_score = True
    needs_gpu_for_paper = True
    diagnose_training = True
    uses_workdir = True
    n_rate = 0.5  # W1 of N particles drawn through a fitted map: the Monte Carlo rate of the samples (d = 2)

    @classmethod
    def refusal(cls, config, problem):
        return ablation_refusal(config, problem)

    @classmethod
    def _profile(cls, profile, problem):
        return _profile(profile, problem)

    def _setup(self, problem, seed, device, initial, workdir, progress):
        cfg = self.config
        dev, dtype = resolve_device(device), getattr(torch, cfg.dtype)
        with self.phase("training"):
            trained = train_pinn_pm(problem, cfg, seed, dev, workdir, progress)
        if not trained.trained_here:  # waited for and loaded the shared training: its cost is info["train_s"]
            self.move_phase_time("training", "checkpoint_wait")
        v0 = initial_particles(problem, cfg.n_eval, seed, initial)
        return trained, v0, dev, dtype

    @staticmethod
    def _query(net, x: torch.Tensor, t: float) -> torch.Tensor:
        """net(x, t) (the flow Phi or the score s) in chunks of QUERY_CHUNK, one forward pass each."""
        with torch.no_grad():
            tt = torch.full((1,), t, dtype=x.dtype, device=x.device)
            return torch.cat([net(c, tt) for c in x.split(QUERY_CHUNK)])

    def _info(self, trained: TrainedPINN, problem, seed, dev, dtype) -> dict:
        last = trained.history[-1] if trained.history else {}
        query = problem.sample(100_000, seeds.PINN_QUERY.seed(seed)).to(dev, dtype)
        horizon = max(problem.snapshot_times)
        self._query(trained.flow, query[:1000], horizon)  # warm-up
        clock = Stopwatch()  # a measurement reported in info, not a phase of this solve
        with clock("query"):
            self._query(trained.flow, query, horizon)
        return {"training_key": trained.key, "trained_here": int(trained.trained_here),
                "iterations": trained.iterations, "train_s": trained.train_seconds,
                "s_per_iter": trained.seconds_per_iteration, "loss_phys": last.get("phys"),
                "loss_ism": last.get("ism"), "query_1e5_s": clock.times["query"],
                "curves": {k: [h.get(k, float("nan")) for h in trained.history]
                           for k in ("iteration", "phys", "ism", "signal", "seconds")}}


@register_solver("pinn_pm_particle")
class PINNParticle(_PINNBase):
    """PINN-PM queried directly: x(t) = Phi(V, t), no time stepping."""

    has_flow_map = True

    def solve(self, problem, seed=0, device="cpu", initial=None, progress=False, workdir=None):
        cfg = self.config
        trained, v0, dev, dtype = self._setup(problem, seed, device, initial, workdir, progress)
        times, snaps, scores, dens, dets, densities = [], [], [], [], [], []
        with self.phase("inference"):
            v = v0.to(dev, dtype)
            vd = problem.sample(cfg.n_density, seeds.PINN_DENSITY.seed(seed)).to(dev, dtype)
            for t in problem.snapshot_times:
                x = self._query(trained.flow, v, t)
                if not torch.isfinite(x).all():
                    raise FloatingPointError(f"Phi(V, t) is non-finite at t = {t:g}")
                times.append(t)
                snaps.append(x.to("cpu", torch.float64))
                scores.append(self._score_at(trained, problem, v, x, t).to("cpu", torch.float64))
                dens.append(self._query(trained.flow, vd, t).to("cpu", torch.float64))
                det, density = self._change_of_variables(trained, problem, v0, v, t)
                dets.append(det)
                densities.append(density)
        info = self._info(trained, problem, seed, dev, dtype)
        # drift_score=flow trains no score network: the certificates, which need a score model at any point, and the
        # training diagnostics are not made for it (no probe)
        probe = None if cfg.drift_score == "flow" else FlowProbe(trained.flow, trained.score, v0.to(dev, dtype),
                                                                 problem.t0, max(problem.snapshot_times))
        return Trajectory(self.name, problem.name, times, snaps, scores, v0, {}, info,
                          density_particles=dens, probe=probe, det_j=dets,
                          densities=None if any(d is None for d in densities) else densities,
                          score_is_own=cfg.drift_score == "flow")

    @staticmethod
    def _change_of_variables(trained: TrainedPINN, problem, v0: torch.Tensor, v: torch.Tensor, t: float
                             ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(det J(V), f0(V) / |det J(V)|) at the P1 particles, (N,) float64 on the CPU: det J of the flow at v (V on
        the flow's device and dtype) in chunks of QUERY_CHUNK, f0 at v0 (V, float64), as
        solvers.flow_score.pushforward_density; the density is None for a problem that states no initial_density
        (a plugin's)."""
        tt = torch.full((1,), t, dtype=v.dtype, device=v.device)
        det = jacobian_determinants(trained.flow, v, tt, QUERY_CHUNK).cpu()
        try:
            f0 = problem.initial_density(v0.to("cpu", torch.float64))
        except NotImplementedError:
            return det, None
        return det, f0 / det.abs()


    def _score_at(self, trained: TrainedPINN, problem, v: torch.Tensor, x: torch.Tensor, t: float) -> torch.Tensor:
        """The score at the particles x = Phi(v, t) (N, d): the score network's, or with drift_score=flow the flow's
        own push-forward score (solvers.flow_score.self_consistent_score), in chunks."""
        if self.config.drift_score != "flow":
            return self._query(trained.score, x, t)
        tt = torch.full((1,), t, dtype=v.dtype, device=v.device)
        return torch.cat([self_consistent_score(trained.flow, problem.initial_score, c, tt)
                          for c in v.split(QUERY_CHUNK)])


@register_solver("pinn_pm_score")
class PINNScore(_PINNBase):
    """PINN-PM's learned score driving explicit Euler particles (paper 5.1, PINN-score)."""

    @classmethod
    def refusal(cls, config, problem):
        if config.drift_score == "flow":
            return ("drift_score=flow trains no score network, and the flow's push-forward score is known at the flow's "
                    "particles only, not at the Euler particles this variant moves: use pinn_pm_particle")
        return super().refusal(config, problem)

    dt_order = 1  # explicit Euler

    def solve(self, problem, seed=0, device="cpu", initial=None, progress=False, workdir=None):
        cfg = self.config
        trained, v0, dev, dtype = self._setup(problem, seed, device, initial, workdir, progress)
        times, snaps, scores = [], [], []
        path = PathRecorder()

        def velocity(x, t):
            return drift(x, self._query(trained.score, x, t), problem.gamma, problem.C)

        def on_snapshot(t, x):
            times.append(t)
            snaps.append(x.to("cpu", torch.float64).clone())
            scores.append(self._query(trained.score, x, t).to("cpu", torch.float64))

        with self.phase("stepping"):
            v_end, stats = integrate(v0.to(dev, dtype), problem.t0, problem.snapshot_times, step_rule(cfg), velocity,
                                     on_snapshot, progress, desc=f"pinn_pm_score {problem.name}", on_step=path.add)
        info = {**self._info(trained, problem, seed, dev, dtype), **stats.as_info()}
        score_model = lambda x, t: trained.score(x.to(dev, dtype), torch.full((1,), t, dtype=dtype, device=dev))
        probe = path.probe(max(problem.snapshot_times), v_end, [score_model] * len(path.xs))
        return Trajectory(self.name, problem.name, times, snaps, scores, v0, {}, info, probe=probe)
