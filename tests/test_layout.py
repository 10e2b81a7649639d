"""The package's layout: imports between pumap's modules run one way (no cycles)."""

from __future__ import annotations

import ast
from pathlib import Path

import pumap

PACKAGE = Path(pumap.__file__).resolve().parent


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _runtime_imports(path: Path, name: str, modules: set[str]) -> set[str]:
    """pumap modules imported by ``path`` when it runs (also inside functions), not for typing."""
    tree = ast.parse(path.read_text())
    typing_only = {
        id(node)
        for block in ast.walk(tree)
        if isinstance(block, ast.If) and "TYPE_CHECKING" in ast.unparse(block.test)
        for stmt in block.body
        for node in ast.walk(stmt)
    }
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(tree):
        if id(node) in typing_only or not isinstance(node, ast.ImportFrom) or not node.level:
            continue
        base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
        target = f"{base}.{node.module}" if node.module else base
        candidates = [f"{target}.{alias.name}" for alias in node.names] + [target]
        found.update(c for c in candidates if c in modules and c != name)
    return found


def test_no_import_cycles_between_modules():
    files = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    modules = set(files)
    # A package's __init__ re-exports its modules; edges into a package are not cycles.
    graph = {
        name: {t for t in _runtime_imports(path, name, modules) if not name.startswith(t + ".")}
        for name, path in files.items()
    }
    assert graph["pumap.model.fitted"] >= {"pumap.model.io"}  # the test sees real edges
    state: dict[str, int] = {}
    cycle: list[str] = []

    def visit(node: str, stack: list[str]) -> bool:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycle.extend([*stack[stack.index(nxt):], nxt])
                return True
            if nxt not in state and visit(nxt, [*stack, nxt]):
                return True
        state[node] = 2
        return False

    for start in sorted(graph):
        if start not in state and start != "pumap" and visit(start, [start]):
            break
    assert not cycle, " -> ".join(cycle)


MAX_MODULE_LINES = 420  # the project's "no module over ~400 lines", with a little slack


def test_no_module_is_over_about_400_lines():
    sizes = {
        str(p.relative_to(PACKAGE)): len(p.read_text().splitlines()) for p in PACKAGE.rglob("*.py")
    }
    assert sizes["umap.py"] > 100  # the test reads the real files
    over = {name: n for name, n in sizes.items() if n > MAX_MODULE_LINES}
    assert not over, f"modules over {MAX_MODULE_LINES} lines (split them): {over}"
