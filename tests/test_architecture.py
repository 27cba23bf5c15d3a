"""The layout rules of ``lineage_core``, checked over the source with ``ast`` (nothing is imported):

- only ``lineage_core/store/`` reaches the database: no other module touches ``.engine`` or imports the
  table definitions (``store.schema``) — they call the store's repositories;
- the modules import one another without cycles (an import inside a function or under ``TYPE_CHECKING``
  counts too: a cycle that only works because one side imports late is still two modules that cannot be
  understood, tested or moved apart);
- no module is longer than 400 lines.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "lineage_core"
MAX_LINES = 400


def _modules() -> dict[str, Path]:
    """Dotted module name -> file, for every module of the package (``pkg/__init__.py`` is ``pkg``)."""
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


MODULES = _modules()


def _is_package(name: str) -> bool:
    return MODULES[name].name == "__init__.py"


def _imports(name: str, tree: ast.Module) -> set[str]:
    """The ``lineage_core`` modules one module imports, wherever in the module the import stands."""
    out: set[str] = set()
    base = name if _is_package(name) else name.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                anchor = base.split(".")[: len(base.split(".")) - (node.level - 1)]
                source = ".".join(anchor + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            for alias in node.names:  # `from pkg import mod` imports the module pkg.mod
                sub = f"{source}.{alias.name}"
                out.add(sub if sub in MODULES else source)
    return {m for m in out if m in MODULES and m != name}


def _graph() -> dict[str, set[str]]:
    return {name: _imports(name, ast.parse(path.read_text(encoding="utf-8"))) for name, path in MODULES.items()}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return sorted(found)


def _outside_store() -> dict[str, Path]:
    return {n: p for n, p in MODULES.items() if not n.startswith("lineage_core.store")}


def test_only_the_store_touches_the_engine_or_the_tables() -> None:
    offenders = []
    for name, path in _outside_store().items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        if any(isinstance(n, ast.Attribute) and n.attr == "engine" for n in ast.walk(tree)):
            offenders.append(f"{name} uses .engine")
        if "lineage_core.store.schema" in _imports(name, tree):
            offenders.append(f"{name} imports lineage_core.store.schema")
    assert offenders == []


def test_no_import_cycles() -> None:
    assert _cycles(_graph()) == []


def test_no_module_over_400_lines() -> None:
    long = {name: n for name, path in MODULES.items()
            if (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES}
    assert long == {}
