"""The command line: argument parsing and dispatch only (`python -m harness ...`)."""
from harness.cli.commands import main

__all__ = ["main"]
