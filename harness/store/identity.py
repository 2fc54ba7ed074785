"""A cell's identity as a file stem: solver__problem__seedK[__overrides] (used by records and files)."""
from __future__ import annotations

import hashlib
import re


def format_value(value) -> str:
    """A value as it appears in a cell label (repr for floats, so 0.1 stays 0.1)."""
    if isinstance(value, float):
        return repr(value)
    return str(value)


def label(overrides) -> str:
    """'dt=0.02,n=4000' for overrides (('dt', 0.02), ('n', 4000)); '' for none."""
    return ",".join(f"{k}={format_value(v)}" for k, v in overrides)


_SAFE = re.compile(r"[^A-Za-z0-9._=,+-]")


def cell_id(solver: str, problem: str, seed: int, overrides) -> str:
    """File stem of a cell: solver__problem__seedK, plus __<override label> when overridden (characters
    outside [A-Za-z0-9._=,+-] replaced, and a hash of the label appended when that changed it)."""
    stem = f"{solver}__{problem}__seed{seed}"
    text = label(sorted((str(k), v) for k, v in overrides))
    if not text:
        return stem
    safe = _SAFE.sub("_", text)
    if safe != text or len(safe) > 120:
        safe = safe[:100] + "-" + hashlib.sha256(text.encode()).hexdigest()[:10]
    return f"{stem}__{safe}"
