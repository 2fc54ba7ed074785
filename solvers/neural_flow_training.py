"""Training of the neural flow (solvers.neural_flow): a velocity network u_theta(t, v) fitted to the Landau drift of
its own push-forward, with checkpoints, resume and one training per key.

Self-consistency (Shen and Wang; Li, Hurault and Solomon, NeurIPS 2023): the particles X_t of f0 moved by
dX/dt = u_theta(t, X), and their score s_t carried along (solvers.characteristics_rk4), should move with the Landau
drift of the law they form,

    L(theta) = (1/KN) sum_{k,i} | u_theta(t_k, X_{t_k,i}) - U[X_{t_k}, s_{t_k}](X_{t_k,i}) |^2,
    U_i = -(C/N) sum_j |X_i - X_j|^gamma (|X_i - X_j|^2 I - (X_i - X_j)(X_i - X_j)^T) (s_i - s_j)   (problems.drift),

over the RK4 nodes t_k of [t0, T], in time slabs of `slab_steps` RK4 steps (SCVM's time slabs): slab j's network
starts from slab j-1's weights and is fitted with the particles' state at the slab's start fixed (carried by the
networks of the earlier slabs). gradient = 'detached' (the default) rolls the particles and scores out through
the slab with the parameters frozen and regresses u_theta onto the fixed drift U for `inner` Adam steps, `iters`
times (a Picard iteration on the velocity: the score inside U is detached, as in PINN-PM's drift_score=flow);
'through' differentiates the loss through the slab's RK4 path (positions and carried scores), one Adam step a
rollout.

Why slabs, not one network over [t0, T] (measured on bkw2d, quick sizes, seed 0): the carried score depends on
grad(div u), which a regression on values of u does not control, and the Picard map amplifies a velocity error of
wavenumber k by about D k^2 (t - t0) (D the Landau diffusion, ~C E|v - w|^2): over the whole window it is not a
contraction. Global in time, 150 rollouts x 4 Adam steps left the loss at 0.65-0.8 of |U|^2 and the score error at
T at 1.36 against |s|^2 = 2.0; 60 x 20 steps drove it to 11 (an instability); slabs of 2 steps with lr 5e-4 keep
each Picard map short.

The training particles are one set of n samples of f0 (seeds.NEURAL_FLOW_TRAINING, index 0), carried slab by slab.
Checkpoints `slab_J.pt` (the nets of slabs 1..J and the particles' state after slab J) under
`workdir/neural_flow/<key>/` load with weights_only=True; one that does not load or belongs to another training is
set aside (`<name>.corrupt`) with a warning. A non-finite loss raises `NeuralFlowTrainingError` naming the slab and
the iteration.
"""
from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
import os
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from problems import Problem

from infra import seeds
from infra.files import exclusive_lock, make_dirs, open_regular, replacing, set_aside_file

from solvers.characteristics_rk4 import Carried, carry, time_nodes
from solvers.neural_flow_drift import corrected_field, corrected_velocity, landau_drift
from solvers.networks import seeded
from solvers.pinn_networks import Arch, EmbeddedNet

#: config fields that do not change the trained network (so not part of the training key)
NON_TRAINING_FIELDS = ("checkpoint_every", "log_every", "n_eval", "n_density")
GRADIENTS = ("detached", "through")


class NeuralFlowTrainingError(FloatingPointError):
    """Training produced a non-finite loss."""


class VelocityNet(nn.Module):
    """u_theta(t, v) = net(v, tau), tau = (t - t0) / (T - t0): PINN-PM's embedded SiLU network (solvers.pinn_networks)
    used as a velocity field."""

    def __init__(self, dim: int, arch: Arch, t0: float, horizon: float):
        super().__init__()
        if not horizon > t0:
            raise ValueError(f"horizon T = {horizon} must exceed t0 = {t0}")
        self.net = EmbeddedNet(dim, arch)
        self.t0, self.span = float(t0), float(horizon - t0)

    def _tau(self, t, like: torch.Tensor) -> torch.Tensor:
        t = t.to(like) if isinstance(t, torch.Tensor) else torch.full((1,), float(t), dtype=like.dtype,
                                                                       device=like.device)
        return (t - self.t0) / self.span

    def forward(self, v: torch.Tensor, t) -> torch.Tensor:
        """u (..., d) at v (..., d); t a float or a tensor broadcastable to v[..., :1]."""
        return self.net(v, self._tau(t, v))

    def field(self, v: torch.Tensor, t: float) -> tuple[torch.Tensor, torch.Tensor]:
        """(u (N, d), D (N, d, d)), D[i, k, j] = d u_j / d v_k: the velocity field of solvers.characteristics_rk4,
        by the written-out forward mode (differentiable in v by first-order autograd)."""
        return self.net.with_derivative(v, self._tau(t, v), "v")


