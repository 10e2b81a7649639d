"""The interactive page in a real browser: headless Chromium, opened from a file, offline.

Chromium is the system's (Debian package ``chromium``; ``$PUMAP_CHROMIUM`` names another),
driven by playwright (extra ``browser``); without either the tests are skipped. WebGL runs
in software (SwiftShader), so no GPU is needed. Every request that is not for a ``file:``,
``data:`` or ``blob:`` URL is refused and recorded, and the tests check there was none.
"""

from __future__ import annotations

import io
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from pumap.plot import interactive

pytest.importorskip("plotly")
sync_api = pytest.importorskip("playwright.sync_api")
Image = pytest.importorskip("PIL.Image")


CHROMIUM = os.environ.get("PUMAP_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--use-angle=swiftshader", "--enable-unsafe-swiftshader",
        "--disable-gpu-sandbox", "--disable-background-networking",
        "--disable-component-update", "--no-first-run"]
CLASSES = {"alpha": "#1f77b4", "beta": "#ff7f0e", "gamma": "#2ca02c"}  # Category10's first 3
LONE = 5  # the row of a point far from the others, to hover
TIMEOUT_MS = 120_000  # a loaded machine is slow, not broken
PLOT = "document.querySelector('.js-plotly-plot')"

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"no Chromium at {CHROMIUM}")


def _page_data() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Three clusters of 300 points; row `LONE` moved far out; 4 new points of class beta."""
    rng = np.random.default_rng(0)
    codes = np.repeat(np.arange(3), 300)
    centres = np.array([[0.0, 0.0], [10.0, 0.0], [5.0, 9.0]])
    xy = centres[codes] + rng.normal(scale=1.2, size=(900, 2))
    xy[LONE] = [16.0, 12.0]
    labels = np.array(list(CLASSES))[codes]
    return xy, labels, centres[1] + rng.normal(scale=0.5, size=(4, 2))


def _open(pw, path: Path, refused: list[str]):
    """A tab of an offline Chromium showing `path`, refusing (and recording) remote requests."""

    def refuse(route) -> None:
        if route.request.url.startswith(("file:", "data:", "blob:")):
            route.continue_()
        else:
            refused.append(route.request.url)
            route.abort()

    browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
    context = browser.new_context(viewport={"width": 1000, "height": 700})
    context.set_offline(True)
    context.route("**/*", refuse)
    tab = context.new_page()
    tab.set_default_timeout(TIMEOUT_MS)
    tab.goto(path.as_uri())
    tab.wait_for_function(f"() => {{ const g = {PLOT}; return g && g._fullLayout "
                          "&& g._fullData && g._fullData.length > 0 }")
    return browser, tab


@pytest.fixture(scope="module")
def pw():
    """One playwright driver for the module (the sync API allows one at a time)."""
    with sync_api.sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="module")
def page(pw, tmp_path_factory):
    """The page of `_page_data`, opened offline; yields (page, refused requests, labels)."""
    xy, labels, new = _page_data()
    path = tmp_path_factory.mktemp("page") / "map.html"
    interactive(xy, labels, hover={"code": np.arange(900) * 10}, new=new,
                new_labels=["beta"] * 4, path=path, width=700, height=600)
    refused: list[str] = []
    browser, tab = _open(pw, path, refused)
    yield tab, refused, labels
    browser.close()


def _hover_text(tab, x: float, y: float) -> str:
    """The hover box's text, spaces removed, after moving the mouse onto data point (x, y)."""
    px, py = _screen_position(tab, x, y)
    tab.mouse.move(px - 40, py - 40)
    tab.mouse.move(px, py)
    text = ""
    for _ in range(50):
        text = " ".join(tab.locator(".hoverlayer .hovertext").all_text_contents())
        if text:
            break
        tab.wait_for_timeout(200)
    return text.replace(" ", "")


def _frame_box(tab) -> tuple[int, int, int, int]:
    """Left, top, right, bottom of the plot area on the screen."""
    return tuple(int(v) for v in tab.evaluate(
        f"() => {{ const g = {PLOT}; const r = g.getBoundingClientRect(); const s = "
        "g._fullLayout._size; return [r.left + s.l, r.top + s.t, r.left + s.l + s.w, "
        "r.top + s.t + s.h] }"))


def _screen_position(tab, x: float, y: float) -> tuple[float, float]:
    """Where the data point (x, y) is on the screen, from the axes' data-to-pixel maps."""
    return tuple(tab.evaluate(
        f"([x, y]) => {{ const g = {PLOT}; const r = g.getBoundingClientRect(); "
        "const L = g._fullLayout; return [r.left + L._size.l + L.xaxis.l2p(x), "
        "r.top + L._size.t + L.yaxis.l2p(y)] }", [float(x), float(y)]))


def _near(image: np.ndarray, colour: str, tolerance: int = 60) -> np.ndarray:
    rgb = np.array([int(colour[i:i + 2], 16) for i in (1, 3, 5)])
    return np.abs(image.astype(np.int32) - rgb).sum(-1) < tolerance


def test_nothing_is_fetched_from_the_network(page) -> None:
    _, refused, _ = page
    assert refused == []


def test_points_are_drawn_in_the_label_colours(page, tmp_path: Path) -> None:
    tab, _, _ = page
    shot = tab.screenshot(path=str(tmp_path / "page.png"))
    image = np.asarray(Image.open(io.BytesIO(shot)).convert("RGB"))
    left, top, right, bottom = _frame_box(tab)
    frame = image[top:bottom, left:right]
    background = (frame.astype(np.int32).sum(-1) >= 3 * 245).mean()
    assert background < 0.95  # many drawn pixels, not a blank frame
    for name, colour in CLASSES.items():
        # 300 points of 6-7 px each overlap, but cover well over 2,000 pixels
        assert _near(frame, colour).sum() > 2000, name
    assert _near(frame, "#9467bd").sum() < 50  # a colour no class has: a control


def test_the_legend_names_the_classes(page) -> None:
    tab, _, _ = page
    names = [t.strip() for t in tab.locator(".legendtext").all_text_contents()]
    assert names == [*CLASSES, "new points"]
    shot = tab.screenshot()
    image = np.asarray(Image.open(io.BytesIO(shot)).convert("RGB"))
    box = tab.locator(".legend").bounding_box()
    legend = image[int(box["y"]):int(box["y"] + box["height"]),
                   int(box["x"]):int(box["x"] + box["width"])]
    for colour in CLASSES.values():  # each entry's marker is drawn in its class's colour
        assert _near(legend, colour).sum() > 10


def test_hovering_a_point_shows_its_label_and_row(page) -> None:
    tab, _, labels = page
    text = _hover_text(tab, *_page_data()[0][LONE])
    assert f"label:{labels[LONE]}" in text
    assert f"row:{LONE}" in text and f"code:{LONE * 10}" in text


def test_hover_without_extra_columns_and_on_a_new_point(pw, tmp_path: Path) -> None:
    xy, labels, _ = _page_data()
    path = tmp_path / "plain.html"
    interactive(xy, labels, new=[[16.0, -6.0]], new_labels=["gamma"], path=path)
    refused: list[str] = []
    browser, tab = _open(pw, path, refused)
    on_point = _hover_text(tab, *xy[LONE])
    tab.mouse.move(1, 1)
    tab.wait_for_timeout(300)
    on_new = _hover_text(tab, 16.0, -6.0)
    browser.close()
    assert refused == []
    assert f"label:{labels[LONE]}" in on_point and f"row:{LONE}" in on_point
    assert "label:gamma" in on_new and "newpoint:0" in on_new
