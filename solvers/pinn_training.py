"""Training of PINN-PM (Algorithm 1) with checkpoints, resume and one training per key.

`train_pinn_pm(problem, cfg, seed, device, workdir)` returns the trained flow and score
networks. Both PINN-PM solver variants call it with the same arguments; the training is keyed by
(problem, seed, every config field that changes training) and stored under
`workdir/pinn_pm/<key>/`, so the second variant (or a resumed run) loads it instead of training
again. A file lock serialises two processes asking for the same key. Without a workdir the
result is memoised in-process only.

Each iteration draws its particles and collocation times from a generator seeded by
(seed, iteration), so a run resumed from a checkpoint follows the same path as one that was
never interrupted. Non-finite losses raise `PINNTrainingError` naming the iteration.
"""
from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from tqdm.auto import tqdm

from problems import Problem, make_generator

from .networks import seeded
from .pinn_loss import pinn_losses
from .pinn_networks import GROUPS, Arch, FlowMap, ScoreNet, group_for

#: config fields that do not change the trained networks (so not part of the training key)
NON_TRAINING_FIELDS = ("iters", "checkpoint_every", "log_every", "n_eval", "n_density", "dt", "progress_every")


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
    history: list[dict]  # {'iteration', 'phys', 'ism', 'loss', 'seconds'} every log_every iterations

    @property
    def seconds_per_iteration(self) -> float:
        return self.train_seconds / max(self.iterations, 1)


def architectures(cfg, problem: Problem) -> tuple[Arch, Arch]:
    """(flow arch, score arch): explicit cfg.flow_arch/score_arch, else cfg.group, else the paper's group."""
    group = cfg.group or group_for(problem.name, problem.dim)
    if group not in GROUPS:
        raise ValueError(f"unknown PINN-PM group {group!r}; valid groups: {', '.join(GROUPS)}")
    flow_arch, score_arch = GROUPS[group]
    return (Arch(*cfg.flow_arch) if cfg.flow_arch else flow_arch,
            Arch(*cfg.score_arch) if cfg.score_arch else score_arch)


def training_key(problem: Problem, cfg, seed: int) -> str:
    """Short hash of the problem, the seed and the training-relevant config fields."""
    fields = {k: v for k, v in dataclasses.asdict(cfg).items() if k not in NON_TRAINING_FIELDS}
    blob = json.dumps({"problem": repr(problem), "seed": seed, "cfg": fields}, sort_keys=True, default=str)
    return f"{problem.name}-seed{seed}-" + hashlib.sha256(blob.encode()).hexdigest()[:12]


def build_networks(problem: Problem, cfg, seed: int, device, dtype) -> tuple[FlowMap, ScoreNet]:
    """Flow and score networks with parameters drawn from seeds derived from `seed`."""
    flow_arch, score_arch = architectures(cfg, problem)
    horizon = max(problem.snapshot_times)
    flow = seeded(lambda: FlowMap(problem.dim, flow_arch, problem.t0, horizon), seed, device, dtype)
    score = seeded(lambda: ScoreNet(problem.dim, score_arch, problem.t0, horizon), seed + 1, device, dtype)
    return flow, score


