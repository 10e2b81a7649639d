"""Continued training (`FittedUmap.fit_more`): drift of the old points, quality of the new.

Fits on half the classes (digits 0-4), then fit_more with the other half (5-9, 80% of its
rows; the other 20% are held out), for several landmark weights and two graphs: landmarks and
new rows together (what fit_more does) or the new rows alone. Prints one JSON line per run.

    PYTHONPATH=src OMP_NUM_THREADS=1 taskset -c 1 python3 benchmarks/bench_landmarks.py \
        --data digits mnist8k
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
from _common import MNIST_DIR
from sklearn.neighbors import KNeighborsClassifier

from pumap import Umap
from pumap.datasets import load_digits, load_mnist
from pumap.training.landmarks import drift


def knn_accuracy(
    train: np.ndarray, labels: np.ndarray, test: np.ndarray, truth: np.ndarray
) -> float:
    return float(KNeighborsClassifier(10).fit(train, labels).score(test, truth))


def split(name: str, seed: int) -> tuple[np.ndarray, ...]:
    if name == "digits":
        X, y = load_digits()
    else:
        X, y = load_mnist(MNIST_DIR)
        X, y = X[:8000], y[:8000]
    old = y < 5
    rng = np.random.default_rng(seed)
    new_rows = rng.permutation(np.flatnonzero(~old))
    cut = int(0.8 * len(new_rows))
    train, held = np.sort(new_rows[:cut]), np.sort(new_rows[cut:])
    return X[old], y[old], X[train], y[train], X[held], y[held]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", nargs="+", default=["digits"], choices=["digits", "mnist8k"])
    parser.add_argument("--weights", nargs="+", type=float, default=[0.0, 1.0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--only-all-landmarks", action="store_true",
                        help="run only the fit_more with every old row as a landmark")
    args = parser.parse_args()
    for name in args.data:
        Xo, yo, Xn, yn, Xh, yh = split(name, args.seed)
        clock = time.perf_counter()
        fitted = Umap(seed=args.seed, verbose=False).fit(Xo)
        base = {"data": name, "n_old": len(Xo), "n_new": len(Xn), "n_held": len(Xh)}
        print(json.dumps({**base, "run": "fit old", "seconds": time.perf_counter() - clock}),
              flush=True)
        everything = Umap(seed=args.seed, verbose=False).fit(np.concatenate([Xo, Xn]))
        emb_new = everything.embedding[len(Xo):]
        acc = knn_accuracy(emb_new, yn, everything.transform(Xh), yh)
        print(json.dumps({**base, "run": "fresh fit old+new", "new_knn10": acc}), flush=True)
        # (weight, joint graph, Adam resumed, every old row a landmark)
        runs = [(w, True, True, False) for w in args.weights]
        runs += [(w, False, True, False) for w in args.weights]
        runs += [(1.0, True, False, False)]  # a fresh Adam instead of the fit's
        if len(Xo) > len(fitted.landmark_rows):
            runs += [(1.0, True, True, True)]  # landmarks=X_old, not the fit's sample
        if args.only_all_landmarks:
            runs = runs[-1:]
        for weight, joint, resume, every_row in runs:
            state = fitted.optimizer_state
            if not resume:
                fitted.optimizer_state = None
            clock = time.perf_counter()
            more = fitted.fit_more(
                Xn, landmark_weight=weight, joint_graph=joint,
                landmarks=Xo if every_row else None,
            )
            seconds = time.perf_counter() - clock
            fitted.optimizer_state = state
            old_after = more.transform(Xo)
            moved = drift(fitted.embedding, old_after)
            row = {
                **base, "run": "fit_more", "landmark_weight": weight,
                "graph": "landmarks+new" if joint else "new only", "adam": "resumed" if resume
                else "fresh", "landmarks": len(Xo) if every_row else len(fitted.landmark_rows),
                "drift_median": round(moved["median"], 4),
                "drift_p95": round(moved["p95"], 4),
                "new_knn10": knn_accuracy(more.embedding, yn, more.transform(Xh), yh),
                # Held-out new points against old and new together: low when the new
                # classes are laid over the old ones.
                "all_knn10": knn_accuracy(
                    np.concatenate([old_after, more.embedding]), np.concatenate([yo, yn]),
                    more.transform(Xh), yh,
                ),
                "seconds": round(seconds, 1),
            }
            print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
