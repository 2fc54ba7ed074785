"""Reference solutions where no exact one exists: the contract, the on-disk cache and the registry.

A reference gives a problem what an exact solution gives, at every snapshot time: a density
f_ref(v, t) defined everywhere (`problems.references.grid_density.GridDensity`: values on a grid, multilinear
interpolation; `problems.references.radial.RadialDensity`: a profile in r = |v|), i.i.d. samples
`sample_at(t, n, seed)` and, for grid and radial references, a score (`Reference.has_score`). `with_reference(problem, ref)` wraps a problem so that
its `density` and `sample_at` come from the reference: every metric (W1 and its floor, KDE L2
and its floors) then runs through the same code as on an exact problem.

Kinds (`Reference.kind`, recorded beside every number measured against it):
* `sde`    Maxwell problems (gamma = 0): paths of the linear SDE of the Maxwell closure
           (problems.references.sde);
* `radial` isotropic problems: a conservative 1D solver in r = |v| (problems.references.radial);
* `grid`   2D non-Maxwell problems: a conservative finite-volume solver of the Landau equation on a
           grid (problems.references.grid);
* `exact`  the problem's own solution (BKW), not a Reference object.

References are computed once per (problem, method, resolution) and cached as .npz files under
`cache_dir()`: $LANDAU_REFERENCE_CACHE, else ~/.cache/landau-bench/references. The cache key
hashes the problem's full repr (every constant) and the resolution, so a changed constant never
reads a stale file; a damaged file is recomputed. A lock file serialises two processes building
the same reference. A read-only cache serves the references it holds; one it lacks is computed and
kept in memory only (one warning line), as is one that a full disk kept from being written.
"""
from __future__ import annotations

import contextlib
import contextvars
import hashlib
import json
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from problems.cases.base import NoExactReference, Problem, make_generator
from infra.files import exclusive_lock, open_regular, replacing, set_aside_file
from problems.references.grid_density import GridDensity

#: resolutions: 'coarse' (the smoke profile, CI) and 'fine' (quick and paper)
RESOLUTIONS = ("coarse", "fine")


def cache_dir() -> Path:
    """Where references are cached: $LANDAU_REFERENCE_CACHE or ~/.cache/landau-bench/references, resolved (a
    symbolic link the user put above it is followed here, once; none below it is, `infra.files`)."""
    env = os.environ.get("LANDAU_REFERENCE_CACHE")
    return (Path(env) if env else Path.home() / ".cache" / "landau-bench" / "references").resolve()


@dataclass
class Reference:
    """A reference solution at `times`: a density per time (GridDensity) and, where the method
    produces them, a pool of i.i.d. samples per time (else samples are drawn from the density).

    `accuracy` holds numbers the builder measured about itself (self-convergence, conservation).
    """

    kind: str
    problem_name: str
    times: tuple[float, ...]
    densities: dict[float, GridDensity]
    samples: dict[float, torch.Tensor] | None = None
    sampler: Callable[[float, int, torch.Generator], torch.Tensor] | None = None
    accuracy: dict | None = None
    #: True when the densities are a smooth solution of the equation whose log-gradient is a score
    #: (grid and radial references); False for the SDE reference, whose density is a smoothed histogram
    has_score: bool = False

    def fingerprint(self) -> str:
        """sha256 (hex, 16 chars) of what the reference says: kind, times, density values and sample pools.
        Numbers derived from the reference (floors) are cached under it, so a rebuilt or changed reference
        never reads a stale number."""
        if getattr(self, "_fingerprint", None) is None:
            h = hashlib.sha256(json.dumps([self.kind, self.problem_name, list(self.times)]).encode())
            for t in self.times:
                _hash_arrays(h, self.densities[t])
                if self.samples is not None:
                    h.update(self.samples[t].contiguous().numpy().tobytes())
            self._fingerprint = h.hexdigest()[:16]
        return self._fingerprint

    def _time(self, t: float) -> float:
        for s in self.times:
            if abs(s - t) < 1e-9:
                return s
        raise NoExactReference(f"{self.problem_name}: the {self.kind} reference has times {list(self.times)}, not {t}")

    def density(self, v: torch.Tensor, t: float) -> torch.Tensor:
        """f_ref(v, t) for v of shape (..., d)."""
        return self.densities[self._time(t)](v)

    def score(self, v: torch.Tensor, t: float) -> torch.Tensor:
        """grad log f_ref(v, t) for v (..., d) -> (..., d) where `has_score` (else NoExactReference)."""
        if not self.has_score:
            raise NoExactReference(f"{self.problem_name}: the {self.kind} reference has no score "
                                   f"(its density is a smoothed histogram); grid and radial references have one")
        return self.densities[self._time(t)].score(v)

    def sample_at(self, t: float, n: int, seed: int) -> torch.Tensor:
        """n i.i.d. samples of f_ref(., t): a seeded draw without replacement from the sample pool
        (pool sizes are >= 1e5, far above the n any metric asks for), or from the density's sampler."""
        s = self._time(t)
        gen = make_generator(seed)
        if self.samples is not None:
            pool = self.samples[s]
            if n > pool.shape[0]:
                raise ValueError(f"{self.problem_name}: {n} reference samples asked, the pool has {pool.shape[0]}")
            return pool[torch.randperm(pool.shape[0], generator=gen)[:n]].to(torch.float64)
        return self.sampler(s, n, gen)


