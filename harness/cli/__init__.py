"""The command line: argument parsing and dispatch only (`python -m harness ...`).

dispatch: main and the verb table; parser: the grammar; options, resume, planning: the checks and the plan
of run / sweep / diagnose; run, report, compare, listing, references: one module per verb.
"""
from harness.cli.dispatch import main

__all__ = ["main"]
