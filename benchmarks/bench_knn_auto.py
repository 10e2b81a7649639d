"""What ``knn_method="auto"`` does on the CPU between the exact search's edge and NN-Descent:
IVF with its recall guard (`pumap.knn.choose.guarded_ivf_search`), on real and synthetic data.

Each case runs in a fresh process (as a user's script would), so a hand-over to NN-Descent
pays pynndescent's numba compilation as it would there. The recall is the guard's own estimate
(500 rows searched exactly); ``ivf_tries`` lists each IVF search's probes and recall.

    python benchmarks/bench_knn_auto.py \
        --cases fmnist,synthetic100k-64,synthetic200k-64,noise100k-64
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch
from _common import machine_info, markdown_table, synthetic

FMNIST_DIR = Path("/usr/share/datasets/fashion-mnist")
K = 14  # n_neighbors=15 counts the point itself


def load(case: str) -> np.ndarray:
    """``fmnist`` (the 60,000 training images), ``synthetic<N>k-<d>`` (Gaussian clusters in 16
    latent dimensions, `_common.synthetic`) or ``noise<N>k-<d>`` (isotropic Gaussian noise:
    no structure, IVF's worst case)."""
    if case == "fmnist":
        from pumap.datasets import load_mnist

        return load_mnist(FMNIST_DIR, "train")[0]
    kind, _, d = case.partition("-")
    n = int(kind.removesuffix("k").removeprefix("synthetic").removeprefix("noise")) * 1000
    if kind.startswith("synthetic"):
        return synthetic(n, int(d), seed=0)
    return np.random.default_rng(0).standard_normal((n, int(d)), dtype=np.float32)


def run_case(case: str) -> dict:
    from pumap.knn import choose_method
    from pumap.knn.choose import guarded_ivf_search

    x = torch.from_numpy(np.ascontiguousarray(load(case), dtype=np.float32))
    cpu = torch.device("cpu")
    start = time.perf_counter()
    _, record = guarded_ivf_search(x, K, "euclidean", seed=0, device=cpu)
    seconds = time.perf_counter() - start
    return {
        "case": case, "n": x.shape[0], "d": x.shape[1],
        "auto_chooses": choose_method(x.shape[0], "euclidean", "auto", cpu, x.shape[1]),
        "seconds": round(seconds, 1), "method": record["method"], "recall": record["recall"],
        "ivf_tries": record["ivf_tries"],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", default="fmnist,synthetic100k-64,synthetic200k-64")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(run_case(args.child)))
        return 0
    rows = []
    for case in args.cases.split(","):
        if case == "fmnist" and not FMNIST_DIR.exists():
            print("Fashion-MNIST is absent (apt-get install dataset-fashion-mnist): skipped")
            continue
        done = subprocess.run([sys.executable, __file__, "--child", case],
                              capture_output=True, text=True, check=True)
        rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
        print(json.dumps(rows[-1]), file=sys.stderr)
    print(f"machine: {json.dumps(machine_info())}")
    print(markdown_table(rows, ["case", "n", "d", "auto_chooses", "seconds", "method",
                                "recall", "ivf_tries"]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