def _hash_arrays(h, density) -> None:
    """Feed every tensor or array a density object holds (GridDensity's values and axes, RadialDensity's
    r and f, ...) and its scalar attributes into the hash `h`, in attribute order."""
    fields = vars(density) if hasattr(density, "__dict__") else {}
    for name, value in sorted(fields.items()):
        if isinstance(value, (tuple, list)):
            for item in value:
                _hash_arrays(h, _Holder(item))
            continue
        if isinstance(value, torch.Tensor):
            value = value.detach().cpu().contiguous().numpy()
        if isinstance(value, np.ndarray):
            h.update(name.encode() + np.ascontiguousarray(value).tobytes())
        elif isinstance(value, (int, float, str)):
            h.update(f"{name}={value!r}".encode())


class _Holder:
    def __init__(self, item):
        self.item = item


class ReferencedProblem:
    """A view of `problem` whose density and sample_at at t > t0 are the reference's (everything else
    is the problem's). Hashable, so per-(problem, t) caches of floors keep working."""

    def __init__(self, problem: Problem, reference: Reference):
        self._problem, self.reference = problem, reference

    def __getattr__(self, name):
        return getattr(self._problem, name)

    def __hash__(self):
        return hash((self._problem, self.reference.kind, id(self.reference)))

    def __eq__(self, other):
        return (isinstance(other, ReferencedProblem) and other._problem == self._problem
                and other.reference is self.reference)

    def __repr__(self):
        return f"ReferencedProblem({self._problem!r}, {self.reference.kind}, {self.reference.fingerprint()})"

    def density(self, v, t):
        return self._problem.initial_density(v) if t == self._problem.t0 else self.reference.density(v, t)

    def sample_at(self, t, n, seed):
        return self._problem.sample(n, seed) if t == self._problem.t0 else self.reference.sample_at(t, n, seed)

    def score(self, v, t):
        return self._problem.initial_score(v) if t == self._problem.t0 else self.reference.score(v, t)


def true_score(problem, t: float):
    """The exact (or reference) score v -> grad log f(v, t) of `problem` (a Problem or a ReferencedProblem) at t,
    or None where neither exists (an SDE reference, no reference)."""
    if getattr(problem, "has_exact_solution", False) or t == problem.t0:
        return lambda v: problem.score(v, t)
    ref = getattr(problem, "reference", None)
    if ref is not None and ref.has_score:
        return lambda v: ref.score(v, t)
    return None


def with_reference(problem: Problem, reference: Reference) -> ReferencedProblem:
    """The problem as seen through its reference (see ReferencedProblem)."""
    return ReferencedProblem(problem, reference)


# --------------------------------------------------------------------------- registry
_BUILDERS: list[tuple[str, Callable[[Problem], bool], Callable[[Problem, str, bool], Reference]]] = []


#: kind -> `cache_params(problem, resolution) -> dict`: the builder's cache key, the one place it is written
_CACHE_PARAMS: dict[str, Callable[[Problem, str], dict]] = {}