@contextlib.contextmanager
def _locked(path: Path):
    """Exclusive advisory lock on `path` (POSIX flock; a no-op where fcntl is missing)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        import fcntl
    except ImportError:  # pragma: no cover
        yield
        return
    with open(path, "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _save(path: Path, state: dict) -> None:
    tmp = path.with_suffix(".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)


def _latest_checkpoint(directory: Path, iters: int) -> Path | None:
    """The finished checkpoint for `iters`, else the latest one with no more iterations."""
    final = directory / f"final_{iters}.pt"
    if final.exists():
        return final
    best, best_it = None, -1
    for p in directory.glob("*.pt"):
        it = int(p.stem.split("_")[-1])
        if best_it < it <= iters:
            best, best_it = p, it
    return best


_MEMO: dict[str, TrainedPINN] = {}


def train_pinn_pm(problem: Problem, cfg, seed: int, device: torch.device, workdir: str | os.PathLike | None = None,
                  progress: bool = False) -> TrainedPINN:
    """Train (or load) PINN-PM for (problem, cfg, seed): Adam on L_phys + lambda_score * L_ISM (eq. 2.12)."""
    key = training_key(problem, cfg, seed)
    memo = _MEMO.get(f"{key}/{cfg.iters}")
    if memo is not None:
        return dataclasses.replace(memo, trained_here=False)
    if workdir is None:
        result = _train(problem, cfg, seed, device, key, None, progress)
    else:
        directory = Path(workdir) / "pinn_pm" / key
        with _locked(directory.with_suffix(".lock")):
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
    ckpt = _latest_checkpoint(directory, cfg.iters) if directory is not None and directory.exists() else None
    if ckpt is not None:
        state = torch.load(ckpt, map_location=device, weights_only=False)
        flow.load_state_dict(state["flow"])
        score.load_state_dict(state["score"])
        opt.load_state_dict(state["optimizer"])
        start, seconds, history = state["iteration"], state["seconds"], state["history"]
    trained_here = start < cfg.iters
    horizon = max(problem.snapshot_times)
    fixed = problem.sample(cfg.n, seed + 90_000).to(device, dtype) if not cfg.resample else None
    span = horizon - problem.t0
    run_phys = torch.zeros((), device=device, dtype=dtype)
    run_ism = torch.zeros((), device=device, dtype=dtype)
    logged_from = start
    bar = tqdm(range(start, cfg.iters), desc=f"pinn_pm {problem.name}", disable=not progress, leave=False,
               mininterval=1.0, initial=start, total=cfg.iters)
    t_session = time.perf_counter()
    for it in bar:
        stream = seed * 2**32 + it
        v0 = fixed if fixed is not None else problem.sample(cfg.n, stream).to(device, dtype)
        times = problem.t0 + span * torch.rand(cfg.n_times, generator=make_generator(stream), dtype=torch.float64)
        losses = pinn_losses(flow, score, v0, times.to(device, dtype), problem.gamma, problem.C, cfg.ism_through_flow)
        loss = losses["phys"] + cfg.lambda_score * losses["ism"]
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        run_phys += losses["phys"].detach()
        run_ism += losses["ism"].detach()
        done = it + 1
        if done % cfg.log_every == 0 or done == cfg.iters:
            m = done - logged_from
            phys, ism = run_phys.item() / m, run_ism.item() / m  # the only host syncs
            if not (torch.isfinite(torch.tensor([phys, ism])).all()):
                raise PINNTrainingError(
                    f"PINN-PM training on {problem.name} became non-finite by iteration {done} "
                    f"(mean L_phys = {phys}, L_ISM = {ism} over the last {m}); lower lr (now {cfg.lr}) "
                    f"or check the problem's sampler")
            elapsed = seconds + time.perf_counter() - t_session
            history.append({"iteration": done, "phys": phys, "ism": ism, "loss": phys + cfg.lambda_score * ism,
                            "seconds": elapsed})
            bar.set_postfix(phys=f"{phys:.3g}", ism=f"{ism:.3g}")
            run_phys.zero_()
            run_ism.zero_()
            logged_from = done
            if directory is not None and (done % cfg.checkpoint_every == 0 or done == cfg.iters):
                directory.mkdir(parents=True, exist_ok=True)
                state = {"flow": flow.state_dict(), "score": score.state_dict(), "optimizer": opt.state_dict(),
                         "iteration": done, "seconds": elapsed, "history": history, "key": key}
                name = f"final_{done}.pt" if done == cfg.iters else f"latest_{done}.pt"
                _save(directory / name, state)
                for old in directory.glob("latest_*.pt"):
                    if old.name != name:
                        old.unlink()
    bar.close()
    if trained_here:
        seconds += time.perf_counter() - t_session
    flow.eval()
    score.eval()
    for p in params:
        p.requires_grad_(False)
    return TrainedPINN(flow, score, key, cfg.iters, seconds, trained_here, history)
