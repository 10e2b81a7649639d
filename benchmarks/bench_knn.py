"""Parity and speed of pumap's k-NN building blocks at one size, against float64 and others.

Parity (against a float64 exact reference, self excluded, ties broken by index):
  * pairwise: max |pumap.pairwise_distances - float64| on a block of query rows vs all points;
  * k-NN: index match rate (plain and with ties at the k-th distance counted as matches),
    mean |distance error| and the L1 distance between the two distance histograms.
Speed (median milliseconds of --runs after one warm-up): pairwise (that block), top-k on
it, end to end ``exact_knn``. Compared in the same run with scikit-learn's brute-force
``NearestNeighbors`` and with pynndescent (whose first call in this process, numba compile
included, is shown separately from its warm median; recall against the reference).

Timings alternate between methods run by run, so that a busy machine slows them alike.

    python benchmarks/bench_knn.py --data mnist --k 15 --runs 5
    python benchmarks/bench_knn.py --n 50000 --d 784 --k 15 --runs 3 --json out.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    drop_self,
    load_data,
    machine_info,
    markdown_table,
    parse_devices,
    reference_knn,
    synchronize,
    time_ms,
)
from _metrics import (
    histogram_l1,
    knn_recall,
    mean_distance_error,
    pairwise_max_abs_error,
)

from pumap.knn import exact_knn, knn_topk, nndescent_knn, pairwise_distances


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--data", choices=["synthetic", "mnist"], default="synthetic")
    p.add_argument("--n", type=int, default=None, help="points (synthetic: default 10000)")
    p.add_argument("--d", type=int, default=784, help="dimension of synthetic data")
    p.add_argument("--k", type=int, default=15)
    p.add_argument("--metric", choices=["euclidean", "cosine"], default="euclidean")
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--device", default="cpu", help="cpu, cuda, mps, or auto (first found)")
    p.add_argument("--pairwise-rows", type=int, default=2048,
                   help="query rows of the pairwise/top-k timing and parity block")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--precisions", default="float32",
                   help="comma list of exact_knn precisions to time (float32,tf32,bfloat16)")
    p.add_argument("--no-sklearn", action="store_true")
    p.add_argument("--no-nndescent", action="store_true")
    p.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = p.parse_args(argv)
    if args.data == "synthetic" and args.n is None:
        args.n = 10_000
    return args


def sklearn_knn(x: np.ndarray, k: int, metric: str) -> tuple[np.ndarray, np.ndarray]:
    from sklearn.neighbors import NearestNeighbors

    nn = NearestNeighbors(n_neighbors=k + 1, algorithm="brute", metric=metric).fit(x)
    dist, idx = nn.kneighbors(x)
    return drop_self(idx, dist.astype(np.float32), k)


def parity(name: str, idx, dist, ref_idx, ref_dist) -> dict:
    idx = idx.cpu().numpy() if isinstance(idx, torch.Tensor) else idx
    dist = dist.cpu().numpy() if isinstance(dist, torch.Tensor) else dist
    return {
        "method": name,
        "index_match": knn_recall(idx, ref_idx),
        "match_ties_aside": knn_recall(idx, ref_idx, dist, ref_dist, tie_tol=1e-4),
        "mean_dist_err": mean_distance_error(dist, ref_dist),
        "hist_l1": histogram_l1(dist, ref_dist, bins=100),
    }


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    device = parse_devices(args.device)[0] if args.device == "auto" else args.device
    parse_devices(device)
    x = load_data(args.data, args.n, args.d, args.seed)
    n, d = x.shape
    k, metric = args.k, args.metric
    info = machine_info()
    print(f"# bench_knn: data={args.data} n={n} d={d} k={k} metric={metric} device={device} "
          f"runs={args.runs}")
    print("# machine: " + ", ".join(f"{key}={val}" for key, val in info.items()))

    ref_idx, ref_dist = reference_knn(x, k, metric)

    # Pairwise parity and timings on one block of query rows (n x n may not fit in memory).
    xt = torch.from_numpy(x).to(device)
    m = min(n, args.pairwise_rows)
    pw = pairwise_distances(xt[:m], xt, metric)
    x64 = torch.from_numpy(x).double()
    if metric == "cosine":
        ref_pw = pairwise_distances(x64[:m], x64, "cosine")
    else:
        ref_pw = torch.cdist(x64[:m], x64, compute_mode="donot_use_mm_for_euclid_dist")
    pw_err = pairwise_max_abs_error(pw, ref_pw)
    # The self-distances carry the largest error (sqrt of the rounding noise of
    # |x|^2 + |x|^2 - 2 x.x): report the rest separately.
    own = torch.arange(m)
    off_pw, off_ref = pw.cpu().clone(), ref_pw.clone()
    off_pw[own, own] = 0.0
    off_ref[own, own] = 0.0
    pw_err_off = pairwise_max_abs_error(off_pw, off_ref)
    del ref_pw, x64, off_pw, off_ref

    def run_pairwise():
        return pairwise_distances(xt[:m], xt, metric)

    def run_topk():
        return knn_topk(pw, min(k + 1, n))

    def run_exact():
        return exact_knn(xt, k, metric)

    methods = {"pairwise": run_pairwise, "topk": run_topk, "pumap_exact": run_exact}
    low = [p for p in args.precisions.split(",") if p and p != "float32"]
    for precision in low:
        methods[f"pumap_exact_{precision}"] = (
            lambda p=precision: exact_knn(xt, k, metric, precision=p))
    if not args.no_sklearn:
        methods["sklearn_brute"] = lambda: sklearn_knn(x, k, metric)
    results: dict[str, object] = {}
    times: dict[str, list[float]] = {name: [] for name in methods}
    nnd_first_ms = None
    if not args.no_nndescent:
        nnd_first_ms, results["pynndescent"] = time_ms(
            lambda: nndescent_knn(x, k, metric, seed=args.seed))
        methods["pynndescent"] = lambda: nndescent_knn(x, k, metric, seed=args.seed)
        times["pynndescent"] = []
    for name, fn in methods.items():  # warm-up, one each
        results[name] = fn()
    synchronize(device)
    for _ in range(max(1, args.runs)):  # interleaved
        for name, fn in methods.items():
            ms, results[name] = time_ms(fn, device)
            times[name].append(ms)
    med = {name: statistics.median(t) for name, t in times.items()}

    rows = []
    exact = results["pumap_exact"]
    rows.append(parity("pumap exact", exact.indices, exact.distances, ref_idx, ref_dist)
                | {"median_ms": med["pumap_exact"]})
    for precision in low:
        g = results[f"pumap_exact_{precision}"]
        rows.append(parity(f"pumap exact ({precision})", g.indices, g.distances, ref_idx,
                           ref_dist) | {"median_ms": med[f"pumap_exact_{precision}"],
                                        "match_vs_pumap": knn_recall(g.indices, exact.indices)})
    if "sklearn_brute" in results:
        s_idx, s_dist = results["sklearn_brute"]
        row = parity("sklearn brute", s_idx, s_dist, ref_idx, ref_dist)
        row["median_ms"] = med["sklearn_brute"]
        row["match_vs_pumap"] = knn_recall(s_idx, exact.indices.cpu().numpy())
        rows.append(row)
    if "pynndescent" in results:
        g = results["pynndescent"]
        row = parity("pynndescent", g.indices, g.distances, ref_idx, ref_dist)
        row["median_ms"] = med["pynndescent"]
        row["first_call_ms"] = nnd_first_ms
        rows.append(row)

    print(f"\npairwise ({m} x {n}): max abs error vs float64 = {pw_err:.3g} "
          f"({pw_err_off:.3g} without the self-distances); median {med['pairwise']:.1f} ms; "
          f"top-{min(k + 1, n)} of it {med['topk']:.1f} ms")
    print()
    print(markdown_table(rows, ["method", "median_ms", "first_call_ms", "index_match",
                                "match_ties_aside", "mean_dist_err", "hist_l1",
                                "match_vs_pumap"]))
    if "sklearn_brute" in med:
        ratio = med["pumap_exact"] / med["sklearn_brute"]
        print(f"\npumap exact / sklearn brute time: {ratio:.3f}")
    out = {
        "args": {key: (str(v) if isinstance(v, Path) else v) for key, v in vars(args).items()},
        "n": n, "d": d, "device": device, "machine": info,
        "pairwise": {"rows": m, "max_abs_error": pw_err, "max_abs_error_off_self": pw_err_off,
                     "median_ms": med["pairwise"],
                     "topk_median_ms": med["topk"]},
        "knn": rows, "all_times_ms": times,
    }
    if args.json:
        args.json.write_text(json.dumps(out, indent=2))
    return out


if __name__ == "__main__":
    main()
