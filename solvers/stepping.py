"""Explicit Euler time stepping to a list of snapshot times, shared by the time-stepping solvers.

Each interval [t_{k-1}, t_k] between snapshots is cut into ceil((t_k - t_{k-1}) / dt) equal
steps, so every snapshot is hit exactly and no step exceeds dt.
"""
from __future__ import annotations

import math
from typing import Callable

import torch
from tqdm.auto import tqdm


def step_schedule(t0: float, snapshot_times, dt: float) -> list[tuple[float, float, float | None]]:
    """List of (t, h, snapshot time reached by this step or None) from t0 through every snapshot."""
    if dt <= 0:
        raise ValueError(f"dt must be positive, got {dt}")
    steps, t = [], t0
    for tk in sorted(snapshot_times):
        if tk <= t + 1e-12:
            continue
        m = math.ceil((tk - t) / dt - 1e-9)
        h = (tk - t) / m
        for i in range(m):
            steps.append((t + i * h, h, tk if i == m - 1 else None))
        t = tk
    return steps


def euler_integrate(
    v0: torch.Tensor,
    t0: float,
    snapshot_times,
    dt: float,
    velocity: Callable[[torch.Tensor, float], torch.Tensor],
    on_snapshot: Callable[[float, torch.Tensor], None],
    progress: bool = False,
    desc: str = "stepping",
) -> tuple[torch.Tensor, int]:
    """v_{n+1} = v_n + h U(v_n, t_n); calls on_snapshot(t, v) at t0 (if a snapshot) and each snapshot.

    Raises FloatingPointError naming the time if the particles stop being finite.
    Returns the final particles and the number of steps.
    """
    v = v0
    if any(abs(t0 - tk) < 1e-12 for tk in snapshot_times):
        on_snapshot(t0, v)
    schedule = step_schedule(t0, snapshot_times, dt)
    for t, h, snap in tqdm(schedule, desc=desc, disable=not progress, leave=False, mininterval=1.0):
        v = v + h * velocity(v, t)
        if snap is not None:
            if not torch.isfinite(v).all():
                raise FloatingPointError(f"particles became non-finite by t = {snap:g}")
            on_snapshot(snap, v)
    return v, len(schedule)
