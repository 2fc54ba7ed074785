"""The `Problem` contract: the equation's data, exact samplers and exact references.

A problem knows nothing of solvers or metrics. Every constant is a dataclass field, so a user
overrides any of them with `get_problem(name, C=1.0)` (a `dataclasses.replace`).
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import ClassVar

import torch


def make_generator(seed: int) -> torch.Generator:
    """A CPU torch.Generator seeded with `seed`: the only source of randomness in samplers."""
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    g = torch.Generator(device="cpu")
    g.manual_seed(seed)
    return g


def uniform_directions(n: int, d: int, gen: torch.Generator) -> torch.Tensor:
    """n unit vectors uniform on the sphere S^{d-1} (normalised standard Gaussians), float64."""
    x = torch.randn(n, d, generator=gen, dtype=torch.float64)
    return x / x.norm(dim=1, keepdim=True)


class NoExactReference(NotImplementedError):
    """Raised when a quantity is asked of a problem that has no exact value for it."""


#: velocity dimensions the harness supports (the SDE reference's sizes, the KDE grids, the kernels' tests)
SUPPORTED_DIMS = (2, 3)


@dataclass(frozen=True)
class MollifiedStart:
    """A smooth stand-in f0_eps for a discontinuous f0 (its jump smeared over a width eps), for methods that carry
    the score along characteristics from t0 (a score with no singular part at the jump gives a zero drift there).
    log_density(v (..., d)) -> (...,) log f0_eps(v), normalised; score(v (..., d)) -> (..., d) grad log f0_eps;
    from_f0(v (N, d)) -> (N, d): a map T with T#f0 = f0_eps (so (v, T(v)) couples f0 with f0_eps: the coupling cost
    (E|v - T(v)|^2)^{1/2} >= W2(f0, f0_eps)), or None where the problem declares none."""

    eps: float
    log_density: object
    score: object
    from_f0: object = None


@dataclass(frozen=True)
class Problem:
    """Base class of the six problems (the README's problem table).

    Fields: `name`, `dim`, `gamma`, `C` (kernel A(z) = C |z|^gamma (|z|^2 I - z z^T)), `t0`,
    `snapshot_times` (the last one is the horizon T), `kde_bandwidth`, `paper_n` (SBP/Blob N of
    the paper's Table 1), `paper_n_pinn` (PINN-PM N, Appendix B.2), `grid_box` and
    `grid_points` (the evaluation grid of the KDE error: `grid_points` per axis on the box), `stiff_dt` and
    `pinn_group` (what solvers need to know of the problem: declared here, not in name tables of the solvers).
    """

    name: str
    dim: int
    gamma: float
    C: float
    t0: float
    snapshot_times: tuple[float, ...]
    kde_bandwidth: float
    paper_n: int
    grid_box: tuple[tuple[float, float], ...]
    grid_points: int
    paper_n_pinn: int = 1000
    #: the explicit-Euler step the smoke profile needs where its generic step is unstable (None: no limit);
    #: declarations of the problem, kept out of repr so that cache keys (repr(problem)) do not change
    stiff_dt: float | None = field(default=None, repr=False)
    #: the PINN-PM network group of paper Appendix B.2 ('A'-'D'; '' for the default: A in 2D, B in 3D)
    pinn_group: str = field(default="", repr=False)
    #: radius of the ball about the mean whose mass `core_mass_err` measures (None: not measured), declared where
    #: f0 leaves a region empty that the solution fills (truncated2d's hole)
    core_radius: float | None = field(default=None, repr=False)
    #: True when density, score, sample_at and mean_field_drift are exact for every t
    has_exact_solution: bool = field(default=False, init=False)
    #: declared capabilities, set once per class (`__init_subclass__`) from what the class states; read these,
    #: never hasattr: initial_mean and initial_covariance in closed form (the Maxwell moment system, SDE and grid
    #: references), and initial_central_moment4 too (the fourth-moment error)
    states_moments: ClassVar[bool] = False
    states_moment4: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        cls.states_moments = (cls.initial_mean is not Problem.initial_mean
                              and cls.initial_covariance is not Problem.initial_covariance)
        cls.states_moment4 = cls.states_moments and callable(getattr(cls, "initial_central_moment4", None))

    def __post_init__(self):
        if self.dim not in SUPPORTED_DIMS:
            raise ValueError(f"{self.name}: dim {self.dim!r} is not supported; valid dims: "
                             f"{', '.join(map(str, SUPPORTED_DIMS))} (the references, the KDE grid and the Maxwell "
                             f"closure are built for these)")
        if len(self.grid_box) != self.dim:
            raise ValueError(f"{self.name}: grid_box has {len(self.grid_box)} axes, dim is {self.dim}")
        if not self.snapshot_times or min(self.snapshot_times) < self.t0:
            raise ValueError(f"{self.name}: snapshot_times {self.snapshot_times} must be >= t0 = {self.t0}")
        if self.C <= 0:
            raise ValueError(f"{self.name}: C must be positive, got {self.C}")

    # ------------------------------------------------------------------ basic data
    @property
    def T(self) -> float:
        """Final time: the last snapshot time."""
        return float(max(self.snapshot_times))

    def replace(self, **overrides) -> "Problem":
        """A copy with some fields overridden (e.g. `C=1.0`)."""
        return dataclasses.replace(self, **overrides)

    def eval_grid(self, dtype=torch.float64) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """The tensor-product evaluation grid: (points (M, d) in 'ij' order, per-axis nodes)."""
        axes = [torch.linspace(lo, hi, self.grid_points, dtype=dtype) for lo, hi in self.grid_box]
        mesh = torch.meshgrid(*axes, indexing="ij")
        return torch.stack([m.reshape(-1) for m in mesh], dim=1), axes

    def grid_cell_volume(self) -> float:
        """Volume of one cell of the evaluation grid."""
        return math.prod((hi - lo) / (self.grid_points - 1) for lo, hi in self.grid_box)

    # ------------------------------------------------------------------ t0 data (all problems)
    def sample(self, n: int, seed: int) -> torch.Tensor:
        """Exact i.i.d. samples of f at t0: an (n, d) float64 tensor drawn from torch.Generator(seed)."""
        if not isinstance(n, int) or n <= 0:
            raise ValueError(f"n must be a positive int, got {n!r}")
        return self._sample0(n, make_generator(seed))

    def _sample0(self, n: int, gen: torch.Generator) -> torch.Tensor:
        raise NotImplementedError

    def initial_density(self, v: torch.Tensor) -> torch.Tensor:
        """f(v, t0), normalised, for v of shape (..., d)."""
        raise NotImplementedError

    def initial_score(self, v: torch.Tensor) -> torch.Tensor:
        """grad_v log f(v, t0) for v of shape (..., d)."""
        raise NotImplementedError

    def mollified_start(self, eps: float) -> MollifiedStart | None:
        """The problem's mollified f0 of width eps (`MollifiedStart`), or None where f0 is smooth (the default):
        then initial_density and initial_score are the start."""
        return None

    def initial_mean(self) -> torch.Tensor:
        """Exact mean of f at t0, (d,) float64."""
        raise NotImplementedError

    def initial_covariance(self) -> torch.Tensor:
        """Exact covariance of f at t0, (d, d) float64."""
        raise NotImplementedError

    # ------------------------------------------------------------------ exact solution (BKW)
    def density(self, v: torch.Tensor, t: float) -> torch.Tensor:
        """Exact f(v, t) (problems with `has_exact_solution`; at t = t0 every problem has it)."""
        if t == self.t0:
            return self.initial_density(v)
        raise NoExactReference(f"{self.name} has no exact density at t = {t} (only at t0 = {self.t0})")

    def score(self, v: torch.Tensor, t: float) -> torch.Tensor:
        """Exact score grad_v log f(v, t) (problems with `has_exact_solution`; all at t0)."""
        if t == self.t0:
            return self.initial_score(v)
        raise NoExactReference(f"{self.name} has no exact score at t = {t} (only at t0 = {self.t0})")

    def sample_at(self, t: float, n: int, seed: int) -> torch.Tensor:
        """Exact i.i.d. samples of f(., t) (problems with `has_exact_solution`; all at t0)."""
        if t == self.t0:
            return self.sample(n, seed)
        raise NoExactReference(f"{self.name} has no exact sampler at t = {t} (only at t0 = {self.t0})")

    def mean_field_drift(self, v: torch.Tensor, t: float) -> torch.Tensor:
        """Exact velocity U[f_t](v) of the characteristics (problems with `has_exact_solution`)."""
        raise NoExactReference(f"{self.name} has no exact mean-field drift")

    def describe(self) -> str:
        """One line: name, dimension, kernel, time window, reference."""
        ref = "exact solution" if self.has_exact_solution else "exact t0 data and invariants"
        return (f"{self.name}: d={self.dim}, gamma={self.gamma:g}, C={self.C:.6g}, "
                f"t in [{self.t0:g}, {self.T:g}], snapshots {list(self.snapshot_times)}, {ref}")
