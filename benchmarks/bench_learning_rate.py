"""Fits over a range of learning rates: where Adam's rate ruins a fit, and how a collapsed
embedding looks next to a good one (docs/benchmarks.md, "Learning rate and collapse").

For each data set, seed and ``learning_rate`` it prints one JSON line: trustworthiness
(k=15), the final epoch's loss, the loss of a fully collapsed embedding (every point at one
place, `pumap.training.collapse.collapsed_loss`) and the embedding's spread (RMS distance to
its centroid) divided by the curve's half-membership distance
(`pumap.training.collapse.curve_scale`): the two numbers the collapse check reads. Pass
``--check-off`` to run the fits without the check (it would stop the collapsed ones).

    OMP_NUM_THREADS=1 taskset -c 0 python benchmarks/bench_learning_rate.py --seeds 0 1
"""

from __future__ import annotations

import argparse
import json
import math

import numpy as np

import pumap.training.collapse as collapse
import pumap.umap as umap_module
from pumap import TrainingDiverged, Umap
from pumap.datasets import load_digits, make_clusters

DATASETS = {
    "digits": lambda: load_digits()[0],
    "clusters": lambda: make_clusters(2000, n_features=20, n_clusters=5, seed=0)[0],
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rates", type=float, nargs="+",
                        default=[1e-3, 3e-3, 1e-2, 3e-2, 0.1, 0.3, 1.0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS), choices=list(DATASETS))
    parser.add_argument("--check-off", action="store_true", help="fit without the collapse check")
    args = parser.parse_args()
    from sklearn.manifold import trustworthiness

    if args.check_off:
        umap_module.check_not_collapsed = lambda *a, **k: None  # measure what the check would see
    for name in args.datasets:
        x = DATASETS[name]()
        for rate in args.rates:
            for seed in args.seeds:
                row = {"data": name, "learning_rate": rate, "seed": seed}
                try:
                    fitted = Umap(learning_rate=rate, seed=seed, verbose=False,
                                  device="cpu").fit(x)
                except (TrainingDiverged, ValueError) as err:
                    row["error"] = f"{type(err).__name__}: {err}"
                    print(json.dumps(row), flush=True)
                    continue
                emb = fitted.embedding
                spread = float(np.sqrt(((emb - emb.mean(axis=0)) ** 2).sum(axis=1).mean()))
                cfg = fitted.config
                row.update(
                    trustworthiness=round(float(trustworthiness(x, emb, n_neighbors=15)), 4),
                    final_loss=round(fitted.losses[-1], 4),
                    collapsed_loss=round(collapse.collapsed_loss(
                        fitted.a, fitted.b, cfg.negative_sample_rate, cfg.repulsion_strength), 2),
                    spread_over_scale=float(
                        f"{spread / collapse.curve_scale(fitted.a, fitted.b):.3g}"
                    ),
                )
                row["finite"] = math.isfinite(row["final_loss"])
                print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
