"""What a metric is, declared once: the registry every evaluator, table, figure and comparison reads.

A `MetricSpec` names the metric, how it is computed from one snapshot (`Snapshot`), what it needs
(`NEEDS`: exact solution, a reference, a score, Maxwell moments, ...), its floors, whether lower is
better, its plot scale and where the summary shows it. `register_metric(spec)` adds one; the order of
registration is the order of a cell's rows. `applicable(snapshot)` is the list of metrics that apply,
decided from declared capabilities only (no attribute sniffing).

Floors (`is_floor`) depend on the problem, t, n and seed only, never on a solver. A metric with a floor declares
its null law (`NullLaw`: its value for exact samples); R draws of it are the floor distribution
(`null_distribution`, cached on disk by metrics.floor_distribution) whose mean is the floor's value and whose spread
is the band the report tests against (issue 40). `cache_key` names the (name, n, seed) under which the harness
caches any other floor (the KDE's bias) on disk.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Literal, get_args, get_type_hints

import torch

from problems import Problem

from infra import seeds
from infra.files import check_name

from metrics.errors import rfd, trajectory_error
from metrics.floor_distribution import FLOOR_PAIRS, cached_values, distribution
from infra.rows import FloorDistribution
from metrics.invariants import energy_drift, entropy_dissipation, kinetic_energy, momentum_drift
from metrics.kde import kde_l2, kde_l2_bias_floor, kde_l2_null_draw
from metrics.moments import cov_err, moment4_err
from metrics.monotone import mean_and_se
from metrics.sliced import SLICED_PROJECTIONS, sliced_wasserstein
from metrics.regions import REFERENCE_SAMPLES, core_mass_error, hdr_mass_error, mass_within
from metrics.wasserstein import w1, w1_mc_floor, w1_subsampled

#: exact W1 up to this many points a side; above it, the mean over subsamples of this size (`w1_sub4000`)
W1_MAX_EXACT = 4_000
W1_SUB = f"w1_sub{W1_MAX_EXACT}"


@dataclass(frozen=True)
class Snapshot:
    """What a metric may read at one snapshot time t.

    x: (N, d) particles; score: (N, d) the solver's score at x or None; density_x: (M, d) the particles of
    density reconstruction (PINN-PM's pushed samples; else x); initial: (N, d) particles at t0; problem: the
    problem; judged: the problem to measure W1/KDE against (itself if exact, else its reference) or None;
    reference: the judged kind ('exact', 'sde', ...); exact_x: (N, d) the exact characteristics from
    `initial` at t (problems with an exact solution) or None; seed: the cell seed; det_j: (N,) det J of a flow
    map v -> Phi(v, t) at the initial particles (solvers with has_flow_map) or None; density: (N,) the density of
    the solver's particle law at x (a flow map's change of variables f0(V) / |det J(V)|) or None; own_score: `score`