@dataclass
class TrainedFlow:
    """The trained velocity network and what the training cost."""

    net: VelocityNet  # the last slab's network (its weights: nets[-1])
    key: str
    iterations: int  # Picard iterations per slab
    train_seconds: float  # total over all sessions that trained this key
    trained_here: bool  # False when loaded from a finished checkpoint
    history: list[dict]  # per slab: {'slab', 't' (its end), 'phys' and 'signal' (last iteration), 'phys_first',
    # 'seconds'}
    nets: list[dict]  # per slab, the state_dict of its velocity network
    slabs: list[list[float]]  # per slab, its RK4 nodes (solvers.neural_flow_training.slabs_of)
    conserve: str = "none"  # the field's correction (solvers.neural_flow_drift): 'none' or 'affine'

    def slab_nets(self, dtype=None) -> list[VelocityNet]:
        """One VelocityNet per slab with that slab's weights (in `dtype` if given), parameters frozen."""
        out = []
        for sd in self.nets:
            net = copy.deepcopy(self.net)
            net.load_state_dict(sd)
            if dtype is not None:
                net = net.to(dtype)
            out.append(net.requires_grad_(False).eval())
        return out

    def slab_fields(self, dtype=None) -> list:
        """Per slab, the VelocityField (solvers.characteristics_rk4) the flow moves by: the slab net's `field`, with
        the affine conservation correction where conserve == 'affine' (solvers.neural_flow_drift)."""
        return [flow_field(net, self.conserve) for net in self.slab_nets(dtype)]

    def slab_velocities(self, dtype=None) -> list:
        """Per slab, the positions-only Velocity of the same flow (solvers.characteristics_rk4.transport)."""
        return [flow_velocity(net, self.conserve) for net in self.slab_nets(dtype)]

    @property
    def seconds_per_iteration(self) -> float:
        """Training seconds per Picard iteration (iterations x slabs of them)."""
        return self.train_seconds / max(self.iterations * len(self.slabs), 1)


def flow_field(net: VelocityNet, conserve: str = "none"):
    """The VelocityField of `net` the particles move by: net.field, or its affine correction (conserve='affine')."""
    return corrected_field(net.field) if conserve == "affine" else net.field


def flow_velocity(net: VelocityNet, conserve: str = "none"):
    """The positions-only Velocity of the same flow as flow_field (net itself, or its affine correction)."""
    return corrected_velocity(net) if conserve == "affine" else net


def start_state(problem: Problem, v0: torch.Tensor, eps: float) -> Carried:
    """The carried state at t0 for particles v0 (N, d) (float64): log f0 and grad log f0 of the problem, or of its
    mollified start of width eps where eps > 0 and the problem declares one (Problem.mollified_start); log det = 0."""
    moll = problem.mollified_start(eps) if eps > 0 else None
    if moll is not None:
        log_f, score = moll.log_density(v0), moll.score(v0)
    else:
        log_f, score = torch.log(problem.initial_density(v0)), problem.initial_score(v0)
    return Carried(v0, log_f, score, torch.zeros_like(log_f))


def nodes_for(problem: Problem, cfg) -> list[float]:
    """The RK4 nodes of training and read-out: steps of at most cfg.dt graded by cfg.grade, through every snapshot."""
    return time_nodes(problem.t0, problem.snapshot_times, cfg.dt, cfg.grade)


def training_key(problem: Problem, cfg, seed: int) -> str:
    """Short hash of the problem, the seed and every training-relevant config field."""
    fields = {k: v for k, v in dataclasses.asdict(cfg).items() if k not in NON_TRAINING_FIELDS}
    blob = json.dumps({"problem": repr(problem), "seed": seed, "cfg": fields}, sort_keys=True, default=str)
    return f"{problem.name}-seed{seed}-" + hashlib.sha256(blob.encode()).hexdigest()[:12]


