"""IVF on a few principal components, re-ranked in all dimensions, against IVF on all of them.

Issue #21's "exact search after PCA" lead, on Fashion-MNIST's 60,000 training images: the
leading ``c`` axes (`pumap.data.pca.principal_axes`), `ivf_search` of the scores with 32 probes
for ``m * k`` candidates, then exact distances in the full space to keep ``k``. Recall is
measured on 2,000 random rows against their exact neighbours (self excluded).

    python benchmarks/bench_knn_pca.py --components 64 100 --multipliers 2 3
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from _common import machine_info, markdown_table

from pumap.data.pca import principal_axes
from pumap.knn.ivf import ivf_search

FMNIST_DIR = "/usr/share/datasets/fashion-mnist"
K = 15
N_PROBE = 32
RECALL_ROWS = 2000
RERANK_ROWS = 4096  # rows re-ranked at once


def exact_rows(x: torch.Tensor, rows: torch.Tensor, k: int) -> torch.Tensor:
    """The exact ``k`` nearest neighbours of ``x[rows]`` in ``x``, each row itself excluded."""
    dist = torch.cdist(x[rows], x)
    dist[torch.arange(len(rows)), rows] = float("inf")
    return dist.topk(k, largest=False).indices


def recall(found: torch.Tensor, truth: torch.Tensor) -> float:
    hits = [len(set(a.tolist()) & set(b.tolist())) for a, b in zip(found, truth, strict=True)]
    return float(np.mean(hits)) / truth.shape[1]


def rerank(x: torch.Tensor, candidates: torch.Tensor, k: int) -> torch.Tensor:
    """The ``k`` of each row's ``candidates`` nearest in the full space of ``x``."""
    out = torch.empty((x.shape[0], k), dtype=torch.int64)
    for lo in range(0, x.shape[0], RERANK_ROWS):
        hi = min(lo + RERANK_ROWS, x.shape[0])
        block = candidates[lo:hi]
        dist = (x[block] - x[lo:hi, None, :]).square().sum(dim=-1)
        out[lo:hi] = block.gather(1, dist.topk(k, largest=False).indices)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--components", type=int, nargs="+", default=[64, 100])
    parser.add_argument("--multipliers", type=int, nargs="+", default=[2, 3])
    parser.add_argument("--fmnist-dir", default=FMNIST_DIR)
    args = parser.parse_args()
    from pumap.datasets import load_mnist

    x = torch.from_numpy(np.ascontiguousarray(load_mnist(args.fmnist_dir, "train")[0], "float32"))
    rows = torch.randperm(x.shape[0], generator=torch.Generator().manual_seed(1))[:RECALL_ROWS]
    truth = exact_rows(x, rows, K)
    results = []
    start = time.perf_counter()
    graph = ivf_search(x, K, seed=0, n_probe=N_PROBE)
    results.append({"search": f"IVF, all {x.shape[1]} dimensions",
                    "seconds": round(time.perf_counter() - start, 1),
                    "recall": round(recall(graph.indices[rows], truth), 4)})
    for c in args.components:
        for m in args.multipliers:
            start = time.perf_counter()
            mean, axes = principal_axes(x, c, torch.Generator().manual_seed(0))
            scores = (x - mean) @ axes.T
            pca_s = time.perf_counter() - start
            candidates = ivf_search(scores, m * K, seed=0, n_probe=N_PROBE).indices
            ivf_s = time.perf_counter() - start - pca_s
            found = rerank(x, candidates, K)
            results.append({"search": f"PCA-{c}, {m * K} candidates",
                            "seconds": round(time.perf_counter() - start, 1),
                            "pca_s": round(pca_s, 1), "ivf_s": round(ivf_s, 1),
                            "recall": round(recall(found[rows], truth), 4)})
            print(results[-1], flush=True)
    print(machine_info())
    print(markdown_table(results, ["search", "seconds", "pca_s", "ivf_s", "recall"]))


if __name__ == "__main__":
    main()
