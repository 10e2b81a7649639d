"""The example scripts run end to end on small inputs and write parseable outputs."""

from __future__ import annotations

import csv
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
NS = {"svg": "http://www.w3.org/2000/svg"}


def _run(script: str, *args: str, cwd: Path) -> str:
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / script), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def _n_points(svg: Path, collection: int = 1) -> int:
    """Points of matplotlib's `collection`-th scatter in an SVG (one <use> element each)."""
    root = ET.parse(svg).getroot()
    group = root.find(f".//svg:g[@id='PathCollection_{collection}']", NS)
    assert group is not None
    return len(list(group.iter(f"{{{NS['svg']}}}use")))


def test_quickstart(tmp_path: Path) -> None:
    pytest.importorskip("sklearn")
    out = _run(
        "quickstart.py", "--n", "400", "--epochs", "2", "--out", "q.svg", "--quiet", cwd=tmp_path
    )
    assert _n_points(tmp_path / "q.svg", 1) == 320  # training digits
    assert _n_points(tmp_path / "q.svg", 2) == 80  # held-out digits, drawn as rings
    assert "held-out" in (tmp_path / "q.svg").read_text(encoding="utf-8")
    assert "held-out" in out and "trustworthiness" in out


@pytest.mark.slow
def test_mnist_embedding(mnist_dir: Path, tmp_path: Path) -> None:
    stdout = _run(
        "mnist_embedding.py", "--data-dir", str(mnist_dir), "--n", "600", "--epochs", "2",
        "--out", "m.png", "--csv", "m.csv", "--device", "cpu", "--quiet", cwd=tmp_path,
    )
    assert "m.png" in stdout
    assert (tmp_path / "m.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with open(tmp_path / "m.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["x", "y", "label"]
    assert len(rows) == 601
    for x, y, label in rows[1:]:
        float(x), float(y)
        assert 0 <= int(label) <= 9