def build_net(problem: Problem, cfg, seed: int, device, dtype) -> VelocityNet:
    """The velocity network, its weights from the stream seeds.NEURAL_FLOW_NET, its output layer zero (u = 0 at the
    start: the first rollout leaves the particles at f0 and its targets are the initial drift U[f0], with no random
    small-scale velocity whose derivatives would corrupt the carried score)."""
    horizon = max(problem.snapshot_times)
    net = seeded(lambda: VelocityNet(problem.dim, Arch(*cfg.arch), problem.t0, horizon),
                 seeds.NEURAL_FLOW_NET.seed(seed), device, dtype)
    with torch.no_grad():
        net.net.out.weight.zero_()
        net.net.out.bias.zero_()
    return net


def _checkpoint_iteration(path: Path) -> int | None:
    """The slab count in a checkpoint's name slab_J.pt, or None for a foreign name."""
    head, _, tail = path.stem.rpartition("_")
    return int(tail) if head == "slab" and tail.isdigit() else None


def _latest_state(directory: Path, iters: int, key: str, device) -> dict | None:
    """The state of the checkpoint with the most iterations <= iters that loads (weights_only) and belongs to key;
    every one that does not is set aside with a warning."""
    found = sorted(((it, p) for p in directory.glob("*.pt") if (it := _checkpoint_iteration(p)) is not None
                    and it <= iters), key=lambda x: (x[0], x[1].name.startswith("final")), reverse=True)
    for it, path in found:
        try:
            with open_regular(path) as fh:
                state = torch.load(fh, map_location=device, weights_only=True)
            if not isinstance(state, dict) or state.get("key") != key or state.get("slab") != it:
                raise ValueError("belongs to another training")
            return state
        except Exception as exc:  # refused unpickling, truncated file, foreign checkpoint
            try:
                set_aside_file(path)
            except OSError:
                pass
            warnings.warn(f"neural_flow checkpoint {path.name} is not usable ({type(exc).__name__}: {exc}); "
                          f"training goes on from the last good one or from scratch", stacklevel=3)
    return None


_MEMO: dict[str, TrainedFlow] = {}


def train_neural_flow(problem: Problem, cfg, seed: int, device: torch.device,
                      workdir: str | os.PathLike | None = None) -> TrainedFlow:
    """Train (or load) the neural flow for (problem, cfg, seed) (module docstring); memoised in-process."""
    if cfg.gradient not in GRADIENTS:
        raise ValueError(f"unknown gradient {cfg.gradient!r}; valid: {', '.join(GRADIENTS)}")
    key = training_key(problem, cfg, seed)
    memo = _MEMO.get(f"{key}/{cfg.iters}")
    if memo is not None:
        return dataclasses.replace(memo, trained_here=False)
    if workdir is None:
        result = _train(problem, cfg, seed, device, key, None)
    else:
        directory = Path(workdir) / "neural_flow" / key
        with exclusive_lock(directory.with_suffix(".lock")):
            result = _train(problem, cfg, seed, device, key, directory)
    if len(_MEMO) >= 4:
        _MEMO.pop(next(iter(_MEMO)))
    _MEMO[f"{key}/{cfg.iters}"] = result
    return result


def slabs_of(nodes: list[float], steps: int) -> list[list[float]]:
    """The RK4 nodes cut into consecutive time slabs of `steps` steps each (the last may be shorter); each slab
    lists its own start and end nodes, so slab j's last node is slab j+1's first."""
    k = max(1, int(steps))
    return [nodes[i:i + k + 1] for i in range(0, len(nodes) - 1, k)] or [nodes]


def _targets(net: VelocityNet, problem: Problem, state: Carried, nodes: list[float], through: bool,
             cfg=None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, Carried]:
    """One rollout of `state` through the nodes of a slab: the stacked positions X (K, n, d), the Landau drift
    U[X, s] (K, n, d) of the carried scores s, the node times (K, 1, 1) and the state at the slab's end; through=True
    keeps the graph of the path in X and U (gradient through the positions and the carried scores), else all
    are detached. cfg's drift_estimator and conserve (solvers.neural_flow_drift) pick the drift and the flow's
    field ('pairs' and 'none' when cfg is None)."""
    estimator, conserve = getattr(cfg, "drift_estimator", "pairs"), getattr(cfg, "conserve", "none")
    if through:
        state = Carried(state.x.detach().requires_grad_(True), state.log_f, state.score, state.log_det)
    states = carry(flow_field(net, conserve), state, nodes, create_graph=through)
    x = torch.stack([s.x for s in states])
    score = torch.stack([s.score for s in states])
    with torch.set_grad_enabled(through):
        u = landau_drift(x, score, problem.gamma, problem.C, estimator)
    times = torch.tensor(nodes, dtype=x.dtype, device=x.device).view(-1, 1, 1)
    return x, u, times, states[-1].detach()


