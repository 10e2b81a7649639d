"""The documentation's Python examples run, and its option table matches UmapConfig.

Every block fenced as ```python runs; ```python no-run marks a fragment or one that would
change process-wide settings.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

from pumap import UmapConfig

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
BLOCK = re.compile(r"```python\n(.*?)```", re.DOTALL)


def python_blocks(path: Path) -> list[str]:
    return [match.group(1) for match in BLOCK.finditer(path.read_text())]


@pytest.mark.parametrize("path", [p for p in DOCS if python_blocks(p)], ids=lambda p: p.name)
def test_documentation_examples_run(path: Path, tmp_path, monkeypatch) -> None:
    """A page's examples run in order in one namespace, like a notebook, in a fresh folder."""
    monkeypatch.chdir(tmp_path)
    namespace: dict = {"__name__": "__docs__"}
    for index, code in enumerate(python_blocks(path)):
        if "sklearn" in code:
            pytest.importorskip("sklearn")
        exec(compile(code, f"{path.name}[{index}]", "exec"), namespace)


def test_api_reference_lists_every_option_with_its_default() -> None:
    text = (ROOT / "docs" / "api.md").read_text()
    rows = dict(re.findall(r"^\| `(\w+)` \| `([^`]*)` \|", text, re.MULTILINE))
    for field in dataclasses.fields(UmapConfig):
        assert field.name in rows, f"docs/api.md does not document {field.name}"
        assert rows[field.name] == repr(field.default), f"docs/api.md: default of {field.name}"
