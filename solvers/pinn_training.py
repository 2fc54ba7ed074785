"""Training of PINN-PM (Algorithm 1) with checkpoints, resume and one training per key.

`train_pinn_pm(problem, cfg, seed, device, workdir)` returns the trained flow and score
networks. Both PINN-PM solver variants call it with the same arguments; the training is keyed by
(problem, seed, every config field that changes training) and stored under
`workdir/pinn_pm/<key>/`, so the second variant (or a resumed run) loads it instead of training
again. A file lock serialises two processes asking for the same key. Without a workdir the
result is memoised in-process only.

Each iteration draws its particles and collocation times (uniform in [t0, T], or log-spaced near t0:
`collocation_times`) from a generator seeded by (seed, iteration), so a run resumed from a checkpoint follows the same path as one that was
never interrupted. Non-finite losses raise `PINNTrainingError` naming the iteration.

Every checkpoint is kept (`ckpt_K.pt` every `checkpoint_every` iterations, `final_K.pt` at the end),
so a run with fewer iterations (a rung of a work-precision sweep) loads one instead of training.
Checkpoints load with `torch.load(weights_only=True)`, so a file planted in a shared run directory
cannot run code; one that does not load or belongs to another training is set aside
(`<name>.corrupt`) with a warning and training goes on from the last good one or from scratch.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import torch
from tqdm.auto import tqdm

from problems import Problem, make_generator

from infra import seeds
from infra.files import exclusive_lock, make_dirs, open_regular, set_aside_file

from solvers.networks import seeded
from solvers.flow_score import self_consistent_score
from solvers.pinn_loss import pinn_losses
from solvers.pinn_networks import GROUPS, Arch, FlowMap, ScoreNet, group_for

#: config fields that do not change the trained networks (so not part of the training key)
NON_TRAINING_FIELDS = ("iters", "checkpoint_every", "log_every", "n_eval", "n_density", "dt", "dt_max", "tol", "max_move")
#: config fields that choose the networks: they enter the key through the architectures they resolve to
ARCH_FIELDS = ("group", "flow_arch", "score_arch")


#: values of the oracle ablations (PINNConfig.drift_score, .score_samples)
DRIFT_SCORES = ("net", "exact", "reference", "flow")
#: drift_score=flow: whether the L_phys gradient goes through the self-consistent drift (solvers.flow_score)
FLOW_SCORE_GRADIENTS = ("detached", "through")
SCORE_SAMPLES = ("flow", "exact")
#: how the collocation times of an iteration are spread over [t0, T] (PINNConfig.collocation, `collocation_times`)
COLLOCATIONS = ("uniform", "log")


def collocation_times(u: torch.Tensor, t0: float, span: float, kind: str = "uniform", eps: float = 0.05
                      ) -> torch.Tensor:
    """Collocation times in [t0, t0 + span] from u, uniform draws in [0, 1) (one per time).

    uniform: t = t0 + span * u, uniform in [t0, T] (Algorithm 1; the default, and what every training before the
        option used, bit for bit).
    log:     t = t0 + (span + e) ** u * e ** (1 - u) - e with e = eps * span, i.e. log(t - t0 + e) uniform
        between log e and log(span + e): dense near t0, sparse near T. The density of t is proportional to
        1 / (t - t0 + e); with eps = 0.05 the median time is t0 + (sqrt(eps (1 + eps)) - eps) span = t0 + 0.179
        span, and a fraction log(1 + 1/eps)^-1 log((1/10 + eps) / eps) = 0.36 of the times lies in the first
        tenth of the window (0.10 for uniform). Smaller eps packs them closer to t0."""
    if kind == "uniform":
        return t0 + span * u
    if kind == "log":
        e = eps * span
        return (t0 + ((span + e) ** u * e ** (1 - u) - e)).clamp(t0, t0 + span)
    raise ValueError(f"unknown collocation {kind!r}; valid: {', '.join(COLLOCATIONS)}")


def _exact_problems() -> list[str]:
    import problems
    return [p for p in problems.list_problems() if problems.get_problem(p).has_exact_solution]


def ablation_refusal(cfg, problem: Problem) -> str | None:
    """One line saying why cfg's oracle ablations cannot run on `problem`, or None if they can.

    drift_score=exact and score_samples=exact need the problem's exact score and sampler at every collocation
    time (BKW). drift_score=reference is refused everywhere: the grid and radial references have a score, but
    only at the snapshot times they store, and L_phys needs one at every collocation time in [t0, T] (the
    drift-error diagnostic uses the reference score at the snapshots)."""
    exact = ", ".join(_exact_problems())
    if cfg.drift_score == "reference":
        return (f"drift_score=reference: references store the score at the snapshot times only and L_phys needs it at "
                f"every collocation time; drift_score=exact works on {exact}")
    for field in ("drift_score", "score_samples"):
        if getattr(cfg, field) == "exact" and not problem.has_exact_solution:
            return f"{field}=exact needs an exact solution, which {problem.name} has not; problems with one: {exact}"
    if cfg.score_samples == "exact" and cfg.ism_through_flow:
        return "score_samples=exact and ism_through_flow=true contradict each other (ISM through the flow needs the flow's samples)"
    if cfg.drift_score == "flow" and (cfg.ism_through_flow or cfg.score_samples != "flow"):
        return "drift_score=flow trains no score network: ism_through_flow and score_samples do not apply"
    return None


def _exact_score_batched(problem: Problem):
    """(x (K, N, d), t (K, 1, 1)) -> the exact score grad log f(x_k, t_k), float64 computed, x's dtype back."""
    def fn(x, t):
        return torch.stack([problem.score(x[k].to(torch.float64), float(t[k].reshape(()))) for k in range(x.shape[0])]).to(x)
    return fn


