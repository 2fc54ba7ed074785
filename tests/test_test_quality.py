"""A guard against tests that cannot fail (issue 30): every tests/test_*.py is parsed with `ast` and refused on

(a) an `assert` whose expression is always true, or that has an always-true operand of `and` / `or`:
    - `X >= 0` (or `0 <= X`) where X is a `len(...)` call, or a name, attribute or subscript key that names a
      count (COUNT_NAME: n, n_*, num*, *count*, *rejected*, *steps*, *calls*, len*, *size*): a count is never
      negative, so this asserts nothing (write the count the rule must reach, e.g. `rejected >= 1`); a float such
      as a bound is not a count: `bound >= 0` can fail;
    - `x == x`, `x <= x`, `x >= x`, `x is x` (the same AST on both sides of one comparison of a chain) where x is
      made of names, attributes, subscripts, constants and operators only (no call: `f() == f()` checks that f
      is reproducible);
    - `x in (..., x, ...)`: membership in a tuple, list or set literal that holds x itself;
    - an equality call on the same call-free AST twice: `np.array_equal(x, x)`, `torch.equal(a * 0, a * 0)`,
      `assert_close(x, x)`...;
    - a comparison or equality call of two sides that are both multiplied by a literal 0 (`a * 0 == b * 0`:
      zeros on both sides, whatever a and b are);
    - `assert True` or `assert <non-empty literal>` (a string, a non-zero number, a non-empty tuple, list, dict, set);
(b) a test function (`def test*`, as pytest collects them) with no `assert`, no `pytest.raises` / `pytest.warns` / `pytest.fail` and no call
    of an assertion helper: a function whose name starts with `assert` or `check_` (np.testing.assert_allclose,
    torch.testing.assert_close, pd.testing.assert_frame_equal, the tests' own assert_* helpers), or one listed in
    HELPERS with the reason it asserts.
"""
from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

TESTS = Path(__file__).parent

#: names of equality functions: a call on the same argument twice is always true
EQUALITY_CALLS = {"array_equal", "allclose", "isclose", "equal", "assert_close", "assert_allclose",
                  "assert_array_equal", "assert_equal", "assert_frame_equal", "assert_series_equal"}
#: pytest functions that assert (a test that uses one checks something)
PYTEST_CHECKS = {"raises", "warns", "fail", "deprecated_call"}
#: helpers that assert without an assert_/check_ name, with the reason (none needed today)
HELPERS: dict[str, str] = {}


