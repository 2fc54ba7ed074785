"""The packages form layers with no import going up and no loop (issues 15 and 31):

    infra <- problems <- solvers <- certificates <- harness,   problems <- metrics <- certificates, harness.

Inside the packages the sub-packages have their own rules (SUBPACKAGE_ALLOWED): in harness, the store is
the bottom (it never imports the --set grammar), plan builds on the store only, report reads store and plan
(never execute: a report never runs or builds anything), execute runs plans, and nothing imports the CLI.

Every import statement of every module counts, including imports inside functions: a lazy import
that closes a loop is still a loop.
"""
import ast
from pathlib import Path


ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("infra", "problems", "solvers", "metrics", "certificates", "harness")
#: what each package may import from the others
ALLOWED = {
    "infra": set(),
    "problems": {"infra"},
    "metrics": {"infra", "problems"},
    "solvers": {"infra", "problems"},
    "certificates": {"infra", "problems", "solvers", "metrics"},
    "harness": {"infra", "problems", "solvers", "metrics", "certificates"},
}
#: what each sub-package may import from its package's other sub-packages (a module directly in the package,
#: such as problems/__init__.py or harness/__main__.py, is the package's front door and may import any)
SUBPACKAGE_ALLOWED = {
    "problems": {
        "equation": set(),
        "particle_drift": {"equation"},
        "cases": {"equation"},
        "references": {"equation", "cases"},
    },
    "harness": {
        "store": set(),
        "plan": {"store"},
        "report": {"store", "plan"},
        "execute": {"store", "plan", "report"},
        "cli": {"store", "plan", "report", "execute"},
    },
}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path: Path) -> set[str]:
    """Fully qualified names of the project modules that `path` imports (any depth, any place)."""
    me = module_name(path)
    package = me if path.name == "__init__.py" else me.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                stem = ".".join(base + ([node.module] if node.module else []))
            else:
                stem = node.module or ""
            names = [stem] + [f"{stem}.{a.name}" for a in node.names]
        else:
            continue
        for name in names:
            if name.split(".")[0] in PACKAGES:
                found.add(name)
    return found


def project_modules() -> dict[str, Path]:
    return {module_name(p): p for pkg in PACKAGES for p in sorted((ROOT / pkg).rglob("*.py"))}


def resolve(name: str, modules: dict[str, Path]) -> str | None:
    """The module a dotted import name refers to (`problems.drift` or `problems` for `problems.X`)."""
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


def import_graph() -> dict[str, set[str]]:
    modules = project_modules()
    graph = {}
    for name, path in modules.items():
        targets = {resolve(n, modules) for n in imported_modules(path)}
        graph[name] = {t for t in targets if t and t != name}
    return graph


def test_parser_sees_relative_and_lazy_imports(tmp_path):
    graph = import_graph()
    assert "problems.equation.kernel" in graph["problems.particle_drift.dispatch"]  # `from .kernel import ...`
    assert "problems.cases.base" in graph["problems.cases.characteristics"]
    assert any(t.startswith("harness.") for t in graph["harness.execute.cell_process"])  # imports inside functions count


def test_no_package_imports_a_layer_above_it():
    bad = []
    for mod, targets in import_graph().items():
        pkg = mod.split(".")[0]
        for t in targets:
            other = t.split(".")[0]
            if other != pkg and other not in ALLOWED[pkg]:
                bad.append(f"{mod} imports {t}")
    assert not bad, "layering violated:\n" + "\n".join(sorted(bad))


def subpackage_violations(graph: dict[str, set[str]]) -> list[str]:
    """'a imports b' for every import from one sub-package of a package to another that SUBPACKAGE_ALLOWED
    does not list, and every import of harness.cli from outside it."""
    bad = []
    for mod, targets in graph.items():
        parts = mod.split(".")
        for t in targets:
            tparts = t.split(".")
            if tparts[:2] == ["harness", "cli"] and parts[:2] != ["harness", "cli"] and mod != "harness.__main__":
                bad.append(f"{mod} imports {t}")
            rules = SUBPACKAGE_ALLOWED.get(parts[0])
            if rules is None or tparts[0] != parts[0] or len(parts) < 3 or len(tparts) < 3:
                continue
            if parts[1] in rules and tparts[1] in rules and tparts[1] != parts[1] and tparts[1] not in rules[parts[1]]:
                bad.append(f"{mod} imports {t}")
    return sorted(set(bad))


def test_no_subpackage_imports_outside_its_rules():
    bad = subpackage_violations(import_graph())
    assert not bad, "sub-package layering violated:\n" + "\n".join(bad)


