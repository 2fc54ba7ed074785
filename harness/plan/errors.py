"""Errors a command can raise before anything runs, declared below the execution stack so that the front door
(`harness.cli.dispatch`) can turn them into one line without importing it."""
from __future__ import annotations


class ExecutorError(RuntimeError):
    """The chosen engine cannot start (bad scheduler address, dask not installed)."""
