"""The contract of a solver's config: a frozen dataclass, its declared choices and positive fields, and the
size of the work it asks for (`ConfigSize`), read by the harness's size checks instead of field names.

A config may declare (class attributes, all optional):
  CHOICES: {field: (allowed values, ...)} for str fields (checked when a --set value is parsed);
  POSITIVE: fields that must stay > 0 besides those whose default is positive;
and may override `size()` when its fields are not the conventional ones below.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import ClassVar


@dataclass(frozen=True)
class ConfigSize:
    """What a config asks of a machine, for the size checks made before a run (harness/plan/limits.py).

    particles: N, the largest particle set alive at once (solve or evaluation); density_samples: samples drawn
    per snapshot to reconstruct a density (0: none); step: (field, value) of the time step that bounds the number
    of steps from below (a fixed dt, or dt_max for adaptive steps), or None for a solver without steps;
    fixed_optimizer_steps: optimizer steps independent of the time steps (training iters, an initial fit);
    optimizer_steps_per_step: optimizer steps taken at every time step; training_points: points pushed through
    the networks at once per training iteration (PINN-PM: n particles x n_times collocation times); adaptive_tol:
    the local tolerance of adaptive steps (0: none): a step is taken as about sqrt(tol) long where that is shorter
    than `step` (Euler's local error is O(h^2) in units of the distribution's width, solvers/stepping.py, with
    a drift that changes at a rate of order one), so a tolerance far below float64's reach counts its steps.
    """

    particles: int = 0
    density_samples: int = 0
    step: tuple[str, float] | None = None
    fixed_optimizer_steps: int = 0
    optimizer_steps_per_step: int = 0
    training_points: int = 0
    adaptive_tol: float = 0.0

    def step_length(self) -> float:
        """The step length the counts use: `step`'s value, or sqrt(adaptive_tol) where that is shorter (0 without a
        step)."""
        if self.step is None or not self.step[1] > 0:
            return 0.0
        return min(self.step[1], math.sqrt(self.adaptive_tol)) if self.adaptive_tol > 0 else self.step[1]

    def time_steps(self, horizon: float) -> int:
        """The fewest steps over `horizon` (ceil(horizon / step_length())); 0 without a positive step."""
        h = self.step_length()
        return math.ceil(min(horizon / h, 1e300)) if h > 0 else 0  # a subnormal step: a count, never inf

    def optimizer_steps(self, horizon: float) -> int:
        """fixed_optimizer_steps + optimizer_steps_per_step x time_steps(horizon)."""
        return self.fixed_optimizer_steps + self.optimizer_steps_per_step * self.time_steps(horizon)


class SizeDeclarationError(ValueError):
    """A config field that the size declaration reads holds something that is not a count or a step."""


def _count(cfg, name: str) -> int:
    value = getattr(cfg, name, None)
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int):
        raise SizeDeclarationError(f"config field {name} = {value!r} is not an int; a count is a whole number "
                                   f"such as 1000")
    return value


def conventional_size(cfg) -> ConfigSize:
    """The ConfigSize of a config with the conventional fields: n / n_eval (particles), n_density, dt (fixed
    steps) or dt_max (adaptive steps, dt None, with their tol), iters + init_iters (fixed optimizer steps),
    iters_per_step, n x n_times (training points)."""
    step, tol = None, 0.0
    for name in ("dt", "dt_max"):
        value = getattr(cfg, name, None)
        if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0:
            step = (name, float(value))
            break
    if step is not None and step[0] == "dt_max":
        value = getattr(cfg, "tol", None)
        tol = float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0 else 0.0
    n_times = _count(cfg, "n_times")
    return ConfigSize(particles=max(_count(cfg, "n"), _count(cfg, "n_eval")),
                      density_samples=_count(cfg, "n_density"), step=step,
                      fixed_optimizer_steps=_count(cfg, "iters") + _count(cfg, "init_iters"),
                      optimizer_steps_per_step=_count(cfg, "iters_per_step"),
                      training_points=_count(cfg, "n") * n_times, adaptive_tol=tol)


def config_size(cfg) -> ConfigSize:
    """The size a config declares: its own `size()` if it has one, else `conventional_size(cfg)`."""
    declared = getattr(type(cfg), "size", None)
    return declared(cfg) if callable(declared) else conventional_size(cfg)


@dataclass(frozen=True)
class NoConfig:
    """The config of a solver that has no settings."""

    CHOICES: ClassVar[dict] = {}
    POSITIVE: ClassVar[tuple] = ()


def check_config_class(solver_name: str, config_cls) -> None:
    """TypeError unless `config_cls` is a frozen dataclass (what the harness builds, overrides with
    dataclasses.replace, records with dataclasses.asdict and compares across runs)."""
    if not (isinstance(config_cls, type) and dataclasses.is_dataclass(config_cls)):
        raise TypeError(f"solver {solver_name!r}: Config = {config_cls!r} is not a dataclass; declare it as "
                        f"@dataclass(frozen=True)")
    if not config_cls.__dataclass_params__.frozen:
        raise TypeError(f"solver {solver_name!r}: Config {config_cls.__name__} is not frozen; declare it as "
                        f"@dataclass(frozen=True)")
