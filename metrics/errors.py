"""Score and trajectory errors of paper section 5.1."""
from __future__ import annotations

from typing import Callable, Union

import torch

ScoreLike = Union[torch.Tensor, Callable[[torch.Tensor], torch.Tensor]]


def _values(score: ScoreLike, points: torch.Tensor) -> torch.Tensor:
    return score(points) if callable(score) else score


def rfd(score: ScoreLike, exact_score: ScoreLike, points: torch.Tensor) -> float:
    """Relative Fisher divergence sum_i |s_hat(v_i) - s(v_i)|^2 / sum_i |s(v_i)|^2 (paper 5.1).

    `score` and `exact_score` are callables on points (N, d) or their values at `points`.
    """
    s_hat = _values(score, points).to(torch.float64)
    s = _values(exact_score, points).to(torch.float64)
    return float(((s_hat - s) ** 2).sum() / (s**2).sum())


def trajectory_error(v_hat: torch.Tensor, v_ref: torch.Tensor) -> float:
    """Relative trajectory error sum_i |v_hat_i - v_i|^2 / sum_i |v_i|^2 (paper 5.1, protocol P1)."""
    if v_hat.shape != v_ref.shape:
        raise ValueError(f"trajectories must share a shape (same initial set), got {tuple(v_hat.shape)} "
                         f"and {tuple(v_ref.shape)}")
    v_hat, v_ref = v_hat.to(torch.float64), v_ref.to(torch.float64)
    return float(((v_hat - v_ref) ** 2).sum() / (v_ref**2).sum())


def mean_squared_distance(v_hat: torch.Tensor, v_ref: torch.Tensor) -> float:
    """E(t) = (1/N) sum_i |v_hat_i - v_i|^2: the trajectory error of Theorems 1-2 (absolute)."""
    return float(((v_hat.to(torch.float64) - v_ref.to(torch.float64)) ** 2).sum(1).mean())