def _exact_samples(problem: Problem, times: torch.Tensor, n: int, seed: int, it: int) -> torch.Tensor:
    """(K, n, d) float64: n i.i.d. samples of the exact f(., t_k) per collocation time (stream 'ism_samples')."""
    return torch.stack([problem.sample_at(float(t), n, seeds.hashed_seed(seed, "ism_samples", it, k))
                        for k, t in enumerate(times.tolist())])


class PINNTrainingError(FloatingPointError):
    """Training produced a non-finite loss."""


@dataclass
class TrainedPINN:
    """Trained networks and what the training cost."""

    flow: FlowMap
    score: ScoreNet
    key: str
    iterations: int
    train_seconds: float  # total over all sessions that trained this key
    trained_here: bool  # False when loaded from a finished checkpoint
    history: list[dict]  # {'iteration', 'phys', 'ism', 'signal', 'loss', 'seconds'} every log_every iterations
    # (means over the iterations since the last entry; signal = E|U_theta|^2 on the training particles)

    @property
    def seconds_per_iteration(self) -> float:
        return self.train_seconds / max(self.iterations, 1)


def architectures(cfg, problem: Problem) -> tuple[Arch, Arch]:
    """(flow arch, score arch): explicit cfg.flow_arch/score_arch, else cfg.group ('paper': the problem's own)."""
    group = group_for(problem) if cfg.group == "paper" else cfg.group
    if group not in GROUPS:
        raise ValueError(f"unknown PINN-PM group {group!r}; valid groups: {', '.join(GROUPS)}")
    flow_arch, score_arch = GROUPS[group]
    return (Arch(*cfg.flow_arch) if cfg.flow_arch else flow_arch,
            Arch(*cfg.score_arch) if cfg.score_arch else score_arch)


def _key_defaults(cfg) -> dict:
    """The defaults the training key compares cfg's fields against: those of the first dataclass of cfg's class
    hierarchy (PINNConfig for pinn_pm_sc's PINNSCConfig, whose drift_score default is flow), so a subclass that
    changes a default keys that field and never shares a training with the base class's default."""
    root = next(c for c in reversed(type(cfg).__mro__) if dataclasses.is_dataclass(c))
    base = {f.name: f.default for f in dataclasses.fields(root)}
    return {f.name: base.get(f.name, f.default) for f in dataclasses.fields(cfg)}


def training_key(problem: Problem, cfg, seed: int) -> str:
    """Short hash of the problem, the seed, the resolved architectures and every training-relevant config
    field that differs from its default in the base config class (`_key_defaults`; so a new option added with a
    default that keeps today's training does not invalidate the trainings already stored)."""
    flow_arch, score_arch = architectures(cfg, problem)
    defaults = _key_defaults(cfg)
    fields = {k: v for k, v in dataclasses.asdict(cfg).items()
              if k not in NON_TRAINING_FIELDS + ARCH_FIELDS and v != defaults[k]}
    fields.update(flow_arch=list(flow_arch), score_arch=list(score_arch))
    blob = json.dumps({"problem": repr(problem), "seed": seed, "cfg": fields}, sort_keys=True, default=str)
    return f"{problem.name}-seed{seed}-" + hashlib.sha256(blob.encode()).hexdigest()[:12]


