"""What the verbs share: the one-line usage error, name checks, plugin loading, and the run in progress."""
from __future__ import annotations

from pathlib import Path

from harness.plan.plugins import PluginError, load_plugins


class UsageError(Exception):
    """Bad command-line input: printed as one line, exit code 2."""


#: the run directory a `run`, `sweep` or `diagnose` is working in once it holds its lock (None before: an interrupt
#: while planning or importing a plugin has no run to resume)
RUN_IN_PROGRESS: list[Path | None] = [None]


def check_names(given, valid, kind) -> None:
    """UsageError naming the first of `given` that is not in `valid`, and the valid ones."""
    for name in given:
        if name not in valid:
            raise UsageError(f"unknown {kind} {name!r}; valid {kind}s: {', '.join(valid)}")


def load_named_plugins(files: list[str]) -> None:
    """Load the plugin files named on the command line; a failing one is a UsageError (one line)."""
    try:
        load_plugins(files)
    except PluginError as exc:
        raise UsageError(str(exc)) from None
