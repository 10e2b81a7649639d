"""File size and save time of `pumap.plot.save_points`, with and without rasterised points.

Draws ``n`` points in ten Gaussian clusters (seeded) and writes SVG, PDF and PNG files, once
with the point clouds as vector paths and once rasterised, printing one row per file. The
numbers chose `pumap.plot.RASTERIZE_ABOVE` and are quoted in pumap/plot/static.py's docstring::

    python benchmarks/bench_plot_raster.py --n 10000 100000
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from pumap.plot import save_points


def clusters(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 10, n)
    angle = labels * (2 * np.pi / 10)
    xy = rng.normal(size=(n, 2)) + 8 * np.stack([np.cos(angle), np.sin(angle)], axis=1)
    return xy, labels


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--formats", nargs="+", default=["svg", "pdf", "png"])
    args = parser.parse_args(argv)
    print(f"{'n':>9} {'format':>6} {'rasterised':>10} {'MB':>8} {'seconds':>8}")
    with tempfile.TemporaryDirectory() as tmp:
        for n in args.n:
            xy, labels = clusters(n)
            for fmt in args.formats:
                for raster in (False, True):
                    path = Path(tmp) / f"p.{fmt}"
                    start = time.perf_counter()
                    save_points(path, xy, labels, rasterized=raster)
                    seconds = time.perf_counter() - start
                    mb = path.stat().st_size / 1e6
                    print(f"{n:>9} {fmt:>6} {raster!s:>10} {mb:>8.2f} {seconds:>8.2f}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