def build_networks(problem: Problem, cfg, seed: int, device, dtype) -> tuple[FlowMap, ScoreNet]:
    """Flow and score networks with parameters drawn from seeds derived from `seed`."""
    flow_arch, score_arch = architectures(cfg, problem)
    horizon = max(problem.snapshot_times)
    flow = seeded(lambda: FlowMap(problem.dim, flow_arch, problem.t0, horizon), seeds.PINN_FLOW_NET.seed(seed), device, dtype)
    score = seeded(lambda: ScoreNet(problem.dim, score_arch, problem.t0, horizon), seeds.PINN_SCORE_NET.seed(seed), device, dtype)
    return flow, score


def _save(path: Path, state: dict) -> None:
    """Write a checkpoint atomically (infra.files.replacing: a fresh temporary file, never through a link,
    removed if the write fails)."""
    from infra.files import replacing
    with replacing(path, suffix=".pt.tmp") as tmp:
        torch.save(state, tmp)


def _checkpoint_iteration(path: Path) -> int | None:
    """The iteration in a checkpoint's name, or None for a foreign name: final_K.pt and ckpt_K.pt as written
    now, latest_K.pt as runs before commit 441643a wrote (still resumed)."""
    head, _, tail = path.stem.rpartition("_")
    return int(tail) if head in ("final", "latest", "ckpt") and tail.isdigit() else None


def _set_aside(path: Path, reason: str) -> None:
    try:
        target = set_aside_file(path)
    except OSError:
        warnings.warn(f"PINN-PM checkpoint {path.name} is not usable ({reason}) and could not be set aside; "
                      f"training goes on from the last good one or from scratch", stacklevel=3)
        return
    warnings.warn(f"PINN-PM checkpoint {path.name} set aside as {target.name} ({reason}); training goes on from "
                  f"the last good one or from scratch", stacklevel=3)


def _load_checkpoint(path: Path, key: str, device) -> dict:
    """A checkpoint's state, loaded with weights_only=True (no code runs); ValueError if it is not ours."""
    try:
        with open_regular(path) as fh:  # a FIFO or a device planted there is refused, never waited on
            state = torch.load(fh, map_location=device, weights_only=True)
    except Exception as exc:  # unpickling refused or failed, truncated zip, ...
        raise ValueError(f"does not load with weights_only=True: {type(exc).__name__}") from None
    need = {"flow", "score", "optimizer", "iteration", "seconds", "history", "key"}
    if not isinstance(state, dict) or not need <= set(state):
        raise ValueError("not a PINN-PM checkpoint")
    if state["key"] != key or state["iteration"] != _checkpoint_iteration(path):
        raise ValueError(f"belongs to training {state['key']!r} at iteration {state['iteration']}")
    return state


def _latest_good_state(directory: Path, iters: int, key: str, device) -> dict | None:
    """The state of the checkpoint with the most iterations <= iters that loads and belongs to `key`;
    every checkpoint that does not is set aside with a warning."""
    candidates = sorted(((it, p) for p in directory.glob("*.pt") if (it := _checkpoint_iteration(p)) is not None
                         and it <= iters), key=lambda x: (x[0], x[1].name.startswith("final")), reverse=True)
    for _, path in candidates:
        try:
            return _load_checkpoint(path, key, device)
        except ValueError as exc:
            _set_aside(path, str(exc))
    return None


_MEMO: dict[str, TrainedPINN] = {}


def train_pinn_pm(problem: Problem, cfg, seed: int, device: torch.device, workdir: str | os.PathLike | None = None,
                  progress: bool = False) -> TrainedPINN:
    """Train (or load) PINN-PM for (problem, cfg, seed): Adam on L_phys + lambda_score * L_ISM (eq. 2.12).
    ValueError with `ablation_refusal`'s line for an oracle ablation the problem has no oracle for."""
    refusal = ablation_refusal(cfg, problem)
    if refusal:
        raise ValueError(refusal)
    key = training_key(problem, cfg, seed)
    memo = _MEMO.get(f"{key}/{cfg.iters}")
    if memo is not None:
        return dataclasses.replace(memo, trained_here=False)
    if workdir is None:
        result = _train(problem, cfg, seed, device, key, None, progress)
    else:
        directory = Path(workdir) / "pinn_pm" / key
        with exclusive_lock(directory.with_suffix(".lock")):
            result = _train(problem, cfg, seed, device, key, directory, progress)
    if len(_MEMO) >= 4:
        _MEMO.pop(next(iter(_MEMO)))
    _MEMO[f"{key}/{cfg.iters}"] = result
    return result


