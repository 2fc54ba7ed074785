"""The packages form layers with no import going up and no loop (issue 15):

    problems <- solvers <- certificates <- harness,   problems <- metrics <- certificates, harness.

Every import statement of every module counts, including imports inside functions: a lazy import
that closes a loop is still a loop.
"""
import ast
from pathlib import Path


ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("problems", "solvers", "metrics", "certificates", "harness")
#: what each package may import from the others
ALLOWED = {
    "problems": set(),
    "metrics": {"problems"},
    "solvers": {"problems"},
    "certificates": {"problems", "solvers", "metrics"},
    "harness": {"problems", "solvers", "metrics", "certificates"},
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
    assert "problems.cases.base" in graph["problems.equation.characteristics"]
    assert any(t.startswith("harness.") for t in graph["harness.cli.commands"])  # imports inside functions count


def test_no_package_imports_a_layer_above_it():
    bad = []
    for mod, targets in import_graph().items():
        pkg = mod.split(".")[0]
        for t in targets:
            other = t.split(".")[0]
            if other != pkg and other not in ALLOWED[pkg]:
                bad.append(f"{mod} imports {t}")
    assert not bad, "layering violated:\n" + "\n".join(sorted(bad))


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
