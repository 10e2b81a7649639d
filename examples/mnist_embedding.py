"""Embed MNIST digits in 2-D with pumap and draw them.

Fits on the first ``--n`` images of MNIST's test split and writes a scatter plot coloured by
digit (PNG, SVG or PDF by the suffix of ``--out``; needs matplotlib) and a CSV with columns
``x,y,label``::

    python examples/mnist_embedding.py --data-dir path/to/mnist --n 10000 --out mnist.png

``--data-dir`` is a folder holding ``t10k-images-idx3-ubyte.gz`` and
``t10k-labels-idx1-ubyte.gz``; without it the files are downloaded once into
``~/.cache/pumap/mnist`` (or ``$PUMAP_DATA/mnist``).
"""

from __future__ import annotations

import argparse
import csv
import logging
import time
from pathlib import Path

import numpy as np

from pumap import Umap
from pumap.datasets import fetch_mnist, load_mnist
from pumap.plot import PLOT_SUFFIXES, save_points


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, help="folder with the MNIST IDX .gz files")
    parser.add_argument("--n", type=int, default=10_000, help="images to embed (default 10000)")
    parser.add_argument("--epochs", type=int, help="training epochs (default: pumap's)")
    parser.add_argument("--out", type=Path, default=Path("mnist.png"),
                        help="plot to write: .png, .svg or .pdf (default mnist.png)")
    parser.add_argument("--csv", type=Path, help="CSV (x,y,label) to write")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    args = parser.parse_args(argv)
    if args.n < 2:
        parser.error("--n must be at least 2")
    if args.out.suffix.lower() not in PLOT_SUFFIXES:
        parser.error(f"--out must end in {', '.join(PLOT_SUFFIXES)}, got {args.out}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING if args.quiet else logging.INFO,
                        format="%(levelname)s %(name)s: %(message)s")
    if args.data_dir is not None:
        images, labels = load_mnist(args.data_dir, "test")
    else:
        images, labels = fetch_mnist(split="test")
    images, labels = images[: args.n], labels[: args.n]

    options = {"seed": args.seed, "device": args.device, "verbose": not args.quiet}
    if args.epochs is not None:
        options["n_epochs"] = args.epochs
    start = time.perf_counter()
    fitted = Umap(**options).fit(images)
    seconds = time.perf_counter() - start
    embedding = fitted.embedding

    title = f"pumap: {len(images):,} digits of the MNIST test split"
    save_points(args.out, embedding, labels, title=title)
    print(f"fitted {len(images)} images in {seconds:.1f} s on {fitted.device}; wrote {args.out}")
    if args.csv is not None:
        write_csv(args.csv, embedding, labels)
        print(f"wrote {args.csv}")
    return 0


def write_csv(path: Path, embedding: np.ndarray, labels: np.ndarray) -> None:
    """Write the embedding as ``x,y,label`` rows."""
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["x", "y", "label"])
        for (x, y), label in zip(embedding.tolist(), labels.tolist(), strict=True):
            writer.writerow([f"{x:.5g}", f"{y:.5g}", label])


if __name__ == "__main__":
    raise SystemExit(main())