def _train(problem, cfg, seed, device, key, directory: Path | None, progress) -> TrainedPINN:
    dtype = getattr(torch, cfg.dtype)
    flow, score = build_networks(problem, cfg, seed, device, dtype)
    params = list(flow.parameters()) + list(score.parameters())
    opt = torch.optim.Adam(params, lr=cfg.lr)
    start, seconds, history = 0, 0.0, []
    state = _latest_good_state(directory, cfg.iters, key, device) if directory is not None and directory.exists() else None
    if state is not None:
        try:
            flow.load_state_dict(state["flow"])
            score.load_state_dict(state["score"])
            opt.load_state_dict(state["optimizer"])
            start, seconds, history = state["iteration"], float(state["seconds"]), list(state["history"])
        except (RuntimeError, KeyError, ValueError, TypeError) as exc:  # right key, wrong shapes: start afresh
            warnings.warn(f"PINN-PM checkpoint of {key} does not fit the networks ({type(exc).__name__}); "
                          f"training from scratch", stacklevel=2)
            flow, score = build_networks(problem, cfg, seed, device, dtype)
            params = list(flow.parameters()) + list(score.parameters())
            opt = torch.optim.Adam(params, lr=cfg.lr)
    trained_here = start < cfg.iters
    horizon = max(problem.snapshot_times)
    fixed = problem.sample(cfg.n, seeds.PINN_FIXED_BATCH.seed(seed)).to(device, dtype) if not cfg.resample else None
    span = horizon - problem.t0
    run_phys = torch.zeros((), device=device, dtype=dtype)
    run_ism = torch.zeros((), device=device, dtype=dtype)
    run_signal = torch.zeros((), device=device, dtype=dtype)
    logged_from = start
    bar = tqdm(range(start, cfg.iters), desc=f"pinn_pm {problem.name}", disable=not progress, leave=False,
               mininterval=1.0, initial=start, total=cfg.iters)
    oracle = _exact_score_batched(problem) if cfg.drift_score == "exact" else None
    through = cfg.flow_score_gradient == "through"
    flow_score = (lambda v, t: self_consistent_score(flow, problem.initial_score, v, t, through)) \
        if cfg.drift_score == "flow" else None
    t_session = time.perf_counter()
    for it in bar:
        stream = seeds.PINN_TRAINING.seed(seed, it)
        v0 = fixed if fixed is not None else problem.sample(cfg.n, stream).to(device, dtype)
        times = collocation_times(torch.rand(cfg.n_times, generator=make_generator(stream), dtype=torch.float64),
                                  problem.t0, span, cfg.collocation, cfg.collocation_eps)
        ism_points = (_exact_samples(problem, times, cfg.n, seed, it).to(device, dtype)
                      if cfg.score_samples == "exact" else None)
        losses = pinn_losses(flow, score, v0, times.to(device, dtype), problem.gamma, problem.C, cfg.ism_through_flow,
                             drift_score=oracle, ism_points=ism_points,
                             detach_drift_positions=cfg.detach_drift_positions, flow_score=flow_score,
                             flow_score_through=through)
        loss = losses["phys"] + cfg.lambda_score * losses["ism"]
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        run_phys += losses["phys"].detach()
        run_ism += losses["ism"].detach()
        run_signal += losses["signal"]
        done = it + 1
        if done % cfg.log_every == 0 or done == cfg.iters:
            m = done - logged_from
            phys, ism, signal = (float(v) / m for v in torch.stack([run_phys, run_ism, run_signal]).tolist())  # the only host sync
            if not (torch.isfinite(torch.tensor([phys, ism])).all()):
                raise PINNTrainingError(
                    f"PINN-PM training on {problem.name} became non-finite by iteration {done} "
                    f"(mean L_phys = {phys}, L_ISM = {ism} over the last {m}); lower lr (now {cfg.lr}) "
                    f"or check the problem's sampler")
            elapsed = seconds + time.perf_counter() - t_session
            history.append({"iteration": done, "phys": phys, "ism": ism, "signal": signal,
                            "loss": phys + cfg.lambda_score * ism,
                            "seconds": elapsed})
            bar.set_postfix(phys=f"{phys:.3g}", ism=f"{ism:.3g}")
            run_phys.zero_()
            run_ism.zero_()
            run_signal.zero_()
            logged_from = done
            if directory is not None and (done % cfg.checkpoint_every == 0 or done == cfg.iters):
                make_dirs(directory)
                state = {"flow": flow.state_dict(), "score": score.state_dict(), "optimizer": opt.state_dict(),
                         "iteration": done, "seconds": elapsed, "history": history, "key": key}
                # every checkpoint is kept: a shorter `iters` (a work-precision rung) loads it at no cost
                _save(directory / (f"final_{done}.pt" if done == cfg.iters else f"ckpt_{done}.pt"), state)
    bar.close()
    if trained_here:
        seconds += time.perf_counter() - t_session
    flow.eval()
    score.eval()
    for p in params:
        p.requires_grad_(False)
    return TrainedPINN(flow, score, key, cfg.iters, seconds, trained_here, history)