def test_every_subpackage_has_a_rule():
    """A new sub-package must be given its place in SUBPACKAGE_ALLOWED (else its imports are not checked)."""
    for pkg, rules in SUBPACKAGE_ALLOWED.items():
        found = {p.parent.name for p in (ROOT / pkg).glob("*/__init__.py")}
        assert found == set(rules), (pkg, sorted(found ^ set(rules)))


def test_the_subpackage_rule_catches_an_upward_import():
    graph = {"harness.report.summary": {"harness.execute.runner"}, "harness.plan.cell": {"harness.store.identity"},
             "harness.store.record": {"harness.plan.overrides"}, "harness.execute.runner": {"harness.cli.commands"}}
    assert subpackage_violations(graph) == ["harness.execute.runner imports harness.cli.commands",
                                            "harness.report.summary imports harness.execute.runner",
                                            "harness.store.record imports harness.plan.overrides"]


def test_importing_the_planning_package_does_not_import_torch():
    """Planning (cells, grids, limits, estimates, profiles, trust) is cheap: every module of harness/plan
    imports without torch (problems and solvers are imported inside the functions that build them)."""
    import subprocess
    import sys
    mods = sorted(m for m in project_modules() if m.startswith("harness.plan"))
    code = "import sys\n" + "".join(f"import {m}\n" for m in mods) + \
        "heavy = sorted({m.split('.')[0] for m in sys.modules} & {'torch', 'problems', 'solvers', 'pandas'})\n" \
        "print(heavy)\nsys.exit(1 if heavy else 0)\n"
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr[-2000:]


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one node (Tarjan)."""
    index, low, stack, on, out = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in graph:
        if v not in index:
            visit(v)
    return out


def _without_package_inits(graph):
    """Edges into a package's __init__ from its own modules are re-export plumbing, not a dependency
    of the module on its siblings; a loop through __init__ is counted only between packages."""
    return {m: {t for t in ts if not (t == m.split(".")[0] and "." in m)} for m, ts in graph.items()}


def test_no_import_loops_between_modules():
    cycles = _cycles(_without_package_inits(import_graph()))
    assert not cycles, f"import loops: {cycles}"


def test_no_import_loops_between_packages():
    pkg_graph = {}
    for mod, targets in import_graph().items():
        pkg_graph.setdefault(mod.split(".")[0], set()).update(t.split(".")[0] for t in targets)
    for pkg in pkg_graph:
        pkg_graph[pkg].discard(pkg)
    assert not _cycles(pkg_graph)


def test_cycle_finder_finds_a_loop():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def _reached_from(start: str) -> set[str]:
    """Every project module `start` imports, directly or through others (any depth, imports inside functions too)."""
    modules = project_modules()
    seen, todo = set(), [start]
    while todo:
        name = todo.pop()
        if name in seen or name not in modules:
            continue
        seen.add(name)
        todo.extend(filter(None, (resolve(m, modules) for m in imported_modules(modules[name]))))
    return seen


def test_the_report_command_never_imports_the_execution_stack():
    """`harness report` reads and draws: it reaches no module of harness/execute but the plugin loader (the rebuild
    of outputs lives in report/, grid planning in plan/: issue 44). harness.cli.run does reach the runner (the
    check can fail)."""
    stack = lambda start: sorted(m for m in _reached_from(start) if m.startswith("harness.execute.")
                                 and m != "harness.plan.plugins")
    assert stack("harness.cli.report") == []
    assert "harness.execute.runner" in stack("harness.cli.run")


def test_report_of_a_run_loads_no_module_of_the_execution_stack(tmp_path):
    """`python -m harness report RUN` (in a subprocess, on two records of the committed c83b22e run) rebuilds the
    outputs with no module of harness/execute in sys.modules (issue 44)."""
    import shutil
    import subprocess
    import sys
    fixture = ROOT / "tests" / "fixtures" / "run_c83b22e"
    run = tmp_path / "run"
    (run / "cells").mkdir(parents=True)
    shutil.copy(fixture / "manifest.json", run)
    for name in ("blob__bkw2d__seed0.json", "sbp__bkw2d__seed0.json"):
        shutil.copy(fixture / "cells" / name, run / "cells")
    code = ("import sys\nfrom harness.cli import main\ncode = main(['report', sys.argv[1]])\n"
            "print(sorted(m for m in sys.modules if m.startswith('harness.execute')))\nsys.exit(code)\n")
    proc = subprocess.run([sys.executable, "-c", code, str(run)], cwd=ROOT, capture_output=True, text=True,
                          timeout=300, env={**__import__("os").environ, "PYTHONPATH": str(ROOT)})
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip().splitlines()[-1] == "[]"
    assert (run / "summary.md").exists()
