"""Environment variables that change what the harness computes, parsed in one place without importing torch, so
that a malformed value is refused in one line (`python -m harness` checks them before any verb runs) instead of a
traceback at import.

* `LANDAU_FUSED_MIN_N`: the smallest number of particles for which the compiled CPU kernels (the drift and the
  blob score, `problems.particle_drift.fused`) are used; a non-negative integer, default 512; 0 compiles every
  size. It changes which kernel runs, so results can differ in the last digits (docs/reliability.md).
"""
from __future__ import annotations

import os

FUSED_MIN_N = "LANDAU_FUSED_MIN_N"
FUSED_MIN_N_DEFAULT = 512


class SettingError(ValueError):
    """An environment variable the harness reads holds a value it does not allow: one line naming both."""


def fused_min_n(environ=None) -> int:
    """LANDAU_FUSED_MIN_N as an int (FUSED_MIN_N_DEFAULT when unset or empty); SettingError naming the value and the
    allowed ones when it is not a non-negative integer."""
    raw = (os.environ if environ is None else environ).get(FUSED_MIN_N)
    if raw is None or raw.strip() == "":
        return FUSED_MIN_N_DEFAULT
    try:
        value = int(raw.strip())
    except ValueError:
        value = -1
    if value < 0:
        raise SettingError(f"{FUSED_MIN_N}={raw!r} is not allowed; allowed: a non-negative integer, the smallest N "
                           f"that uses the compiled CPU kernels (default {FUSED_MIN_N_DEFAULT}; 0: every N), or unset")
    return value


def check_environment() -> None:
    """SettingError for the first harness environment variable that holds a value it does not allow."""
    fused_min_n()
