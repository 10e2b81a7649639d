"""File size, build time, build memory and time to first paint of interactive embedding pages.

Builds one self-contained HTML page of ``n`` points in ten labelled clusters (hover text: the
class and the row id) with each drawing library, in a fresh process (so that its peak memory is
the page's), then opens it from a file URL in headless Chromium (software WebGL, SwiftShader)
and times how long until the points are on the screen: from the start of navigation until a
screenshot shows at least ``PAINTED`` pixels in the classes' colours. The libraries:

- ``pumap``: `pumap.plot.interactive` (Bokeh, inline resources, WebGL backend);
- ``bokeh``: the same page made with Bokeh directly, one renderer per class;
- ``plotly``: Plotly's ``scattergl``, one trace per class, plotly.js inlined;
- ``datamapplot``: ``datamapplot.create_interactive_plot`` (when installed; it fetches fonts
  and scripts from the network unless told otherwise, so its page is not offline).

Run pinned to one core as the numbers in docs/benchmarks.md were::

    OMP_NUM_THREADS=1 taskset -c 0 python benchmarks/bench_interactive.py \
        --n 10000 100000 1000000 --libs pumap plotly

Needs Chromium at ``--chromium`` (default /usr/bin/chromium) and the playwright package.
``--screenshot PAGE.html OUT.png`` instead saves the picture in docs/interactive.md.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

PAINTED = 2000
"""Pixels in the classes' colours that count as "the points are drawn"."""
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--use-angle=swiftshader", "--enable-unsafe-swiftshader",
    "--disable-gpu-sandbox", "--disable-background-networking", "--disable-component-update",
    "--no-first-run",
]
PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
           "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"]


