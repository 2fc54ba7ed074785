"""`python -m harness {list, run, sweep, diagnose, compare, report, references}`: the front door.

Parses the command line, runs the verb, and turns the errors a user can cause into one line and an exit
code: 0 ok, 1 a cell failed (or `compare` found B worse), 2 bad input, 130 interrupted, 143 terminated.
"""
from __future__ import annotations

import importlib
import signal
import sys
import threading

from infra.env import SettingError, check_environment
from harness.cli.common import RUN_IN_PROGRESS, UsageError
from harness.cli.parser import build_parser
from harness.plan.plugins import PluginError
from harness.plan.errors import ExecutorError
from harness.plan.overrides import OverrideError
from harness.store.lock import RunDirInUse

#: verb -> (module, function). A verb's module is imported when the verb runs, so that `list`, `compare` and
#: `--help` do not load the runner with its figures and matplotlib (seconds at start-up).
VERBS = {"list": ("harness.cli.listing", "cmd_list"), "run": ("harness.cli.run", "cmd_run"),
         "sweep": ("harness.cli.run", "cmd_sweep"), "diagnose": ("harness.cli.run", "cmd_diagnose"),
         "compare": ("harness.cli.compare", "cmd_compare"), "report": ("harness.cli.report", "cmd_report"),
         "references": ("harness.cli.references", "cmd_references")}


class Terminated(KeyboardInterrupt):
    """SIGTERM (`kill`, `timeout`, a scheduler): unwinds like Ctrl-C, so cells stop and outputs are written."""


def main(argv=None) -> int:
    """Parse the command line and run the verb; returns the exit code (0 ok, 1 a cell failed, 2 bad input)."""
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:  # argparse: --help (0) or a malformed command line (2, message printed)
        return exc.code if isinstance(exc.code, int) else 2
    _escape_unencodable_output()
    try:
        check_environment()  # LANDAU_FUSED_MIN_N and the like: one line, before any verb runs
    except SettingError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    previous = _terminate_as_interrupt()
    RUN_IN_PROGRESS[0] = None
    try:
        module, function = VERBS[args.verb]
        return getattr(importlib.import_module(module), function)(args)
    except Terminated:
        print(f"terminated (SIGTERM){_after_interrupt()}", file=sys.stderr)
        return 143
    except (UsageError, PluginError, OverrideError, RunDirInUse, ExecutorError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # the reader of our output went away (`| head -1`): harness/__main__.py ends quietly
        raise
    except OSError as exc:  # an unwritable or vanished path, a full disk: the user's environment, not a bug
        print(f"error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"interrupted{_after_interrupt()}", file=sys.stderr)
        return 130
    finally:
        RUN_IN_PROGRESS[0] = None
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _escape_unencodable_output() -> None:
    """In a C locale, write non-ASCII text (a summary's ±) escaped, never crash on it."""
    for stream in (sys.stdout, sys.stderr):
        if hasattr(stream, "reconfigure") and (stream.encoding or "").lower().replace("-", "") != "utf8":
            stream.reconfigure(errors="backslashreplace")


def _after_interrupt() -> str:
    """What an interrupt leaves: '; finished cells are kept: --resume RUN continues' during a run, else that no
    run was in progress."""
    run_dir = RUN_IN_PROGRESS[0]
    if run_dir is None:
        return "; no run was in progress (nothing to resume)"
    return f"; finished cells are kept: --resume {str(run_dir)!r} continues"


def _terminate_as_interrupt():
    """Make SIGTERM raise Terminated in the main thread; returns the previous handler (None off the main thread)."""
    if threading.current_thread() is not threading.main_thread():
        return None

    def handler(signum, frame):
        raise Terminated()

    return signal.signal(signal.SIGTERM, handler)
