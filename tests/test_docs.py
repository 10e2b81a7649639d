"""The documentation's Python examples run, and its option table matches UmapConfig.

Every block fenced as ```python runs, in order, one namespace per page, like a notebook. A
block that must not run here (it needs a cluster, a GPU, torchrun or data, or would change
process-wide settings) says so in the line just above its fence, visibly in the source and
with a reason: ``<!-- skip-test: needs a Dask cluster -->``. The count of skipped blocks is
bounded, so that skipping every block fails.
"""

from __future__ import annotations

import dataclasses
import re
import textwrap
from pathlib import Path
from typing import NamedTuple

import pytest

from pumap import UmapConfig

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FENCE = re.compile(
    r"^(?P<indent>[ \t]*)```(?P<info>[^\n]*)\n(?P<body>.*?)^(?P=indent)```",
    re.DOTALL | re.MULTILINE,
)
SKIP = re.compile(r"<!--\s*skip-test:\s*(?P<reason>.*?)\s*-->\s*$")
# At most this share of the Python blocks may be skipped (6 of 33 when it was set).
MAX_SKIPPED_SHARE = 0.25


class Block(NamedTuple):
    page: str
    line: int
    code: str
    skip: str | None  # the reason given, or None: the block runs


def python_blocks(path: Path) -> list[Block]:
    """The page's ```python blocks, dedented, with the skip reason written above each."""
    text = path.read_text()
    blocks = []
    for match in FENCE.finditer(text):
        if match.group("info").strip() != "python":
            continue
        before = text[: match.start()].rstrip("\n").rsplit("\n", 1)[-1]
        skip = SKIP.search(before)
        code = textwrap.dedent(
            "\n".join(line[len(match.group("indent")):] if line.strip() else ""
                      for line in match.group("body").split("\n"))
        )
        line = text.count("\n", 0, match.start()) + 1
        blocks.append(Block(path.name, line, code, skip.group("reason") if skip else None))
    return blocks


ALL_BLOCKS = [block for path in DOCS for block in python_blocks(path)]


@pytest.mark.parametrize("path", [p for p in DOCS if python_blocks(p)], ids=lambda p: p.name)
def test_documentation_examples_run(path: Path, tmp_path, monkeypatch) -> None:
    """A page's examples run in order in one namespace, like a notebook, in a fresh folder."""
    monkeypatch.chdir(tmp_path)
    namespace: dict = {"__name__": "__docs__"}
    for block in python_blocks(path):
        if block.skip is not None:
            continue
        if "sklearn" in block.code or "ParametricUMAP" in block.code:
            pytest.importorskip("sklearn")
        exec(compile(block.code, f"{path.name}:{block.line}", "exec"), namespace)


def test_most_examples_run_and_every_skip_says_why() -> None:
    skipped = [block for block in ALL_BLOCKS if block.skip is not None]
    ran = len(ALL_BLOCKS) - len(skipped)
    print(f"documentation blocks: {ran} run, {len(skipped)} skipped")
    for block in skipped:
        assert block.skip, f"{block.page}:{block.line}: skip-test without a reason"
    assert ran >= 20 and len(skipped) <= MAX_SKIPPED_SHARE * len(ALL_BLOCKS), (
        f"{len(skipped)} of {len(ALL_BLOCKS)} documentation blocks are skipped"
    )
    # The old marker is gone: a fence's info string is the language alone.
    for path in DOCS:
        assert "```python no-run" not in path.read_text(), path.name


def test_api_reference_lists_every_option_with_its_default() -> None:
    text = (ROOT / "docs" / "api.md").read_text()
    rows = dict(re.findall(r"^\| `(\w+)` \| `([^`]*)` \|", text, re.MULTILINE))
    for field in dataclasses.fields(UmapConfig):
        assert field.name in rows, f"docs/api.md does not document {field.name}"
        assert rows[field.name] == repr(field.default), f"docs/api.md: default of {field.name}"