def clusters(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``n`` points in ten Gaussian clusters on a circle, and their class (0-9)."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 10, n)
    angle = labels * (2 * np.pi / 10)
    xy = rng.normal(size=(n, 2)) + 8 * np.stack([np.cos(angle), np.sin(angle)], axis=1)
    return xy.astype(np.float32), labels


def build_pumap(path: Path, xy: np.ndarray, labels: np.ndarray) -> None:
    from pumap.plot import interactive

    interactive(xy, np.array([f"class {c}" for c in range(10)])[labels], path=path)


def build_bokeh(path: Path, xy: np.ndarray, labels: np.ndarray) -> None:
    from bokeh.embed import file_html
    from bokeh.models import ColumnDataSource, HoverTool
    from bokeh.plotting import figure
    from bokeh.resources import INLINE

    fig = figure(output_backend="webgl", width=800, height=700, match_aspect=True)
    for c in range(10):
        rows = np.flatnonzero(labels == c)
        source = ColumnDataSource({"x": xy[rows, 0], "y": xy[rows, 1], "row": rows})
        fig.scatter("x", "y", source=source, size=3, color=PALETTE[c], legend_label=f"class {c}",
                    name=f"class {c}")
    fig.add_tools(HoverTool(tooltips=[("label", "$name"), ("row", "@row")]))
    path.write_text(file_html(fig, INLINE, "bench"), encoding="utf-8")


def build_plotly(path: Path, xy: np.ndarray, labels: np.ndarray) -> None:
    import plotly.graph_objects as go

    fig = go.Figure()
    for c in range(10):
        rows = np.flatnonzero(labels == c)
        fig.add_trace(go.Scattergl(
            x=xy[rows, 0], y=xy[rows, 1], mode="markers", name=f"class {c}", customdata=rows,
            marker={"size": 3, "color": PALETTE[c]},
            hovertemplate="%{fullData.name}<br>row %{customdata}<extra></extra>"))
    fig.update_layout(width=800, height=700, yaxis_scaleanchor="x")
    fig.write_html(path, include_plotlyjs=True, full_html=True)


def build_datamapplot(path: Path, xy: np.ndarray, labels: np.ndarray) -> None:
    import datamapplot

    names = np.array([f"class {c}" for c in range(10)])[labels]
    plot = datamapplot.create_interactive_plot(xy, names, hover_text=[str(i) for i in
                                                                      range(len(xy))],
                                               inline_data=True, offline_mode=False)
    plot.save(str(path))


BUILDERS = {"pumap": build_pumap, "bokeh": build_bokeh, "plotly": build_plotly,
            "datamapplot": build_datamapplot}


def build_in_child(lib: str, n: int, path: Path) -> dict[str, float]:
    """Build one page in a fresh Python (`build_here`); its build seconds and peak memory (MB)."""
    out = subprocess.run([sys.executable, __file__, "--build", lib, str(n), str(path)],
                         check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def build_here(lib: str, n: int, path: Path) -> dict[str, float]:
    """Build one page in this process, after a page of 100 points (so imports are not timed)."""
    BUILDERS[lib](path, *clusters(100))
    xy, labels = clusters(n)
    start = time.perf_counter()
    BUILDERS[lib](path, xy, labels)
    seconds = time.perf_counter() - start
    return {"seconds": seconds,
            "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def coloured_pixels(png: bytes) -> int:
    """Pixels within a small distance of one of `PALETTE`'s colours (any alpha blend aside)."""
    import io

    from PIL import Image

    image = np.asarray(Image.open(io.BytesIO(png)).convert("RGB"), dtype=np.int16)
    near = np.zeros(image.shape[:2], dtype=bool)
    for colour in PALETTE:
        rgb = np.array([int(colour[i:i + 2], 16) for i in (1, 3, 5)], np.int16)
        near |= np.abs(image - rgb).sum(-1) < 40
    return int(near.sum())


def first_paint(url: str, chromium: str, timeout: float) -> tuple[float, int]:
    """Seconds from navigation until `PAINTED` coloured pixels show, and requests to non-files."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1000, "height": 800})
        remote: list[str] = []
        page.on("request", lambda r: remote.append(r.url) if not r.url.startswith(
            ("file:", "data:", "blob:")) else None)
        start = time.perf_counter()
        page.goto(url, wait_until="commit", timeout=timeout * 1000)
        while time.perf_counter() - start < timeout:
            try:
                shot = page.screenshot()
            except Exception:  # the page is still loading: no frame to capture yet
                shot = None
            if shot is not None and coloured_pixels(shot) >= PAINTED:
                seconds = time.perf_counter() - start
                break
            time.sleep(0.05)
        else:
            seconds = float("nan")
        browser.close()
    return seconds, len(remote)


def screenshot(page: Path, png: Path, chromium: str) -> None:
    """A small PNG of a pumap page with the mouse on one point (the docs' picture)."""
    from PIL import Image
    from playwright.sync_api import sync_playwright

    plot = "document.querySelector('.js-plotly-plot')"
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        tab = browser.new_page(viewport={"width": 820, "height": 720})
        tab.goto(page.as_uri())
        tab.wait_for_function(f"() => {plot} && {plot}._fullData", timeout=120_000)
        x, y = tab.evaluate(
            f"() => {{ const g = {plot}; const t = g._fullData[3]; const L = g._fullLayout;"
            "const r = g.getBoundingClientRect(); const i = Math.floor(t.x.length / 2);"
            "return [r.left + L._size.l + L.xaxis.l2p(t.x[i]),"
            "r.top + L._size.t + L.yaxis.l2p(t.y[i])] }")
        tab.mouse.move(x, y)
        tab.wait_for_timeout(1500)
        tab.screenshot(path=str(png))
        browser.close()
    Image.open(png).convert("RGB").quantize(64).save(png, optimize=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--libs", nargs="+", default=["pumap", "plotly"], choices=BUILDERS)
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds per page")
    parser.add_argument("--screenshot", nargs=2, metavar=("HTML", "PNG"),
                        help="only save a PNG of a pumap page, the mouse on one point")
    parser.add_argument("--build", nargs=3, metavar=("LIB", "N", "PATH"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.build:
        lib, n, path = args.build
        print(json.dumps(build_here(lib, int(n), Path(path))))
        return 0
    if args.screenshot:
        screenshot(Path(args.screenshot[0]), Path(args.screenshot[1]), args.chromium)
        return 0
    print(f"# {platform.processor() or platform.machine()}, python {platform.python_version()}")
    print(f"{'library':>11} {'n':>9} {'MB':>7} {'build s':>8} {'build peak MB':>13} "
          f"{'first paint s':>13} {'remote requests':>15}")
    with tempfile.TemporaryDirectory() as tmp:
        for n in args.n:
            for lib in args.libs:
                path = Path(tmp) / f"{lib}-{n}.html"
                built = build_in_child(lib, n, path)
                mb = path.stat().st_size / 1e6
                paint, remote = first_paint(path.as_uri(), args.chromium, args.timeout)
                print(f"{lib:>11} {n:>9} {mb:>7.1f} {built['seconds']:>8.1f} "
                      f"{built['peak_mb']:>13.0f} {paint:>13.1f} {remote:>15}", flush=True)
                path.unlink()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
