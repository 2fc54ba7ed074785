"""A cell's identity as a file stem: solver__problem__seedK[__overrides] (used by records and files)."""
from __future__ import annotations

import hashlib
import re

from harness.plan.overrides import label

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
