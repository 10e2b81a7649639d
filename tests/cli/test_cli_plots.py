"""``--plot`` picks the picture by suffix (.html: the interactive page); the demo writes one."""

from __future__ import annotations

import base64
import json
import re
import sys
from pathlib import Path

import numpy as np
import pytest

from pumap.cli import main
from pumap.datasets import make_clusters

FAST = ["--epochs", "2", "--hidden-layers", "16", "--n-neighbors", "5", "--seed", "0",
        "--no-pca-init"]


@pytest.fixture
def csv_with_labels(tmp_path: Path) -> Path:
    x, y = make_clusters(120, n_features=6, n_clusters=3, seed=1)
    lines = ["kind," + ",".join(f"f{j}" for j in range(6))]
    lines += [",".join([f"c{label}", *(f"{v:.6g}" for v in row)])
              for row, label in zip(x, y, strict=True)]
    path = tmp_path / "data.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


def _traces(page: Path) -> list[dict]:
    """The traces of a plotly page: the JSON array passed to ``Plotly.newPlot``."""
    html = page.read_text()
    assert not re.search(r"<script[^>]+src=", html)  # plotly.js is inlined
    start = html.index("Plotly.newPlot(")
    array = html[html.index("[", start):]
    traces, _ = json.JSONDecoder().raw_decode(array)
    return traces


def test_fit_and_transform_write_an_interactive_page_for_html(tmp_path, csv_with_labels, capsys):
    pytest.importorskip("plotly")
    save, fit_page, emb = tmp_path / "m.safetensors", tmp_path / "map.html", tmp_path / "e.npy"
    assert main(["fit", str(csv_with_labels), "--labels", "kind", "--save", str(save),
                 "--embedding", str(emb), "--plot", str(fit_page), *FAST]) == 0
    assert f"wrote plot to {fit_page}" in capsys.readouterr().out
    traces = _traces(fit_page)
    assert [t["name"] for t in traces] == ["c0", "c1", "c2"]
    assert all(t["type"] == "scattergl" for t in traces)
    counts = np.unique(np.loadtxt(csv_with_labels, delimiter=",", skiprows=1, usecols=[0],
                                  dtype=str), return_counts=True)[1]
    xs = [np.frombuffer(base64.b64decode(t["x"]["bdata"]), np.float32) for t in traces]
    assert [x.size for x in xs] == counts.tolist()
    np.testing.assert_allclose(np.sort(np.concatenate(xs)), np.sort(np.load(emb)[:, 0]),
                               rtol=1e-6)

    tr_page = tmp_path / "new.htm"
    assert main(["transform", str(save), str(csv_with_labels), "--labels", "kind", "--out",
                 str(tmp_path / "t.csv"), "--plot", str(tr_page), "--title", "held out",
                 "-q"]) == 0
    assert [t["name"] for t in _traces(tr_page)] == ["c0", "c1", "c2"]
    assert "<title>held out</title>" in tr_page.read_text()


def test_demo_writes_the_page_too(tmp_path, capsys, monkeypatch):
    pytest.importorskip("plotly")
    monkeypatch.setattr("pumap.cli.commands.DEMO_SYNTHETIC_POINTS", 200)
    assert main(["demo", "--out-dir", str(tmp_path), "--synthetic", "-q", *FAST]) == 0
    out = capsys.readouterr().out
    assert f"page:      {tmp_path / 'pumap-demo.html'}" in out
    assert len(_traces(tmp_path / "pumap-demo.html")) == 6  # make_clusters' six classes


def test_html_plot_without_plotly_names_the_extra(tmp_path, csv_with_labels, capsys,
                                                  monkeypatch):
    monkeypatch.setitem(sys.modules, "plotly", None)  # makes `import plotly` fail
    save = tmp_path / "m.safetensors"
    code = main(["fit", str(csv_with_labels), "--save", str(save), "--plot", "p.html", *FAST])
    err = capsys.readouterr().err
    assert code == 1 and 'pip install "pumap[interactive]"' in err and "--plot p.html" in err
    assert not save.exists()  # refused before fitting
    monkeypatch.setattr("pumap.cli.commands.DEMO_SYNTHETIC_POINTS", 200)
    assert main(["demo", "--out-dir", str(tmp_path), "--synthetic", "-q", *FAST]) == 0
    out = capsys.readouterr().out
    assert 'page:      none (pumap.plot.interactive needs plotly: pip install' in out
    assert (tmp_path / "pumap-demo.csv").is_file() and not (tmp_path / "pumap-demo.html").exists()


def test_unknown_plot_suffix_lists_html(tmp_path, csv_with_labels, capsys):
    code = main(["fit", str(csv_with_labels), "--save", str(tmp_path / "m.safetensors"),
                 "--plot", "p.jpg", *FAST])
    assert code == 2 and ".pdf or .html" in capsys.readouterr().err
