"""The shape of the code itself: no import cycle in ``chinook_svc``, no module over 400 lines.

The import graph is read from the source with :mod:`ast`, so that every
import counts: at module level, inside a function (a deferred import hides a
cycle, it does not remove it) and under ``TYPE_CHECKING``.  An import of
``package.module`` is an edge to that module; importing a name from a package
is an edge to the package's ``__init__``, and to the submodule when the name
is one.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "chinook_svc"
MAX_LINES = 400


def module_name(path: Path) -> str:
    """``chinook_svc/web/app.py`` -> ``chinook_svc.web.app``; an ``__init__`` -> its package."""
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules() -> dict[str, Path]:
    """Every module of the package, by dotted name."""
    return {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def imports_of(name: str, path: Path, known: set[str]) -> set[str]:
    """The package's modules that module ``name`` imports, anywhere in its source."""
    is_package = path.name == "__init__.py"
    package = name if is_package else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            targets = [source] + [f"{source}.{alias.name}" for alias in node.names]
        else:
            continue
        for target in targets:
            # "import a.b.c" needs a.b.c; the longest prefix that is one of ours counts.
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
    return found


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of the graph (its modules, the first repeated at the end), or ``None``."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state and (cycle := visit(nxt)) is not None:
                return cycle
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)) is not None:
            return cycle
    return None


def import_graph() -> dict[str, set[str]]:
    """Module -> the package's modules it imports."""
    found = modules()
    known = set(found)
    return {name: imports_of(name, path, known) for name, path in found.items()}


def test_the_graph_sees_imports() -> None:
    """The graph has the edges it should (so that an empty answer below means something)."""
    graph = import_graph()
    assert "chinook_svc.restless._manager" in graph["chinook_svc.restless"]
    assert "chinook_svc.restless._messages" in graph["chinook_svc.restless._http"]
    assert "chinook_svc.restless" in graph["chinook_svc.web.app"]
    assert "chinook_svc.web" in graph["chinook_svc"]  # a deferred import inside __getattr__
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_no_import_cycle() -> None:
    """No module of chinook_svc imports, directly or not, a module that imports it."""
    assert find_cycle(import_graph()) is None


def test_no_module_over_400_lines() -> None:
    """Every module of chinook_svc has at most 400 lines."""
    sizes = {
        name: len(path.read_text(encoding="utf-8").splitlines()) for name, path in modules().items()
    }
    assert {name: n for name, n in sizes.items() if n > MAX_LINES} == {}
