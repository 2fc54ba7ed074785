"""What a solver exposes so that its certificates can be evaluated: its path and its score model.

A probe follows the protocol-P1 particles x_i(t) of one run and answers, at any time of its
`grid()` (the dense grid on which the path is differentiable):

    positions(t) -> (N, d)   the particles x(t)
    velocity(t)  -> (N, d)   d/dt x(t)
    score(x, t)  -> (M, d)   the solver's score model at time t, at any points x

`FlowProbe` wraps a global-in-time flow map and score (PINN-PM); `PiecewiseLinearProbe` wraps a
time stepper: the path is the linear interpolant of its steps, its velocity on (t_k, t_k+1) is
(x_k+1 - x_k)/h_k, and the score model on [t_k, t_k+1) is the one it used at step k. Probes hold
only what the run already made (networks, step positions); they are not stored on disk.
"""
from __future__ import annotations

import bisect
from typing import Callable

import torch
from torch.func import jvp


#: a stepper keeps its path for a probe only while steps x N x d stays below this many numbers
PATH_BUDGET = 20_000_000


class PathRecorder:
    """Collects a stepper's (t_k, x_k) (float64, CPU) until PATH_BUDGET numbers; then gives up (ok = False)."""

    def __init__(self):
        self.times: list[float] = []
        self.xs: list[torch.Tensor] = []
        self.ok = True

    def add(self, t: float, x: torch.Tensor) -> None:
        if not self.ok:
            return
        if (len(self.xs) + 1) * x.numel() > PATH_BUDGET:
            self.ok, self.times, self.xs = False, [], []
            return
        self.times.append(float(t))
        self.xs.append(x.detach().to("cpu", torch.float64).clone())

    def probe(self, t_end: float, x_end: torch.Tensor, score_models: list[Callable]) -> "PiecewiseLinearProbe | None":
        """The piecewise-linear probe of the recorded path ending at (t_end, x_end), or None if given up."""
        if not self.ok or not self.xs:
            return None
        return PiecewiseLinearProbe(self.times + [float(t_end)], self.xs + [x_end.detach().to("cpu", torch.float64)],
                                    score_models)


class FlowProbe:
    """x(t) = Phi(V, t) with d/dt x(t) by forward-mode autodiff; score s(x, t)."""

    def __init__(self, flow: Callable, score: Callable, v0: torch.Tensor, t0: float, horizon: float,
                 intervals: int = 64):
        self.flow, self._score, self.v0 = flow, score, v0
        self.t0, self.horizon, self.intervals = float(t0), float(horizon), intervals

    def grid(self) -> list[float]:
        h = (self.horizon - self.t0) / self.intervals
        return [self.t0 + k * h for k in range(self.intervals + 1)]

    def _t(self, t: float) -> torch.Tensor:
        return torch.full((1,), float(t), dtype=self.v0.dtype, device=self.v0.device)

    def positions(self, t: float) -> torch.Tensor:
        with torch.no_grad():
            return self.flow(self.v0, self._t(t))

    def velocity(self, t: float) -> torch.Tensor:
        tt = self._t(t)
        with torch.no_grad():
            return jvp(lambda s: self.flow(self.v0, s), (tt,), (torch.ones_like(tt),))[1]

    def score(self, x: torch.Tensor, t: float) -> torch.Tensor:
        return self._score(x.to(self.v0), self._t(t))


class PiecewiseLinearProbe:
    """The linear interpolant of a stepper's positions at step times t_0 < ... < t_K, with the score
    model of step k on [t_k, t_k+1). `score_models[k](x, t)` evaluates it (None entries: a path without a score
    model, blob's `Trajectory.step_path`; score() then raises). Grid: step midpoints
    (at most `max_points`, evenly subsampled) plus the end points."""

    def __init__(self, step_times: list[float], step_positions: list[torch.Tensor], score_models: list[Callable],
                 max_points: int = 64):
        if not (len(step_times) == len(step_positions) == len(score_models) + 1):
            raise ValueError("need K + 1 step times and positions and K score models")
        self.times, self.xs, self.models, self.max_points = list(step_times), step_positions, score_models, max_points

    def grid(self) -> list[float]:
        k = len(self.models)
        stride = max(1, -(-k // self.max_points))
        mids = [(self.times[i] + self.times[i + 1]) / 2 for i in range(0, k, stride)]
        return sorted({self.times[0], *mids, self.times[-1]})

    def _interval(self, t: float) -> int:
        return min(max(bisect.bisect_right(self.times, t + 1e-12) - 1, 0), len(self.models) - 1)

    def positions(self, t: float) -> torch.Tensor:
        k = self._interval(t)
        w = (t - self.times[k]) / (self.times[k + 1] - self.times[k])
        return (1 - w) * self.xs[k] + w * self.xs[k + 1]

    def velocity(self, t: float) -> torch.Tensor:
        k = self._interval(t)
        return (self.xs[k + 1] - self.xs[k]) / (self.times[k + 1] - self.times[k])

    def score(self, x: torch.Tensor, t: float) -> torch.Tensor:
        model = self.models[self._interval(t)]
        if model is None:
            raise ValueError(f"this path has no score model at t = {t:g} (a path recorded without one)")
        return model(x, t)
