"""Fit and transform on MNIST 10k (80/20 split): pumap against umap-learn, in one run.

Each library runs in its own fresh Python process (so compile times and peak memory are what a
user's script pays), one after the other, on the same split. Reports fit seconds (pumap's split
into k-NN, graph, warm start, training), transform points per second, trustworthiness (k=15) of
the training embedding, 10-NN accuracy of the held-out points embedded with ``transform``, and
peak resident memory; then the ratios pumap / umap-learn.

    python benchmarks/bench_umap.py --data-dir ../shared/data/mnist
    python benchmarks/bench_umap.py --data-dir ../shared/data/mnist --libs pumap --set n_epochs=20
    # 50,000 x 100 Gaussian clusters (pumap.datasets.make_clusters, 10 clusters): 40,000 fitted
    python benchmarks/bench_umap.py --data clusters --n-train 40000 --n-test 10000 --dims 100
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

TRUST_ROWS = 10_000  # trustworthiness on at most this many training rows


def split(args: argparse.Namespace) -> tuple[np.ndarray, ...]:
    from pumap.datasets import load_mnist, make_clusters

    n_train, seed = args.n_train, args.seed
    if args.data == "clusters":
        x, y = make_clusters(n_train + args.n_test, args.dims, n_clusters=10, seed=seed)
    else:
        x, y = load_mnist(args.data_dir)
    order = np.random.default_rng(seed).permutation(len(x))
    train, test = order[:n_train], order[n_train:]
    return x[train], y[train], x[test], y[test]


def quality(x_train, y_train, e_train, e_test, y_test) -> dict[str, float]:
    from sklearn.manifold import trustworthiness
    from sklearn.neighbors import KNeighborsClassifier

    knn = KNeighborsClassifier(n_neighbors=10).fit(e_train, y_train)
    # sklearn's trustworthiness holds two n x n matrices (25 GB at n = 40,000): above
    # TRUST_ROWS rows it is computed on a seeded sample of them
    rows = np.arange(len(x_train))
    if len(rows) > TRUST_ROWS:
        rows = np.sort(np.random.default_rng(0).choice(len(rows), TRUST_ROWS, replace=False))
    return {
        "trustworthiness": float(trustworthiness(x_train[rows], e_train[rows], n_neighbors=15)),
        "heldout_knn_accuracy": float(knn.score(e_test, y_test)),
    }


def run_one(lib: str, args: argparse.Namespace) -> dict:
    """Fit and transform with one library in this process; return the measurements."""
    x_train, y_train, x_test, y_test = split(args)
    result: dict = {"lib": lib, "threads": args.threads}
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    if lib == "pumap":
        from pumap import Umap

        options = {k: json.loads(v) for k, v in (s.split("=", 1) for s in args.set)}
        start = time.perf_counter()
        fitted = Umap(seed=args.seed, verbose=False, device=args.device, **options).fit(x_train)
        result["fit_s"] = time.perf_counter() - start
        result["stages_s"] = fitted.timings
        result["options"] = options
        embed_train, transform = fitted.embedding, fitted.transform
        transform(x_test[:10])  # warm the forward pass once, as any second call would be
    else:
        import umap

        start = time.perf_counter()
        model = umap.UMAP(n_neighbors=args.n_neighbors, random_state=args.seed).fit(x_train)
        result["fit_s"] = time.perf_counter() - start
        embed_train, transform = model.embedding_, model.transform
    start = time.perf_counter()
    embed_test = transform(x_test)
    result["transform_points_per_s"] = len(x_test) / (time.perf_counter() - start)
    # Peak memory of the fit and the held-out transform, before the throughput run below.
    result["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    if lib == "pumap":  # 2,000 points is too few to time a forward pass well: time 200,000 too
        big = np.tile(x_test, (100, 1))
        transform(big[:65536])
        start = time.perf_counter()
        transform(big)
        result["transform_points_per_s_200k"] = len(big) / (time.perf_counter() - start)
    result.update(quality(x_train, y_train, embed_train, embed_test, y_test))
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="mnist", choices=["mnist", "clusters"])
    parser.add_argument("--data-dir", help="folder with the MNIST IDX gz files (--data mnist)")
    parser.add_argument("--n-test", type=int, default=10000, help="clusters: held-out points")
    parser.add_argument("--dims", type=int, default=100, help="clusters: dimensions")
    parser.add_argument("--libs", default="pumap,umap-learn", help="comma-separated")
    parser.add_argument("--n-train", type=int, default=8000)
    parser.add_argument("--n-neighbors", type=int, default=15,
                        help="the point itself counted, in both libraries")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--set", action="append", default=[], help="pumap option NAME=JSON")
    parser.add_argument(
        "--threads",
        type=int,
        help="CPU threads for both libraries (torch.set_num_threads, NUMBA_NUM_THREADS); "
        "umap-learn with a random_state optimises on one thread whatever this says",
    )
    parser.add_argument("--json", help="also write the results here")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.data == "mnist" and not args.data_dir:
        parser.error("--data mnist needs --data-dir (the folder with MNIST's IDX gz files)")

    if args.child:
        print(json.dumps(run_one(args.child, args)))
        return 0

    results = []
    for lib in args.libs.split(","):
        cmd = [sys.executable, str(Path(__file__).resolve()), "--child", lib, *sys.argv[1:]]
        env = dict(os.environ)
        if args.threads:
            env["NUMBA_NUM_THREADS"] = str(args.threads)
        out = subprocess.run(cmd, capture_output=True, text=True, check=False, env=env)
        if out.returncode != 0:
            print(out.stderr, file=sys.stderr)
            return out.returncode
        results.append(json.loads(out.stdout.strip().splitlines()[-1]))
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} CPUs, {platform.system()}, "
        f"Python {platform.python_version()}, threads: {args.threads or 'default'}"
    )
    print(report(results))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    return 0


def report(results: list[dict]) -> str:
    rows = [
        "| library | fit s | transform pts/s | trustworthiness | held-out 10-NN acc | peak MiB |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in results:
        pts = r.get("transform_points_per_s_200k", r["transform_points_per_s"])
        rows.append(
            f"| {r['lib']} | {r['fit_s']:.1f} | {pts:,.0f} | {r['trustworthiness']:.4f} | "
            f"{r['heldout_knn_accuracy']:.4f} | {r['peak_rss_mib']:.0f} |"
        )
    by = {r["lib"]: r for r in results}
    if "pumap" in by:
        stages = ", ".join(f"{k} {v:.2f}" for k, v in by["pumap"]["stages_s"].items())
        rows.append(f"\npumap stages (s): {stages}")
    if {"pumap", "umap-learn"} <= by.keys():
        p, u = by["pumap"], by["umap-learn"]
        rows.append(
            f"ratios pumap/umap-learn: fit time {p['fit_s'] / u['fit_s']:.2f}, transform speed "
            f"{p['transform_points_per_s_200k'] / u['transform_points_per_s']:.0f}x, "
            f"trustworthiness {p['trustworthiness'] - u['trustworthiness']:+.4f}, "
            f"held-out accuracy {p['heldout_knn_accuracy'] - u['heldout_knn_accuracy']:+.4f}"
        )
    return "\n".join(rows)


if __name__ == "__main__":
    sys.exit(main())