is the score of the solver's own particle law (solvers.base.Trajectory.score_is_own), not a model of f_t's;
previous_density, previous_score: (N,) and (N, d), `density` and `score` of the same particles at the previous
snapshot time (None at the first), for the paired standard errors of a step (metrics.monotone).
    """

    t: float
    x: torch.Tensor
    score: torch.Tensor | None
    density_x: torch.Tensor
    initial: torch.Tensor
    problem: Problem
    judged: Problem | None
    reference: str
    exact_x: torch.Tensor | None
    seed: int
    det_j: torch.Tensor | None = None
    density: torch.Tensor | None = None
    own_score: bool = False
    previous_density: torch.Tensor | None = None
    previous_score: torch.Tensor | None = None


#: requirement name -> whether a snapshot meets it (declared capabilities only)
NEEDS: dict[str, Callable[[Snapshot], bool]] = {
    "score": lambda s: s.score is not None,
    "maxwell": lambda s: s.problem.gamma == 0 and s.problem.states_moments,  # the closure needs m0 and Sigma0
    "moment4": lambda s: s.problem.gamma == 0 and s.problem.states_moment4,
    "judged": lambda s: s.judged is not None,
    "exact": lambda s: s.problem.has_exact_solution and s.exact_x is not None,
    "w1_exact_size": lambda s: s.x.shape[0] <= W1_MAX_EXACT,
    "core_region": lambda s: s.problem.core_radius is not None,
    "w1_subsampled_size": lambda s: s.x.shape[0] > W1_MAX_EXACT,
    "flow_map": lambda s: s.det_j is not None,
    # a density at every particle, finite and positive (det J = 0 somewhere gives +inf: no entropy then)
    "pushforward_density": lambda s: s.density is not None and bool(torch.isfinite(s.density).all())
    and bool((s.density > 0).all()),
    "own_score": lambda s: s.own_score and s.score is not None,
    # where the Fisher information never increases (Guillen-Silvestre: d = 3, gamma in [-3, 1])
    "fisher_monotone": lambda s: s.problem.dim == 3 and -3 <= s.problem.gamma <= 1,
    # the same particles' density at the previous snapshot, finite and positive (a step's paired standard error)
    "previous_density": lambda s: s.previous_density is not None and s.density is not None
    and s.previous_density.shape == s.density.shape and bool(torch.isfinite(s.previous_density).all())
    and bool((s.previous_density > 0).all()),
    "previous_score": lambda s: s.previous_score is not None and s.score is not None
    and s.previous_score.shape == s.score.shape,
}


@dataclass(frozen=True)
class NullLaw:
    """How a metric with a floor is drawn for exact (reference) samples: draws(snapshot, R) -> R values of the
    metric for R independent exact samples of n(snapshot) particles (the cell's n, or what the metric measures at);
    pairs: R; cached: the draws depend only on the judged problem, t and n (not on the cell), so they are computed
    once and cached on disk (metrics.floor_distribution.cached_values); else they are drawn per cell (a closed-form
    law, cheap). The distribution's mean is the metric's first floor (`MetricSpec.floors[0]`)."""

    draws: Callable[["Snapshot", int], list]
    n: Callable[["Snapshot"], int]
    pairs: int = FLOOR_PAIRS
    cached: bool = True


Better = Literal["lower", "higher", ""]
Scale = Literal["log", "linear"]
Show = Literal["per_time", "last", "floor", "parquet", "diagnosis"]
ReferenceKind = Literal["judged", "exact", ""]
Absurd = Literal["floor", "relative", ""]
Role = Literal["accuracy", "regression"]
#: the values a metric can take (`MetricSpec.domain`); NaN (not measurable: a diverged cell) is in every domain and
#: +inf in 'non_negative' (a distance that overflowed), -inf in 'non_positive'; a stored value outside it was not
#: measured. Declared by every metric here and by the certificate rows' numbers (certificates.domains).
Domain = Literal["non_negative", "non_positive", "fraction", "real"]
#: domain -> (whether a float is in it, how it reads in a message)
DOMAINS = {
    "non_negative": (lambda v: v != v or v >= 0, ">= 0 (a distance, an error norm, a floor)"),
    "non_positive": (lambda v: v != v or v <= 0, "<= 0 (minus a mean square)"),
    "fraction": (lambda v: v != v or 0 <= v <= 1, "in [0, 1] (a fraction or a difference of masses)"),
    "real": (lambda v: True, "any number"),
}


@dataclass(frozen=True)
class MetricSpec:
    """One metric. compute(snapshot) -> float; needs: NEEDS names that must all hold; floors: the floor
    metrics shown beside it (the Monte Carlo floor first); better: 'lower' (|value|), 'higher' or ''
    (a quantity, not an error); scale: 'log' or 'linear' for figures; show: 'per_time' (a table per
    snapshot time), 'last' (the last-snapshot errors table), 'floor' (a row under its metric) or
    'parquet' (kept out of the markdown) or 'diagnosis' (the training-diagnostics table); reference: the row names what it was measured against ('judged'
    kind, 'exact', or '' for none); absurd: how a value no working solver produces is recognised
    ('floor': more than ABSURD_FACTOR times its first floor, 'relative': |value| above ABSURD_FACTOR);
    cache_key(snapshot) -> (name, n, seed) for a floor cached on disk; label: a floor's row label; plotted:
    drawn in the per-time figures; fold_sensitive: the value reads a density or a score of the solver's particle
    law, which a folded flow map (det J <= 0 somewhere) leaves undefined: the report shows it as 'folded' from the
    first snapshot where the cell's map folds (harness.report.folds); domain: the values the metric can take
    (`DOMAINS`: 'non_negative', 'non_positive', 'fraction' or 'real'), so that a stored value outside it (a W1 of -5) is refused
    as a damaged record instead of reported (`out_of_domain`)."""

    name: str
    what: str
    compute: Callable[[Snapshot], float] | None
    needs: tuple[str, ...] = ()
    floors: tuple[str, ...] = ()
    better: Better = "lower"
    scale: Scale = "linear"
    show: Show = "last"
    reference: ReferenceKind = ""
    absurd: Absurd = ""
    cache_key: Callable[[Snapshot], tuple] | None = None
    label: str = ""
    plotted: bool = False
    #: the family a metric belongs to in verdicts ('w1' for w1 and w1_sub4000)
    family: str = ""
    #: position among the columns of a table (ties: registration order)
    column: int = 100
    #: 'accuracy': an error against the truth (convergence and work-precision fits, regressions in `compare`);
    #: 'regression': watched by `compare` only (a drift whose rise is a regression)
    roles: tuple[Role, ...] = ()
    fold_sensitive: bool = False
    #: the metric's null law (its value for exact samples), whose draws make its floor a distribution (issue 40)
    null: NullLaw | None = None
    domain: Domain = "real"

    def out_of_domain(self, value: float) -> str | None:
        """Why `value` cannot be a value of this metric (one line naming the domain), or None when it can."""
        inside, what = DOMAINS[self.domain]
        return None if inside(float(value)) else f"{self.name} = {value!r} is not {what}"

    def __post_init__(self):
        """Every Literal-typed field holds one of its declared values (a typo would silently hide a metric)."""
        for name, allowed in _CHOICES.items():
            value = getattr(self, name)
            for v in (value if name == "roles" else (value,)):
                if v not in allowed:
                    raise ValueError(f"metric {self.name!r}: {name} = {v!r} is not one of "
                                     f"{', '.join(repr(a) for a in allowed)}")
        if self.absurd == "floor" and not self.floors:
            raise ValueError(f"metric {self.name!r}: absurd = 'floor' needs a floor in `floors`")
        if self.null is not None and not self.floors:
            raise ValueError(f"metric {self.name!r}: a null law needs a floor in `floors` (its mean is that floor)")
        if self.null is not None and self.null.pairs < FLOOR_PAIRS:
            raise ValueError(f"metric {self.name!r}: a null law needs at least {FLOOR_PAIRS} draws, got "
                             f"{self.null.pairs}")

    def applies(self, snapshot: Snapshot) -> bool:
        """True if the metric is computed per snapshot (compute is not None: others, such as the training
        diagnostics, are computed by their own module) and every requirement in `needs` holds at `snapshot`."""
        return self.compute is not None and all(NEEDS[n](snapshot) for n in self.needs)

    @property
    def is_floor(self) -> bool:
        return self.show == "floor"


#: the allowed values of each Literal-typed field of MetricSpec (read from the annotations, declared once)
_CHOICES = {name: get_args(get_args(hint)[0]) if name == "roles" else get_args(hint)
            for name, hint in get_type_hints(MetricSpec).items()
            if hint in (Better, Scale, Show, ReferenceKind, Absurd, Domain) or name == "roles"}

METRICS: dict[str, MetricSpec] = {}


def register_metric(spec: MetricSpec) -> MetricSpec:
    """Add `spec` to the registry (ValueError if the name is taken, is not a valid name (infra.files.check_name:
    it becomes part of figure file names) or a requirement is unknown)."""
    check_name("metric", spec.name)
    if spec.name in METRICS:
        raise ValueError(f"metric {spec.name!r} registered twice")
    unknown = [n for n in spec.needs if n not in NEEDS]
    if unknown:
        raise ValueError(f"metric {spec.name!r} needs {unknown[0]!r}; known requirements: {', '.join(NEEDS)}")
    METRICS[spec.name] = spec
    return spec


def get_metric(name: str) -> MetricSpec:
    """The registered spec of `name`; KeyError naming the registered ones otherwise."""
    try:
        return METRICS[name]
    except KeyError:
        raise KeyError(f"unknown metric {name!r}; registered: {', '.join(METRICS)}") from None


def applicable(snapshot: Snapshot) -> list[MetricSpec]:
    """The registered metrics that apply at `snapshot`, in registration order."""
    return [m for m in METRICS.values() if m.applies(snapshot)]


def with_show(show: str) -> list[str]:
    """Names of the metrics shown as `show` ('per_time', 'last', 'floor', 'parquet', 'diagnosis'), by column
    then registration order."""
    shown = [m for m in METRICS.values() if m.show == show]
    return [m.name for m in sorted(shown, key=lambda m: m.column)]


def with_role(role: str) -> list[str]:
    """Names of the metrics with `role` ('accuracy', 'regression'), in registration order."""
    return [m.name for m in METRICS.values() if role in m.roles]


def null_distribution(spec: MetricSpec, s: Snapshot) -> FloorDistribution:
    """The floor distribution of `spec` (a metric with a null law) at snapshot s: R draws of the metric for exact
    (reference) samples of spec.null.n(s) particles, cached on disk when the law depends on the problem, t and n
    only (metrics.floor_distribution); its mean is the metric's first floor."""
    law = spec.null
    n = int(law.n(s))
    if law.cached:
        values = cached_values(spec.name, s.judged, s.t, n, law.pairs, lambda: law.draws(s, law.pairs))
    else:
        values = law.draws(s, law.pairs)
    return distribution(spec.name, spec.floors[0], s.t, n, values, s.reference)


def floor_of_null(metric: str) -> Callable[[Snapshot], float]:
    """compute() of the floor of `metric`: the mean of its floor distribution (null_distribution)."""
    return lambda s: null_distribution(METRICS[metric], s).mean


def mc_floor(name: str) -> str | None:
    """The Monte Carlo floor metric of `name` (its first floor), or None."""
    spec = METRICS.get(name)
    return spec.floors[0] if spec is not None and spec.floors else None


class LiveView:
    """A read-only view of the registry, rebuilt at every use, so that a metric a plugin registers after the
    harness was imported shows up: `build()` returns the dict or tuple it stands for; iteration, len, `in`,
    [key], items() and get() are those of that value."""

    def __init__(self, build: Callable[[], dict | tuple]):
        self._build = build

    def __iter__(self):
        return iter(self._build())

    def __len__(self) -> int:
        return len(self._build())

    def __contains__(self, item) -> bool:
        return item in self._build()

    def __getitem__(self, key):
        return self._build()[key]

    def items(self):
        return self._build().items()

    def get(self, key, default=None):
        return self._build().get(key, default)

    def __repr__(self) -> str:
        return f"LiveView({self._build()!r})"


def _w1_reference(s: Snapshot, n: int) -> torch.Tensor:
    return s.judged.sample_at(s.t, n, seeds.W1_REFERENCE.seed(s.seed))


def _w1_sub(s: Snapshot) -> float:
    ref = _w1_reference(s, s.x.shape[0])
    return w1_subsampled(s.x, ref, m=W1_MAX_EXACT, repeats=3, seed=seeds.W1_SUBSAMPLE.seed(s.seed))[0]


def _core_reference(s: Snapshot) -> torch.Tensor:
    return s.judged.sample_at(s.t, REFERENCE_SAMPLES, seeds.CORE_MASS_REFERENCE.seed(s.seed))


def _core_center(s: Snapshot) -> torch.Tensor:
    return s.initial.mean(0)  # the mean is conserved


def _core_mass_err(s: Snapshot) -> float:
    return core_mass_error(s.x, _core_reference(s), _core_center(s), s.problem.core_radius)


#: the last snapshot whose _hdr_mass was computed and its value (the metric, its floor and its null law read it)
_HDR_LAST: list = [None, None]


def _hdr_mass(s: Snapshot) -> tuple[float, float]:
    """(error, reference mass) of the particles' mass in the reference's highest-density region (metrics.regions),
    against the region-mass reference sample (the core mass's: one stream for both region masses); computed once
    per snapshot object."""
    if _HDR_LAST[0] is not s:
        _HDR_LAST[:] = [s, hdr_mass_error(s.x, _core_reference(s), lambda v: s.judged.density(v, s.t))]
    return _HDR_LAST[1]


def _w1_null(s: Snapshot, pairs: int) -> list:
    """W1 between the two exact samples of pair r (the floor streams at index r), r < pairs, n = s.x's."""
    return [w1_mc_floor(s.judged, s.t, s.x.shape[0], r) for r in range(pairs)]


def _sliced(p: int) -> Callable[[Snapshot], float]:
    """Sliced W_p (metrics.sliced) to the W1 reference sample of the same n, directions seeded by the cell seed."""
    def metric(s: Snapshot) -> float:
        ref = _w1_reference(s, s.x.shape[0])
        return sliced_wasserstein(s.x, ref, p, seed=seeds.SLICED_PROJECTIONS.seed(s.seed))
    return metric


def _sliced_null(p: int) -> Callable[[Snapshot, int], list]:
    """Sliced W_p between the two exact samples of pair r (W1's floor streams at index r, n = s.x's) with the
    directions of cell seed r, r < pairs: the law of the metric for an exact solver, direction noise included."""
    def null(s: Snapshot, pairs: int) -> list:
        n, out = s.x.shape[0], []
        for r in range(pairs):
            a = s.judged.sample_at(s.t, n, seed=seeds.W1_FLOOR_A.seed(r))
            b = s.judged.sample_at(s.t, n, seed=seeds.W1_FLOOR_B.seed(r))
            out.append(sliced_wasserstein(a, b, p, seed=seeds.SLICED_PROJECTIONS.seed(r)))
        return out
    return null


def _w1_sub_null(s: Snapshot, pairs: int) -> list:
    """W1 between two exact samples of W1_MAX_EXACT points, r < pairs: a random subset of an i.i.d. sample is an
    i.i.d. sample, so each of the metric's subsample W1 has exactly this law; their mean over 3 overlapping subsets
    varies less, so this band is the wider (conservative) one."""
    return [w1_mc_floor(s.judged, s.t, W1_MAX_EXACT, r) for r in range(pairs)]


#: above this many density particles a KDE null draw is computed from this many exact samples, its deviation from
#: K_h * f scaled to n (metrics.kde.kde_l2_null_draw): PINN-PM's 10^5 density particles would cost 30 KDEs of 10^5
#: points (about 40 s in 2D, 170 s in 3D a snapshot on the loaded 2-core CPU) instead of 30 of 2,000 (1-2 s)
KDE_NULL_MAX_N = 2_000


def _kde_null(s: Snapshot, pairs: int) -> list:
    """KDE L2 of exact sample r of the density particles' n, r < pairs (from KDE_NULL_MAX_N samples above that)."""
    n = s.density_x.shape[0]
    return [kde_l2_null_draw(s.judged, s.t, n, min(n, KDE_NULL_MAX_N), r) for r in range(pairs)]


#: draws of a region mass's null law (binomial counts: cheap, so many)
REGION_NULL_PAIRS = 200


def _binomial_null(p: float, n: int, seed: int, pairs: int) -> list:
    """|B/n - B'/M| with B ~ Binomial(n, p) and B' ~ Binomial(M, p), M = REFERENCE_SAMPLES: the error of a region's
    mass for n exact samples against the reference sample's (p: the region's mass, estimated by the reference)."""
    import numpy as np
    rng = np.random.default_rng(seed)
    p = min(max(float(p), 0.0), 1.0)
    return list(np.abs(rng.binomial(n, p, pairs) / n - rng.binomial(REFERENCE_SAMPLES, p, pairs) / REFERENCE_SAMPLES))


def _core_null(s: Snapshot, pairs: int) -> list:
    p = mass_within(_core_reference(s), _core_center(s), s.problem.core_radius)
    return _binomial_null(p, s.x.shape[0], seeds.REGION_NULL.seed(s.seed), pairs)


def _hdr_null(s: Snapshot, pairs: int) -> list:
    return _binomial_null(_hdr_mass(s)[1], s.x.shape[0], seeds.REGION_NULL.seed(s.seed, 1), pairs)


def _particles_n(s: Snapshot) -> int:
    return int(s.x.shape[0])


def _min_det_j(s: Snapshot) -> float:
    return float(s.det_j.min())


def _fold_fraction(s: Snapshot) -> float:
    return float((s.det_j <= 0).to(torch.float64).mean())


def _entropy_pushforward(s: Snapshot) -> float:
    return float(-torch.log(s.density.to(torch.float64)).mean())


def _entropy_pushforward_se(s: Snapshot) -> float:
    """sd_i(-log f_t(x_i)) / sqrt(N): the Monte Carlo standard error of entropy_pushforward."""
    return mean_and_se(-torch.log(s.density.to(torch.float64)))[1]


def _fisher_values(s: Snapshot) -> torch.Tensor:
    """(N,) |s_i|^2, the squared norms of the solver's own score at its particles."""
    return (s.score.to(torch.float64) ** 2).sum(1)


def _entropy_step_se(s: Snapshot) -> float:
    """sd_i(-log f_t(x_i(t)) + log f_t'(x_i(t'))) / sqrt(N), t' the previous snapshot: the standard error of the
    step H_t - H_t' of entropy_pushforward over the same particles (paired)."""
    return mean_and_se(torch.log(s.previous_density.to(torch.float64)) - torch.log(s.density.to(torch.float64)))[1]


def _fisher_step_se(s: Snapshot) -> float:
    """sd_i(|s_i(t)|^2 - |s_i(t')|^2) / sqrt(N), t' the previous snapshot: the paired standard error of the step
    I_t - I_t' of fisher_information."""
    return mean_and_se(_fisher_values(s) - (s.previous_score.to(torch.float64) ** 2).sum(1))[1]


def _register_defaults() -> None:
    add = register_metric
    add(MetricSpec("kinetic_energy", "mean |v|^2 / 2", lambda s: kinetic_energy(s.x), better="", show="parquet",
                   plotted=True, domain="non_negative"))
    add(MetricSpec("energy_drift", "relative change of kinetic energy since t0", lambda s: energy_drift(s.x, s.initial),
                   plotted=True, absurd="relative", column=4, roles=("regression",)))
    add(MetricSpec("momentum_drift", "|mean v - mean v0|", lambda s: momentum_drift(s.x, s.initial), column=5,
                   domain="non_negative"))
    add(MetricSpec("entropy_dissipation", "the solver's entropy dissipation with its score",
                   lambda s: entropy_dissipation(s.x, s.score, s.problem.gamma, s.problem.C), needs=("score",),
                   better="", show="parquet", plotted=True, fold_sensitive=True))
    add(MetricSpec("cov_err", "relative error of the covariance against the closed moment system",
                   lambda s: cov_err(s.x, s.problem, s.t), needs=("maxwell",), scale="log", plotted=True,
                   absurd="relative", column=2, roles=("accuracy",), domain="non_negative"))
    add(MetricSpec("moment4_err", "relative error of E|v - m|^4 against the closed moment system",
                   lambda s: moment4_err(s.x, s.problem, s.t), needs=("moment4",), absurd="relative", column=3, roles=("accuracy",),
                   domain="non_negative"))
    add(MetricSpec("w1", "exact W1 (POT) to a sample of the same n of the exact or reference solution",
                   lambda s: w1(s.x, _w1_reference(s, s.x.shape[0])), needs=("judged", "w1_exact_size"),
                   floors=("w1_mc_floor",), scale="log", show="per_time", reference="judged", absurd="floor",
                   plotted=True, family="w1", roles=("accuracy",), null=NullLaw(_w1_null, _particles_n),
                   domain="non_negative"))
    add(MetricSpec("w1_mc_floor", f"mean W1 between two exact samples of the same n over {FLOOR_PAIRS} pairs",
                   floor_of_null("w1"), needs=("judged", "w1_exact_size"), show="floor", reference="judged",
                   label="MC floor", domain="non_negative"))
    add(MetricSpec(W1_SUB, f"mean W1 over 3 subsamples of {W1_MAX_EXACT} a side", _w1_sub,
                   needs=("judged", "w1_subsampled_size"), floors=(f"{W1_SUB}_mc_floor",), scale="log",
                   show="per_time", reference="judged", absurd="floor", family="w1", roles=("accuracy",),
                   null=NullLaw(_w1_sub_null, lambda s: W1_MAX_EXACT), domain="non_negative"))
    add(MetricSpec(f"{W1_SUB}_mc_floor", f"mean W1 between two exact samples of {W1_MAX_EXACT} over {FLOOR_PAIRS} "
                   f"pairs", floor_of_null(W1_SUB), needs=("judged", "w1_subsampled_size"), show="floor",
                   reference="judged", label="MC floor", domain="non_negative"))
    for p in (1, 2):
        add(MetricSpec(f"sliced_w{p}", f"sliced W{p} (POT, {SLICED_PROJECTIONS} seeded directions) to a sample of the "
                       "same n of the exact or reference solution; any n", _sliced(p), needs=("judged",),
                       floors=(f"sliced_w{p}_mc_floor",), scale="log", show="per_time", reference="judged",
                       absurd="floor", plotted=True, family=f"sliced_w{p}", roles=("accuracy",),
                       null=NullLaw(_sliced_null(p), _particles_n), domain="non_negative"))
        add(MetricSpec(f"sliced_w{p}_mc_floor", f"mean sliced W{p} between two exact samples of the same n over "
                       f"{FLOOR_PAIRS} pairs", floor_of_null(f"sliced_w{p}"), needs=("judged",), show="floor",
                       reference="judged", label="MC floor", domain="non_negative"))
    add(MetricSpec("core_mass_err", "|particles' - reference's mass in the ball |v - m| < core_radius|",
                   _core_mass_err, needs=("judged", "core_region"), floors=("core_mass_mc_floor",),
                   reference="judged", absurd="floor", plotted=True, roles=("accuracy",),
                   null=NullLaw(_core_null, _particles_n, REGION_NULL_PAIRS, cached=False), domain="fraction"))
    add(MetricSpec("core_mass_mc_floor", "mean |error| of that mass for exact samples of the same n (binomial law)",
                   floor_of_null("core_mass_err"), needs=("judged", "core_region"), show="floor", reference="judged",
                   label="MC floor", domain="fraction"))
    add(MetricSpec("hdr_mass_err", "|particles' - reference's mass in the reference's highest-density region "
                   "{f_t >= level} holding half its mass| (the modes, the bulk)", lambda s: _hdr_mass(s)[0],
                   needs=("judged",), floors=("hdr_mass_mc_floor",), reference="judged", absurd="floor",
                   show="parquet", null=NullLaw(_hdr_null, _particles_n, REGION_NULL_PAIRS, cached=False),
                   domain="fraction"))
    # no 'accuracy' role: a Monte Carlo count near its floor at one seed; compare and the convergence fits would
    # read its noise as a trend (a 2.6x 'regression' of sbp n=60 against n=100 at t = 2.5)
    add(MetricSpec("hdr_mass_mc_floor", "mean |error| of that mass for exact samples of the same n (binomial law)",
                   floor_of_null("hdr_mass_err"), needs=("judged",), show="floor", reference="judged",
                   label="MC floor", domain="fraction"))
    add(MetricSpec("kde_l2", "relative L2 error of the KDE of the density particles on the problem grid",
                   lambda s: kde_l2(s.density_x, s.judged, s.t), needs=("judged",),
                   floors=("kde_l2_mc_floor", "kde_l2_bias_floor"), scale="log", show="per_time", reference="judged",
                   absurd="floor", plotted=True, roles=("accuracy",), fold_sensitive=True,
                   null=NullLaw(_kde_null, lambda s: int(s.density_x.shape[0])), domain="non_negative"))
    add(MetricSpec("kde_l2_bias_floor", "KDE L2 error with infinitely many exact samples (the bandwidth's bias)",
                   lambda s: kde_l2_bias_floor(s.judged, s.t), needs=("judged",), show="floor", reference="judged",
                   cache_key=lambda s: ("kde_l2_bias_floor", None, None), label="bias floor (n = inf)",
                   domain="non_negative"))
    add(MetricSpec("kde_l2_mc_floor", f"mean KDE L2 error of exact samples of the same n over {FLOOR_PAIRS} draws",
                   floor_of_null("kde_l2"), needs=("judged",), show="floor", reference="judged", label="MC floor",
                   domain="non_negative"))
    add(MetricSpec("trajectory_error", "rms distance to the exact characteristics from the same initial particles",
                   lambda s: trajectory_error(s.x, s.exact_x), needs=("exact",), scale="log", reference="exact",
                   plotted=True, column=0, roles=("accuracy",), domain="non_negative"))
    add(MetricSpec("rfd", "relative Fisher divergence of the solver's score to the exact score",
                   lambda s: rfd(s.score, s.problem.score(s.x, s.t), s.x), needs=("exact", "score"), scale="log",
                   reference="exact", absurd="relative", plotted=True, column=1, roles=("accuracy",),
                   fold_sensitive=True, domain="non_negative"))
    add(MetricSpec("min_det_j", "min over the particles of det J of the flow map v -> Phi(v, t) (<= 0: it folds)",
                   _min_det_j, needs=("flow_map",), better="", show="parquet"))
    add(MetricSpec("fold_fraction", "fraction of the particles where det J of the flow map is <= 0",
                   _fold_fraction, needs=("flow_map",), better="", show="parquet", domain="fraction"))
    add(MetricSpec("entropy_pushforward", "-mean log f_t(x_i) at the particles, f_t(x_i) = f0(V_i) / |det J(V_i)| "
                   "(no KDE)", _entropy_pushforward, needs=("pushforward_density",), better="", show="parquet",
                   plotted=True, fold_sensitive=True))
    add(MetricSpec("entropy_pushforward_se", "Monte Carlo standard error of entropy_pushforward: sd_i(-log f_t(x_i)) "
                   "/ sqrt(N)", _entropy_pushforward_se, needs=("pushforward_density",), better="", show="parquet",
                   fold_sensitive=True, domain="non_negative"))
    add(MetricSpec("fisher_information", "(1/N) sum_i |s_i|^2 with s the score of the solver's own density (3D, "
                   "gamma in [-3, 1]: never increases)", lambda s: mean_and_se(_fisher_values(s))[0],
                   needs=("own_score", "fisher_monotone"), better="", show="parquet", plotted=True,
                   fold_sensitive=True, domain="non_negative"))
    add(MetricSpec("fisher_information_se", "Monte Carlo standard error of fisher_information: sd_i(|s_i|^2) / sqrt(N)",
                   lambda s: mean_and_se(_fisher_values(s))[1], needs=("own_score", "fisher_monotone"), better="",
                   show="parquet", fold_sensitive=True, domain="non_negative"))
    add(MetricSpec("entropy_pushforward_step_se", "standard error of the step of entropy_pushforward from the previous "
                   "snapshot, paired over the same particles", _entropy_step_se,
                   needs=("pushforward_density", "previous_density"), better="", show="parquet", fold_sensitive=True,
                   domain="non_negative"))
    add(MetricSpec("fisher_information_step_se", "standard error of the step of fisher_information from the previous "
                   "snapshot, paired over the same particles", _fisher_step_se,
                   needs=("own_score", "fisher_monotone", "previous_score"), better="", show="parquet",
                   fold_sensitive=True, domain="non_negative"))


_register_defaults()
