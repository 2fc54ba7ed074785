"""`harness.report.rebuild.beside`: the particle figures drawn in a forked process while the rest of the report is
written, and drawn here again when that child fails, dies or is still running after its timeout (nothing of the
report is lost, and a hung child never hangs the report)."""
import os
import time

import pytest

from harness.report import rebuild

PARENT = os.getpid()
FORK = pytest.mark.skipif("fork" not in rebuild.mp.get_all_start_methods(), reason="needs fork")


def _where(tag):
    return (tag, os.getpid() == PARENT)


def _fails_in_a_child(tag):
    if os.getpid() != PARENT:
        raise RuntimeError("child")
    return (tag, "parent")


def _exits_in_a_child(tag):
    if os.getpid() != PARENT:
        os._exit(3)  # a worker that dies
    return (tag, "parent")


def _hangs_in_a_child(tag):
    if os.getpid() != PARENT:
        time.sleep(60)  # a child that never finishes in time
    return (tag, "parent")


@FORK
def test_beside_runs_in_a_child_with_jobs_and_here_without():
    with rebuild.beside(_where, ("a",), 2) as pending:
        body_ran = True
    assert body_ran and pending.result() == ("a", False)  # drawn in another process
    with rebuild.beside(_where, ("b",), 1) as pending:
        pass
    assert pending.result() == ("b", True)


@FORK
@pytest.mark.parametrize("fn", [_fails_in_a_child, _exits_in_a_child])
def test_a_failing_or_dying_child_is_redone_here(fn):
    with rebuild.beside(fn, ("c",), 2) as pending:
        pass
    assert pending.result() == ("c", "parent")


@FORK
def test_a_child_still_running_after_its_timeout_is_stopped_and_redone_here(capsys):
    start = time.perf_counter()
    with rebuild.beside(_hangs_in_a_child, ("d",), 2, timeout=0.5) as pending:
        pass
    waited = time.perf_counter() - start
    assert pending.result() == ("d", "parent")
    assert waited < 10, f"the report waited {waited:.1f} s for a hung child with a 0.5 s timeout"
    assert "still running 0.5 s after the rest of the report" in capsys.readouterr().err
