"""Floors as distributions (issue 40): a metric's value for R independent exact (or reference) samples of the cell's
n, computed once per (judged problem, t, n, R) and cached on disk beside the references.

A solver with no error still reads a positive W1, KDE L2 or region-mass error: the sampling error of the
measurement. One such draw (the old `w1_mc_floor`) varies by 3-9% (W1, bkw3d / bkw2d at N = 1,000) from draw to
draw, so a ratio to it carries that noise. Here each metric with a floor declares `null_draws` (metrics.specs): R
draws of its value for exact samples. Their mean is the floor (the denominator of every '/floor' ratio, with its
standard error) and their spread is the null band the report tests against (harness.report.evidence).

Cost (measured 2026-12-07 on the loaded 2-core CPU, one thread, so upper bounds): one exact W1 at N = 1,000 takes
0.7-0.8 s there (R = 30: about 20 s a snapshot), a KDE draw 0.03 s (2D) to 0.06 s (3D) at N = 1,000, and 0.02-0.17 s
from 2,000 samples scaled (metrics.kde.kde_l2_null_draw) where PINN-PM's 10^5 density particles would cost 1.4-5.6 s
a draw. A distribution is computed by the first cell that needs it and read from the cache by the others
(`cached_values`, locked so two processes never compute one twice).
"""
from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path

from infra.files import exclusive_lock, read_text, replacing
from infra.rows import FloorDistribution

#: R, the draws of a floor distribution (the issue asks for at least 30)
FLOOR_PAIRS = 30
#: bump when a null draw's definition or arithmetic changes: every cached distribution is then recomputed. 2: KDE
#: draws above metrics.specs.KDE_NULL_MAX_N density particles from that many samples, scaled (b76548e)
DISTRIBUTION_CACHE_VERSION = 2


def cache_dir() -> Path:
    """Where distributions are cached: beside the references (problems.references.base.cache_dir()/floors)."""
    from problems.references.base import cache_dir as reference_cache
    return reference_cache() / "floors"


def _read_regular(path: Path) -> str | None:
    """The text of `path` if it is a regular file that is not a link (infra.files.read_text: a FIFO or a device is
    never opened in a blocking way), else None: a cache entry is the harness's own file or nothing."""
    try:
        if path.is_symlink():
            return None
        return read_text(path)
    except (OSError, ValueError):
        return None


def _key(metric: str, judged, t: float, n: int, pairs: int, extra: str) -> str:
    return json.dumps([DISTRIBUTION_CACHE_VERSION, metric, repr(judged), float(t), int(n), int(pairs), extra])


def _load(path: Path, key: str) -> tuple | None:
    text = _read_regular(path)
    if text is None:
        return None
    try:
        stored = json.loads(text)
    except ValueError:
        return None
    values = stored.get("values") if isinstance(stored, dict) and stored.get("key") == key else None
    if isinstance(values, list) and values and all(isinstance(v, float) and math.isfinite(v) and v >= 0
                                                   for v in values):
        return tuple(values)
    return None


#: distributions computed or read in this process, by cache key
_MEMO: dict[str, tuple] = {}


def clear_memo() -> None:
    """Forget the distributions held in this process (the disk cache stays)."""
    _MEMO.clear()


def cached_values(metric: str, judged, t: float, n: int, pairs: int, compute, extra: str = "") -> tuple:
    """The R = `pairs` null draws of `metric` for `judged` at (t, n): from this process's memo, else the disk cache,
    else compute() (a sequence of R floats) stored there atomically under a lock, so that cells running at once
    compute it once. The key holds the judged problem's full repr (its constants and its reference's
    fingerprint), t, n, R and `extra`; a damaged, foreign or special file is recomputed (a read-only cache: the
    values are still returned)."""
    key = _key(metric, judged, t, n, pairs, extra)
    if key in _MEMO:
        return _MEMO[key]
    path = cache_dir() / (hashlib.sha256(key.encode()).hexdigest()[:24] + ".json")
    values = _load(path, key)
    if values is None:
        try:
            with exclusive_lock(path.with_suffix(".lock")):
                values = _load(path, key)  # another process may have written it while we waited
                if values is None:
                    values = _computed(compute, pairs)
                    with replacing(path) as tmp:
                        with open(tmp, "w", encoding="utf-8") as fh:
                            fh.write(json.dumps({"key": key, "values": list(values)}))
        except OSError:  # a read-only or unsafe cache: compute, keep nothing
            values = _load(path, key) or _computed(compute, pairs)
    if len(_MEMO) >= 512:
        _MEMO.pop(next(iter(_MEMO)))
    _MEMO[key] = values
    return values


def _computed(compute, pairs: int) -> tuple:
    values = tuple(float(v) for v in compute())
    if len(values) != pairs or not all(math.isfinite(v) and v >= 0 for v in values):
        raise ValueError(f"a floor's null draws must be {pairs} finite non-negative numbers, got {len(values)}")
    return values


def distribution(metric: str, floor: str, t: float, n: int, values, reference: str = "") -> FloorDistribution:
    """The FloorDistribution of `metric` (floor metric `floor`) at t for n particles from its R draws `values`."""
    return FloorDistribution(float(t), metric, floor, int(n), tuple(float(v) for v in values), reference)
