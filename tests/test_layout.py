"""The package's layout: the top of src/pumap reads as the flow, and imports run one way.

The import graph counts every import: at module level, inside functions, under
``TYPE_CHECKING``, relative or absolute. ``from X import a`` is an edge to the module ``X.a``
when there is one, else to ``X`` itself (``a`` is then a name defined there); importing
``X.a`` also runs the ``__init__`` of every package on the way that does not already hold the
importing module, so an edge into a package reaches what its ``__init__`` imports.
"""

from __future__ import annotations

import ast
import textwrap
from pathlib import Path

import pytest

import pumap

PACKAGE = Path(pumap.__file__).resolve().parent
MAX_TOP_LEVEL_ENTRIES = 25  # what a newcomer sees in src/pumap: the flow, not a pile
MAX_MODULE_LINES = 420  # the project's "no module over ~400 lines", with a little slack


def module_files(root: Path) -> dict[str, Path]:
    """Dotted name -> file of every module of the package in folder ``root``."""
    files = {}
    for path in sorted(root.rglob("*.py")):
        parts = [root.name, *path.relative_to(root).with_suffix("").parts]
        files[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return files


def _packages_run(target: str, importer: str, modules: set[str]) -> set[str]:
    """The packages whose ``__init__`` importing ``target`` runs, except ``importer``'s own
    (those are under way, or done, whenever ``importer`` runs)."""
    parts = target.split(".")
    prefixes = {".".join(parts[:i]) for i in range(1, len(parts))}
    return {p for p in prefixes if p in modules and not importer.startswith(p + ".")}


def imports_of(path: Path, name: str, modules: set[str]) -> set[str]:
    """The package's modules that module ``name`` (in ``path``) imports, anywhere in it."""
    root = name.split(".")[0]
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names if alias.name.split(".")[0] == root]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                source = f"{base}.{node.module}" if node.module else base
            elif node.module and node.module.split(".")[0] == root:
                source = node.module
            else:
                continue
            submodules = [f"{source}.{a.name}" for a in node.names]
            targets = [m for m in submodules if m in modules]
            if len(targets) < len(submodules):  # a name defined in `source` itself
                targets.append(source)
        else:
            continue
        for target in targets:
            if target not in modules:
                raise AssertionError(f"{name} imports {target}, which is not a module")
            found |= {target} | _packages_run(target, name, modules)
    found.discard(name)
    # A module's own packages run before it anyway: an edge to one is a cycle only when the
    # module takes a name from it (then `source` above is the package itself).
    return found


def import_graph(root: Path) -> dict[str, set[str]]:
    files = module_files(root)
    return {name: imports_of(path, name, set(files)) for name, path in files.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str]:
    """One import circle of ``graph`` as ``[a, b, ..., a]``, or ``[]`` when there is none."""
    state: dict[str, str] = {}  # "open" while on the path, "done" after

    def visit(node: str, path: list[str]) -> list[str]:
        state[node] = "open"
        for nxt in sorted(graph[node]):
            if state.get(nxt) == "open":
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state and (cycle := visit(nxt, [*path, nxt])):
                return cycle
        state[node] = "done"
        return []

    for start in sorted(graph):
        if start not in state and (cycle := visit(start, [start])):
            return cycle
    return []


def test_no_import_cycles_between_modules():
    graph = import_graph(PACKAGE)
    # The graph sees real edges: module level, inside a function, into a package.
    assert "pumap.model.io" in graph["pumap.model.fitted"]
    assert "pumap.umap" in graph["pumap.cli.commands"]  # imported inside a handler
    assert "pumap.knn" in graph["pumap.graph.neighbours"]
    cycle = find_cycle(graph)
    assert not cycle, "import circle: " + " -> ".join(cycle)


def test_fitted_umap_does_not_come_back_from_what_builds_saves_or_continues_it():
    graph = import_graph(PACKAGE)
    for name in ("pumap.model.io", "pumap.model.model_file", "pumap.model.onnx_export",
                 "pumap.training.continued"):
        assert "pumap.model.fitted" not in graph[name], name


def _write_package(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / "fake" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    return root / "fake"


PLANTED = {
    "inside a function": {
        "__init__.py": "",
        "a.py": "def f():\n    from .b import g\n    return g\n",
        "b.py": "from .a import f\n\ndef g():\n    return f\n",
    },
    "under TYPE_CHECKING": {
        "__init__.py": "",
        "a.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .b import B\n",
        "b.py": "from .a import TYPE_CHECKING\nB = 1\n",
    },
    "through a package's __init__": {
        "__init__.py": "",
        "sub/__init__.py": "from .m import x\n",
        "sub/m.py": "def x():\n    from ..c import y\n    return y\n",
        "c.py": "from .sub.m import x\ny = 1\n",
    },
    "absolute imports": {
        "__init__.py": "",
        "a.py": "import fake.b\n",
        "b.py": "def g():\n    from fake.a import f\n    return f\n",
    },
    "a name taken from the module's own package": {
        "__init__.py": "from .a import f\nVERSION = 1\n",
        "a.py": "def f():\n    from . import VERSION\n    return VERSION\n",
    },
}


@pytest.mark.parametrize("case", PLANTED)
def test_the_cycle_check_catches_a_planted_circle(tmp_path, case):
    assert find_cycle(import_graph(_write_package(tmp_path, PLANTED[case])))


def test_the_cycle_check_passes_imports_that_run_one_way(tmp_path):
    root = _write_package(
        tmp_path,
        {
            "__init__.py": "from .top import run\n",
            "top.py": "from .sub import helper\n\ndef run():\n    from . import low\n",
            "low.py": "X = 1\n",
            "sub/__init__.py": '"""docs"""\n',
            "sub/helper.py": "from ..low import X\n",
        },
    )
    graph = import_graph(root)
    assert graph["fake.top"] == {"fake.sub.helper", "fake.sub", "fake.low"}
    assert graph["fake.sub.helper"] == {"fake.low"}
    assert find_cycle(graph) == []


def test_the_top_of_the_package_is_short():
    entries = sorted(p.name for p in PACKAGE.iterdir() if p.name != "__pycache__")
    assert "umap.py" in entries  # the test reads the real folder
    assert len(entries) <= MAX_TOP_LEVEL_ENTRIES, (
        f"{len(entries)} entries directly under src/pumap (at most {MAX_TOP_LEVEL_ENTRIES}): "
        "put a new module in the subpackage of its stage"
    )


def test_every_folder_of_modules_is_a_package_that_says_what_it_does():
    """Each subpackage's docstring says what its stage takes and gives; without __init__.py a
    folder would also be left out of the wheel (setuptools finds packages by it)."""
    folders = {p.parent for p in PACKAGE.rglob("*.py")}
    assert PACKAGE / "training" in folders
    for folder in sorted(folders):
        init = folder / "__init__.py"
        assert init.is_file(), f"{folder} has modules but no __init__.py"
        assert ast.get_docstring(ast.parse(init.read_text())), f"{init} has no docstring"


def test_no_module_is_over_about_400_lines():
    sizes = {
        str(p.relative_to(PACKAGE)): len(p.read_text().splitlines()) for p in PACKAGE.rglob("*.py")
    }
    assert sizes["umap.py"] > 100  # the test reads the real files
    over = {name: n for name, n in sizes.items() if n > MAX_MODULE_LINES}
    assert not over, f"modules over {MAX_MODULE_LINES} lines (split them): {over}"
