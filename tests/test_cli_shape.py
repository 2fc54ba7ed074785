"""Issue 31: the command line is parsing and dispatch only, in small pieces. Every module under harness/cli
(and harness/execute) is under MAX_MODULE_LINES lines, every function under harness/cli at most
MAX_FUNCTION_LINES (from its `def` to the last line of its body), and no branch there is empty (a body that
is only `pass`)."""
import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MAX_MODULE_LINES = 350
MAX_FUNCTION_LINES = 60


def modules(package: str) -> list[Path]:
    return sorted((ROOT / package).glob("*.py"))


def long_functions(path: Path) -> list[str]:
    """'module:function (N lines)' for every function of `path` (nested ones and methods too) over the limit."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    out = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            lines = node.end_lineno - node.lineno + 1
            if lines > MAX_FUNCTION_LINES:
                out.append(f"{path.name}:{node.name} ({lines} lines)")
    return out


def empty_branches(path: Path) -> list[str]:
    """'module:line' of every if/else/for/while/with/try/except body that is only `pass`."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    out = []
    for node in ast.walk(tree):
        bodies = [getattr(node, name, None) for name in ("body", "orelse", "finalbody")]
        if not isinstance(node, (ast.If, ast.For, ast.While, ast.With, ast.Try, ast.ExceptHandler)):
            continue
        for body in bodies:
            if body and all(isinstance(stmt, ast.Pass) for stmt in body):
                out.append(f"{path.name}:{body[0].lineno}")
    return out


def test_there_are_cli_modules():
    names = {p.name for p in modules("harness/cli")}
    assert {"__init__.py", "dispatch.py", "parser.py", "run.py"} <= names


@pytest.mark.parametrize("package", ["harness/cli", "harness/execute"])
def test_no_module_is_long(package):
    lines = {p.name: len(p.read_text(encoding="utf-8").splitlines()) for p in modules(package)}
    long = {name: n for name, n in lines.items() if n >= MAX_MODULE_LINES}
    assert not long, f"modules of {package} with {MAX_MODULE_LINES} lines or more: {long}"


def test_no_cli_function_is_long():
    long = [f for p in modules("harness/cli") for f in long_functions(p)]
    assert not long, f"functions over {MAX_FUNCTION_LINES} lines: {long}"


def test_no_cli_branch_is_empty():
    empty = [b for p in modules("harness/cli") for b in empty_branches(p)]
    assert not empty, f"branches that only pass: {empty}"


def test_the_checks_see_a_long_function_and_an_empty_branch(tmp_path):
    body = "\n".join(f"    x{i} = {i}" for i in range(MAX_FUNCTION_LINES))
    path = tmp_path / "bad.py"
    path.write_text(f"def long():\n{body}\n\n\ndef short(a):\n    if a:\n        pass\n    return a\n")
    assert long_functions(path) == [f"bad.py:long ({MAX_FUNCTION_LINES + 1} lines)"]
    assert empty_branches(path) == [f"bad.py:{MAX_FUNCTION_LINES + 6}"]  # the `pass` under `if a:`
