"""`harness.execute.runner._beside`: the particle figures drawn in a forked process while the rest of the report is
written, and drawn here again when that child fails (nothing of the report is lost)."""
import os

import pytest

from harness.execute import runner

PARENT = os.getpid()


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


@pytest.mark.skipif("fork" not in runner.mp.get_all_start_methods(), reason="needs fork")
def test_beside_runs_in_a_child_with_jobs_and_here_without():
    with runner._beside(_where, ("a",), 2) as pending:
        body_ran = True
    assert body_ran and pending.result() == ("a", False)  # drawn in another process
    with runner._beside(_where, ("b",), 1) as pending:
        pass
    assert pending.result() == ("b", True)


@pytest.mark.skipif("fork" not in runner.mp.get_all_start_methods(), reason="needs fork")
@pytest.mark.parametrize("fn", [_fails_in_a_child, _exits_in_a_child])
def test_a_failing_or_dying_child_is_redone_here(fn):
    with runner._beside(fn, ("c",), 2) as pending:
        pass
    assert pending.result() == ("c", "parent")
