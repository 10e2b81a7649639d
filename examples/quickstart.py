"""Quickstart: fit pumap on handwritten digits, embed held-out digits, plot both.

    python examples/quickstart.py --out digits.png

Needs scikit-learn for the digits and matplotlib for the plot
(``pip install 'pumap[sklearn,plot]'``).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from pumap import Umap
from pumap.datasets import load_digits
from pumap.plot import PLOT_SUFFIXES, save_points


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="pumap quickstart on scikit-learn's digits")
    parser.add_argument("--n", type=int, help="use only the first N digits (default: all 1797)")
    parser.add_argument("--epochs", type=int, help="training epochs (default: pumap's)")
    parser.add_argument("--out", type=Path, default=Path("digits.png"),
                        help="plot to write: .png, .svg or .pdf (default digits.png)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    args = parser.parse_args(argv)
    if args.out.suffix.lower() not in PLOT_SUFFIXES:
        parser.error(f"--out must end in {', '.join(PLOT_SUFFIXES)}, got {args.out}")

    # 1. Data: 1797 8x8 digits (or the first --n), a fifth of them held out.
    X, y = load_digits()
    X, y = X[: args.n], y[: args.n]
    order = np.random.default_rng(args.seed).permutation(len(X))
    test, train = order[: len(X) // 5], order[len(X) // 5 :]

    # 2. Fit the encoder on the training digits.
    options = {"seed": args.seed, "verbose": not args.quiet}
    if args.epochs is not None:
        options["n_epochs"] = args.epochs
    fitted = Umap(**options).fit(X[train])

    # 3. Embed unseen digits with one forward pass.
    held_out = fitted.transform(X[test])

    # 4. Plot both: training digits as discs, held-out digits as rings.
    save_points(args.out, fitted, y[train], held_out=held_out, held_out_labels=y[test],
                title="digits: training (discs) and held-out (rings)")
    print(f"embedded {len(train)} training and {len(test)} held-out digits; wrote {args.out}")

    # 5. How well are neighbourhoods kept? (1.0 is perfect.)
    try:
        from sklearn.manifold import trustworthiness
    except ImportError:
        return 0
    print(f"trustworthiness (training): {trustworthiness(X[train], fitted.embedding):.3f}")
    print(f"trustworthiness (held-out): {trustworthiness(X[test], held_out):.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
