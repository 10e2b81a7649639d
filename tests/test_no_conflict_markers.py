"""No merge-conflict markers left in the repository's text files (docs included)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MARKER = re.compile(r"^(<{7} |>{7} |={7}$)", re.M)


def test_no_conflict_markers() -> None:
    files = [
        p
        for pattern in ("*.md", "docs/*.md", "src/**/*.py", "tests/**/*.py", "benchmarks/*.py",
                        "*.toml")
        for p in ROOT.glob(pattern)
    ]
    assert len(files) > 20
    left = [str(p.relative_to(ROOT)) for p in files if MARKER.search(p.read_text())]
    assert not left, f"merge-conflict markers in {left}"