def register_reference(kind: str, applies: Callable[[Problem], bool],
                       cache_params: Callable[[Problem, str], dict] | None = None):
    """Decorator: `builder(problem, resolution, progress) -> Reference` for problems where applies(problem).
    `cache_params(problem, resolution)` gives the parameters the builder's cache file is keyed on
    (`reference_cache_path`); a builder registered without it is never taken as cached by the planner."""
    def deco(builder):
        _BUILDERS.append((kind, applies, builder))
        if cache_params is not None:
            _CACHE_PARAMS[kind] = cache_params
        return builder
    return deco


def reference_kind(problem: Problem) -> str | None:
    """'exact' for a problem with an exact solution, else the kind of the first applicable builder, or None."""
    if problem.has_exact_solution:
        return "exact"
    for kind, applies, _ in _BUILDERS:
        if applies(problem):
            return kind
    return None


_MEMORY: dict = {}


def reference_for(problem: Problem, resolution: str = "fine", progress: bool = False,
                  kind: str | None = None) -> Reference | None:
    """The reference of a problem without an exact solution (cached in memory and on disk), or None
    if no method applies. `kind` forces a method (e.g. 'sde' on BKW, to verify it)."""
    if resolution not in RESOLUTIONS:
        raise ValueError(f"unknown reference resolution {resolution!r}; valid: {', '.join(RESOLUTIONS)}")
    for k, applies, builder in _BUILDERS:
        if (kind is None and applies(problem) and not problem.has_exact_solution) or k == kind:
            key = (repr(problem), k, resolution)
            if key not in _MEMORY:
                if len(_MEMORY) >= 8:
                    _MEMORY.pop(next(iter(_MEMORY)))
                _MEMORY[key] = builder(problem, resolution, progress)
            return _MEMORY[key]
    return None


# --------------------------------------------------------------------------- disk cache
def cache_path(problem: Problem, kind: str, resolution: str, params: dict) -> Path:
    """The cache file of (problem with all its constants, method, resolution and its parameters)."""
    blob = json.dumps({"problem": repr(problem), "kind": kind, "resolution": resolution, "params": params},
                      sort_keys=True, default=str)
    return cache_dir() / f"{problem.name}-{kind}-{resolution}-{hashlib.sha256(blob.encode()).hexdigest()[:16]}.npz"


def reference_cache_path(problem: Problem, resolution: str, kind: str | None = None) -> Path | None:
    """The one cache file of `problem`'s reference of `kind` (default: its own kind) at `resolution`: what the builder
    reads and writes, what the planner and `harness references` look for. None for a problem with an exact
    solution or no method, or a builder registered without `cache_params`. A file of the same problem, kind and
    resolution under another key (older builder parameters, other constants) is not this file."""
    kind = kind or reference_kind(problem)
    if kind in (None, "exact") or kind not in _CACHE_PARAMS:
        return None
    return cache_path(problem, kind, resolution, _CACHE_PARAMS[kind](problem, resolution))


def is_cached(problem: Problem, resolution: str, kind: str | None = None) -> bool:
    """Whether `reference_cache_path` names a regular file (nothing is loaded or opened: a damaged one is
    found, set aside and rebuilt when it is read)."""
    import stat as _stat
    path = reference_cache_path(problem, resolution, kind)
    try:
        return path is not None and _stat.S_ISREG(os.stat(path).st_mode)
    except OSError:
        return False


class _Unfit(ValueError):
    """A cache file that loads but does not hold what its builder stores."""


