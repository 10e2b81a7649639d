"""Going back from the embedding: held-out reconstruction error of pumap's decoder and of
umap-learn's ``inverse_transform``, one run.

The MNIST split used elsewhere (bench_quality.py's sweep): the first 8,000 rows of the MNIST
set in ``--mnist-dir`` for training, the last 2,000 held out; pixels scaled to [0, 1] (as
`pumap.datasets.load_mnist` returns them). For each method: fit on the training rows, embed
the held-out rows (pumap: ``transform``; umap-learn: its ``transform``), map them back
(``inverse_transform``) and report the mean squared error over held-out pixels, beside the
error of predicting the training mean. Sainburg et al. 2021 (2-D MNIST, 60k training rows)
report 0.0393 for umap-learn, 0.0374 for a separately trained decoder and 0.0360 for joint
training.

    python benchmarks/bench_inverse.py --mnist-dir ../shared/data/mnist --seeds 0
    python benchmarks/bench_inverse.py --methods separate,joint --joint-weight 1.0

Methods: ``separate`` (``Umap(decoder=True)``: the decoder trained after the encoder),
``joint`` (``reconstruction_weight=--joint-weight``), ``umap-learn``.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

METHODS = ("separate", "joint", "umap-learn")


def load_split(mnist_dir: str) -> tuple[np.ndarray, np.ndarray]:
    from pumap.datasets import load_mnist

    x, _ = load_mnist(mnist_dir)
    x = np.asarray(x, dtype=np.float32)
    return x[:8000], x[-2000:]


def run(method: str, xtr: np.ndarray, xte: np.ndarray, seed: int, args: argparse.Namespace):
    """(held-out reconstruction, fit seconds) of one method."""
    start = time.perf_counter()
    if method == "umap-learn":
        import umap

        model = umap.UMAP(random_state=seed).fit(xtr)
        fit_s = time.perf_counter() - start
        return model.inverse_transform(model.transform(xte)), fit_s
    from pumap import Umap

    options = {"decoder_epochs": args.decoder_epochs}
    if args.wide:  # bench_quality.py's forward-pass preset, decoder mirrored from it
        options.update(hidden_layers=(256, 256, 256), input_dropout=0.4, n_epochs=args.wide)
    if method == "joint":
        options["reconstruction_weight"] = args.joint_weight
    fitted = Umap(seed=seed, verbose=False, decoder=True, threads=1, **options).fit(xtr)
    fit_s = time.perf_counter() - start
    return fitted.inverse_transform(fitted.transform(xte)), fit_s


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mnist-dir", default="../shared/data/mnist")
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--joint-weight", type=float, default=1.0)
    parser.add_argument("--decoder-epochs", type=int, default=None)
    parser.add_argument("--wide", type=int, metavar="EPOCHS", default=None,
                        help="pumap with 3 x 256 hidden layers, input dropout 0.4 and EPOCHS "
                             "epochs (bench_quality.py's forward-pass preset: 2x automatic)")
    parser.add_argument("--out", help="append one JSON line per run to this file")
    args = parser.parse_args()
    xtr, xte = load_split(args.mnist_dir)
    baseline = float(np.mean((xte - xtr.mean(axis=0)) ** 2))
    print(f"predicting the training mean: held-out MSE {baseline:.4f}")
    print("| method | seed | held-out MSE | fit s |")
    print("|---|---|---|---|")
    for seed in args.seeds:
        for method in args.methods.split(","):
            recon, fit_s = run(method, xtr, xte, seed, args)
            mse = float(np.mean((np.asarray(recon, dtype=np.float64) - xte) ** 2))
            print(f"| {method} | {seed} | {mse:.4f} | {fit_s:.0f} |", flush=True)
            if args.out:
                row = {"method": method, "seed": seed, "mse": mse, "fit_s": fit_s,
                       "mean_mse": baseline, "joint_weight": args.joint_weight,
                       "decoder_epochs": args.decoder_epochs, "wide": args.wide}
                with open(args.out, "a") as fh:
                    fh.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
