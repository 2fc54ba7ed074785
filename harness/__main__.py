import os
import sys

from harness.cli import main


def _run() -> int:
    """main(), ending quietly when the reader of standard output went away (`python -m harness list | head -1`):
    no traceback, exit code 141 (128 + SIGPIPE, as a tool killed by the closed pipe would end)."""
    try:
        code = main()
        sys.stdout.flush()
        return code
    except BrokenPipeError:
        _silence_stdout()
        return 141


def _silence_stdout() -> None:
    """Point standard output at /dev/null, so that the interpreter's last flush does not raise again."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())


if __name__ == "__main__":
    sys.exit(_run())