def _load_cached(path: Path, keys, shapes: dict | None = None) -> dict[str, np.ndarray] | None:
    """The arrays of the cache file `path`, None if there is none; _Unfit (or the loader's error) if it is
    damaged: unreadable, lacking one of `keys`, of another shape than `shapes` gives ({key: shape}, None for a size
    that may be any), or holding a non-finite number."""
    if not os.path.lexists(path):
        return None
    with open_regular(path) as fh, np.load(fh, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    missing = [k for k in keys if k not in arrays]
    if missing:
        raise _Unfit(f"it lacks {', '.join(missing)}")
    for key, shape in (shapes or {}).items():
        got = arrays[key].shape if key in arrays else None
        if got is None or len(got) != len(shape) or any(s is not None and s != g for s, g in zip(shape, got)):
            want = "(" + ", ".join("any" if s is None else str(s) for s in shape) + ")"
            raise _Unfit(f"{key} has shape {got}, not {want} (another problem's or resolution's arrays)")
    bad = [k for k, a in arrays.items() if a.dtype.kind == "f" and not np.isfinite(a).all()]
    if bad:
        raise _Unfit(f"{bad[0]} holds non-finite numbers")
    return arrays


def _why(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {getattr(exc, 'strerror', None) or exc}"


def cached_arrays(path: Path, compute: Callable[[], dict[str, np.ndarray]], keys=(),
                  shapes: dict | None = None) -> dict[str, np.ndarray]:
    """The arrays stored at `path`, computing and storing them (atomically, mode 0666 less the umask) first if
    absent or damaged. A file that loads but lacks one of `keys`, holds an array of another shape than `shapes`
    declares ({key: shape tuple}, None for any size: every builder declares its arrays' shapes, so no foreign array
    is accepted) or holds a non-finite number is damaged too: it is set aside as <name>.corrupt (named in a warning)
    and the arrays are recomputed.

    A cached file is read without taking the lock or creating anything (files are replaced atomically), so a
    read-only cache serves what it holds. Where the lock cannot be taken (a read-only cache, a lock file that
    is a symbolic link) or the computed arrays cannot be written (a full disk), they are still returned, with
    one warning line; no temporary file is left behind. Inside `cached_judged` (a lookup) nothing is computed,
    locked or set aside: a file that is absent or damaged raises _NotCached."""
    with contextlib.suppress(Exception):  # damaged: looked at again under the lock, where it may be set aside
        arrays = _load_cached(path, keys, shapes)
        if arrays is not None:
            return arrays
    if _LOOKUP_ONLY.get():
        raise _NotCached(path)
    with contextlib.ExitStack() as held:
        try:
            held.enter_context(exclusive_lock(path.with_suffix(".lock")))
        except OSError as exc:
            warnings.warn(f"reference cache {str(path.parent)!r} is not usable ({_why(exc)}); computing "
                          f"{path.name} in memory, it is not kept")
            return compute()
        try:
            arrays = _load_cached(path, keys, shapes)
            if arrays is not None:
                return arrays
        except Exception as exc:  # damaged cache file: set aside, recompute
            why = str(exc) if isinstance(exc, _Unfit) else type(exc).__name__
            try:
                kept = set_aside_file(path).name
            except OSError:
                kept = "nowhere (the cache is not writable)"
            warnings.warn(f"reference cache {path} is damaged ({why}); set aside as {kept}, recomputing")
        arrays = compute()
        try:
            with replacing(path, suffix=".npz") as tmp:
                np.savez(tmp, **arrays)
        except OSError as exc:
            warnings.warn(f"reference cache {path} could not be written ({_why(exc)}); the reference is used, "
                          f"not kept")
        return arrays


# --------------------------------------------------------------------------- read-only lookup
class _NotCached(LookupError):
    """Raised by `cached_arrays` inside `cached_judged`: the reference is not in the cache."""


#: True while `cached_judged` looks a reference up: `cached_arrays` then reads and never builds or writes
_LOOKUP_ONLY = contextvars.ContextVar("reference_lookup_only", default=False)


def cached_judged(problem: Problem, resolution: str = "fine"):
    """(judged problem, kind) of `problem` if it needs nothing built: (problem, 'exact') for a problem with an
    exact solution; (with_reference(problem, ref), ref.kind) if its reference at `resolution` is in this
    process's memory or in the reference cache (`cache_dir()`); else None (no method applies, or the reference
    is not built, or its cache file is damaged). Unlike `reference_for` it never computes a reference, takes
    no lock and writes nothing: a report draws what exists."""
    kind = reference_kind(problem)
    if kind == "exact":
        return problem, "exact"
    if kind is None:
        return None
    token = _LOOKUP_ONLY.set(True)
    try:
        ref = reference_for(problem, resolution)
    except _NotCached:
        return None
    finally:
        _LOOKUP_ONLY.reset(token)
    return None if ref is None else (with_reference(problem, ref), ref.kind)