def _fit_slab(net: VelocityNet, problem: Problem, cfg, state: Carried, nodes: list[float], slab: int
              ) -> tuple[list[dict], Carried]:
    """cfg.iters Picard iterations on one slab: roll the training particles out with the current net (parameters
    frozen), then cfg.inner Adam steps of the regression |u_theta(t_k, X_k) - U_k|^2 on those fixed targets
    (gradient=detached), or one Adam step on the loss differentiated through the path (through). Returns the
    per-iteration {'phys', 'signal'} and the state at the slab's end carried by the fitted net."""
    params = list(net.parameters())
    opt = torch.optim.Adam(params, lr=cfg.lr)
    through = cfg.gradient == "through"
    out = []
    for it in range(cfg.iters):
        for p in params:
            p.requires_grad_(through)
        x, u, times, _ = _targets(net, problem, state, nodes, through, cfg)
        for p in params:
            p.requires_grad_(True)
        for _ in range(1 if through else cfg.inner):
            loss = ((net(x, times) - u) ** 2).sum(-1).mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        phys, signal = float(loss.detach()), float((u.detach() ** 2).sum(-1).mean())
        if not (torch.isfinite(torch.tensor([phys, signal])).all()):
            raise NeuralFlowTrainingError(
                f"neural_flow training on {problem.name} became non-finite in slab {slab} at iteration {it + 1} "
                f"(loss {phys}); lower lr (now {cfg.lr}) or dt (now {cfg.dt})")
        out.append({"phys": phys, "signal": signal})
    for p in params:
        p.requires_grad_(False)
    return out, _targets(net, problem, state, nodes, False, cfg)[3]


def _train(problem, cfg, seed, device, key, directory: Path | None) -> TrainedFlow:
    """Slab by slab (module docstring): each slab's net starts from the previous slab's weights; a checkpoint
    `slab_J.pt` after every slab holds the nets so far and the training particles' state at the slab's end."""
    dtype = getattr(torch, cfg.dtype)
    slabs = slabs_of(nodes_for(problem, cfg), cfg.slab_steps)
    net = build_net(problem, cfg, seed, device, dtype)
    v0 = problem.sample(cfg.n, seeds.NEURAL_FLOW_TRAINING.seed(seed))
    s0 = start_state(problem, v0, cfg.mollify_eps)
    state = Carried(*(a.to(device, dtype) for a in (s0.x, s0.log_f, s0.score, s0.log_det)))
    nets, seconds, history = [], 0.0, []
    saved = _latest_state(directory, len(slabs), key, device) if directory is not None and directory.exists() \
        else None
    if saved is not None:
        nets = list(saved["nets"])
        state = Carried(*saved["state"])
        seconds, history = float(saved["seconds"]), list(saved["history"])
        net.load_state_dict(nets[-1])
    trained_here = len(nets) < len(slabs)
    t_session = time.perf_counter()
    for j in range(len(nets), len(slabs)):
        fits, state = _fit_slab(net, problem, cfg, state, slabs[j], j)
        nets.append({k: v.detach().clone() for k, v in net.state_dict().items()})
        elapsed = seconds + time.perf_counter() - t_session
        history.append({"slab": j + 1, "t": slabs[j][-1], "phys": fits[-1]["phys"], "signal": fits[-1]["signal"],
                        "phys_first": fits[0]["phys"], "seconds": elapsed})
        if directory is not None:
            make_dirs(directory)
            ckpt = {"nets": nets, "state": [state.x, state.log_f, state.score, state.log_det], "slab": j + 1,
                    "seconds": elapsed, "history": history, "key": key}
            with replacing(directory / f"slab_{j + 1}.pt", suffix=".pt.tmp") as tmp:
                torch.save(ckpt, tmp)
    if trained_here:
        seconds += time.perf_counter() - t_session
    return TrainedFlow(net, key, cfg.iters, seconds, trained_here, history, nets, slabs,
                       getattr(cfg, "conserve", "none"))