def _name(node: ast.AST) -> str:
    """The called or referenced name: `f` for f, `c` for a.b.c, '' otherwise."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return ""


def _same(a: ast.AST, b: ast.AST) -> bool:
    """The same AST on both sides, and no call in it (a call may give a new value: a reproducibility check)."""
    return ast.dump(a) == ast.dump(b) and not any(isinstance(n, ast.Call) for n in ast.walk(a))


def _is_zero(node: ast.AST) -> bool:
    return isinstance(node, ast.Constant) and type(node.value) in (int, float) and node.value == 0


#: the name (or subscript key) of a count
COUNT_NAME = re.compile(r"^n$|^n_|^num|count|rejected|steps|calls|^len|size")


def _zeroed(node: ast.AST) -> bool:
    """`x * 0` or `0 * x`: zeros whatever x is."""
    return isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mult) and (_is_zero(node.left) or _is_zero(node.right))


def _count_like(node: ast.AST) -> bool:
    """len(...), or a name, attribute or string subscript key that names a count (COUNT_NAME)."""
    if isinstance(node, ast.Call):
        return _name(node.func) == "len"
    if isinstance(node, ast.Subscript):
        key = node.slice
        return isinstance(key, ast.Constant) and isinstance(key.value, str) and bool(COUNT_NAME.search(key.value))
    return bool(COUNT_NAME.search(_name(node)))


def _non_empty_literal(node: ast.AST) -> bool:
    if isinstance(node, ast.Constant):
        return bool(node.value) and node.value is not ...
    if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
        return bool(node.elts)
    if isinstance(node, ast.Dict):
        return bool(node.keys)
    return False


def _always_true(node: ast.AST) -> str:
    """Why `node` (an assert's expression or an operand of its and/or) is always true, or ''."""
    if _non_empty_literal(node):
        return "a non-empty literal is always true"
    if isinstance(node, ast.BoolOp):
        for value in node.values:
            why = _always_true(value)
            if why:
                return why
        return ""
    if isinstance(node, ast.Compare):
        sides = [node.left, *node.comparators]
        for op, left, right in zip(node.ops, sides, sides[1:]):
            if isinstance(op, ast.GtE) and _is_zero(right) and _count_like(left):
                return "`>= 0` on a count is always true"
            if isinstance(op, ast.LtE) and _is_zero(left) and _count_like(right):
                return "`0 <=` a count is always true"
            if isinstance(op, (ast.Eq, ast.LtE, ast.GtE, ast.Is)) and _same(left, right):
                return "the same expression on both sides of a comparison"
            if isinstance(op, (ast.Eq, ast.LtE, ast.GtE)) and _zeroed(left) and _zeroed(right):
                return "both sides multiplied by 0"
            if isinstance(op, ast.In) and isinstance(right, (ast.Tuple, ast.List, ast.Set)) \
                    and any(_same(left, e) for e in right.elts):
                return "membership in a literal that holds the value itself"
        return ""
    if isinstance(node, ast.Call) and _name(node.func) in EQUALITY_CALLS and len(node.args) >= 2:
        if _same(node.args[0], node.args[1]):
            return f"{_name(node.func)} of the same expression twice"
        if _zeroed(node.args[0]) and _zeroed(node.args[1]):
            return f"{_name(node.func)} of two expressions multiplied by 0"
    return ""


def always_true_asserts(source: str, filename: str = "<source>") -> list[str]:
    """'file:line: why' for each assert of `source` that is always true (rule (a) of the module docstring),
    including an equality helper called on the same expression twice outside an assert."""
    out = []
    for node in ast.walk(ast.parse(source, filename)):
        why = ""
        if isinstance(node, ast.Assert):
            why = _always_true(node.test)
        elif isinstance(node, ast.Expr) and isinstance(node.value, ast.Call) and _name(node.value.func).startswith("assert"):
            why = _always_true(node.value)
        if why:
            out.append(f"{filename}:{node.lineno}: {why}")
    return out


def _asserts_something(func: ast.AST) -> bool:
    """True if the function (nested functions included) has an assert, a pytest check or an assertion helper."""
    for node in ast.walk(func):
        if isinstance(node, ast.Assert):
            return True
        if isinstance(node, ast.Call):
            name = _name(node.func)
            is_pytest = isinstance(node.func, ast.Attribute) and _name(node.func.value) == "pytest"
            if (is_pytest and name in PYTEST_CHECKS) or name.startswith(("assert", "check_")) or name in HELPERS:
                return True
    return False


def functions_without_assertion(source: str, filename: str = "<source>") -> list[str]:
    """'file:line: name' for each test function of `source` (`def test*`) that asserts nothing (rule (b))."""
    return [f"{filename}:{node.lineno}: {node.name} asserts nothing"
            for node in ast.walk(ast.parse(source, filename))
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name.startswith("test")
            and not _asserts_something(node)]


def _test_files() -> list[Path]:
    return sorted(TESTS.glob("test_*.py"))


def test_the_guard_reads_every_test_file():
    files = _test_files()
    assert Path(__file__) in files and len(files) >= 20


@pytest.mark.parametrize("path", _test_files(), ids=lambda p: p.name)
def test_no_assert_is_always_true(path):
    assert always_true_asserts(path.read_text(), path.name) == []


@pytest.mark.parametrize("path", _test_files(), ids=lambda p: p.name)
def test_every_test_function_asserts_something(path):
    assert functions_without_assertion(path.read_text(), path.name) == []


# ----------------------------------------------------------------------------- the checker itself
@pytest.mark.parametrize("line", [
    "assert stats.rejected >= 0",
    "assert tr.info['steps'] >= 100 and tr.info['rejected_steps'] >= 0",
    "assert len(calls) >= 0",
    "assert 0 <= n_steps",
    "assert x == x",
    "assert a == b == b",
    "assert x[0] + 1 >= x[0] + 1",
    "assert value in (value,)",
    "assert n_steps >= 0 and stats.call_count >= 0 or True",
    "assert value in [1, value]",
    "assert np.array_equal(a['x0'] * 0, a['x0'] * 0)",
    "assert np.array_equal(a['x0'] * 0, b['x0'] * 0) and np.abs(a['x2'] - b['x2']).max() > 1e-3",
    "assert 0 * x == 0 * y",
    "assert torch.equal(x, x) and y > 1",
    "assert True",
    "assert 'the stepper rejects'",
    "assert (1, 2)",
    "assert ok or 1",
    "np.testing.assert_allclose(x + 1, x + 1)",
])
def test_the_checker_flags_an_always_true_assert(line):
    found = always_true_asserts(f"def test_x():\n    {line}\n")
    assert len(found) == 1 and found[0].startswith("<source>:2: "), found


@pytest.mark.parametrize("line", [
    "assert stats.rejected >= 1",
    "assert value >= 0.5",
    "assert x == y",
    "assert f(x) == f(y)",
    "assert value in (a,)",
    "assert value in (1, 2)",
    "assert np.array_equal(a, b)",
    "assert False, 'unreachable'",
    "assert err < 0.06 * moved and moved > 0.04",
    "assert -x >= 0",
    "assert np.array_equal(a * 0, b)",
    "assert r['bound'] >= 0",
    "assert 0 <= a < 2**63",
    "assert torch.equal(p.sample(500, 3), p.sample(500, 3))",
    "np.testing.assert_allclose(x, y)",
])
def test_the_checker_passes_an_assert_that_can_fail(line):
    assert always_true_asserts(f"def test_x():\n    {line}\n") == []


def test_the_checker_flags_a_test_without_an_assertion():
    source = '''
def test_only_runs():
    main(["run"])

def test_asserts():
    assert main(["run"]) == 0

def test_raises():
    with pytest.raises(ValueError):
        f()

def test_through_numpy():
    np.testing.assert_allclose(f(), 1.0)

def test_inner_given():
    @given(st.integers())
    def one(i):
        assert i == i + 0
    one()

def helper_not_a_test():
    pass
'''
    assert functions_without_assertion(source) == ["<source>:2: test_only_runs asserts nothing"]
