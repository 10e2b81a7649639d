"""Time of the k-NN building blocks against the number of points n, per device.

For every (device, n): ``--warmup`` untimed calls (first-call costs: lazy initialisation, CUDA
context and kernel selection, or the ``--compile`` step), then the median of ``--runs``
timed calls of

  * ``pairwise_ms`` -- ``pairwise_distances(x, x)``, the full n x n matrix;
  * ``knn_ms``      -- ``knn_topk`` of that matrix (self masked), the top-k step alone;
  * ``e2e_ms``      -- ``exact_knn(x, k)``, blocked search, refinement and sort.

``k`` is clipped to ``n - 1``; n = 1 has no neighbour, so its k-NN columns stay empty
(status ``skip-knn``). Sizes: powers of two from ``--batch-min`` to ``--batch-max``, or
``--batch-min, --batch-min + --batch-step, ...`` when a step is given, or ``--batch-sizes``.

    python benchmarks/bench_batch.py --batch-max 4096 --d 784 --k 15 --csv batch.csv
    python benchmarks/bench_batch.py --device auto --batch-sizes 64,256,1024 --compile
"""

from __future__ import annotations

import argparse
import csv
import math
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import machine_info, markdown_table, median_ms, parse_devices, synthetic

from pumap.knn import exact_knn, knn_topk, pairwise_distances

COLUMNS = ["n", "k", "d", "device", "pairwise_ms", "knn_ms", "e2e_ms", "status"]


def batch_sizes(args: argparse.Namespace) -> list[int]:
    if args.batch_sizes:
        sizes = [int(s) for s in args.batch_sizes.split(",") if s.strip()]
    elif args.batch_step:
        sizes = list(range(args.batch_min, args.batch_max + 1, args.batch_step))
    else:
        first = max(0, math.ceil(math.log2(max(1, args.batch_min))))
        sizes = [2**p for p in range(first, int(math.log2(args.batch_max)) + 1)]
    if not sizes or min(sizes) < 1:
        raise SystemExit(f"batch sizes must be positive integers, got {sizes}")
    return sizes


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--batch-min", type=int, default=1)
    p.add_argument("--batch-max", type=int, default=4096)
    p.add_argument("--batch-step", type=int, default=None,
                   help="arithmetic step between sizes (default: powers of two)")
    p.add_argument("--batch-sizes", default=None, help="explicit comma list, e.g. 64,128,256")
    p.add_argument("--d", type=int, default=784)
    p.add_argument("--k", type=int, default=15)
    p.add_argument("--metric", choices=["euclidean", "cosine"], default="euclidean")
    p.add_argument("--device", default="cpu", help="comma list of cpu/cuda/mps, or auto (all)")
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--compile", action="store_true",
                   help="torch.compile pairwise_distances once per (device, n) before timing")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--csv", type=Path, default=None, help="write the rows as CSV here")
    return p.parse_args(argv)


def bench_one(n: int, args: argparse.Namespace, device: str) -> dict:
    x = torch.from_numpy(synthetic(n, args.d, args.seed)).to(device)
    k = min(args.k, n - 1)
    row: dict = {"n": n, "k": k, "d": args.d, "device": device, "status": "ok"}
    pairwise = pairwise_distances
    if args.compile:
        # A fresh compiled function per (device, n): its compile time falls in the warm-up.
        torch._dynamo.reset()
        pairwise = torch.compile(pairwise_distances, dynamic=False)
    try:
        row["pairwise_ms"], dist = median_ms(
            lambda: pairwise(x, x, args.metric), args.runs, args.warmup, device)
        if k < 1:
            row["status"] = "skip-knn"
            return row
        masked = dist.clone().fill_diagonal_(math.inf)
        del dist
        row["knn_ms"], _ = median_ms(
            lambda m=masked: knn_topk(m, k), args.runs, args.warmup, device)
        del masked
        row["e2e_ms"], _ = median_ms(
            lambda: exact_knn(x, k, args.metric), args.runs, args.warmup, device)
        if k < args.k:
            row["status"] = f"k={k}"
    except (RuntimeError, torch.OutOfMemoryError) as err:  # report, go on with the next size
        row["status"] = f"error: {type(err).__name__}: {str(err).splitlines()[0][:80]}"
    return row


def main(argv: list[str] | None = None) -> list[dict]:
    args = parse_args(argv)
    devices = parse_devices(args.device)
    sizes = batch_sizes(args)
    info = machine_info()
    print(f"# bench_batch: d={args.d} k={args.k} metric={args.metric} warmup={args.warmup} "
          f"runs={args.runs} compile={args.compile} sizes={sizes}")
    print("# machine: " + ", ".join(f"{key}={val}" for key, val in info.items()))
    rows = []
    for device in devices:
        for n in sizes:
            rows.append(bench_one(n, args, device))
            print(markdown_table([rows[-1]], COLUMNS).splitlines()[-1], flush=True)
    print()
    print(markdown_table(rows, COLUMNS))
    if args.csv:
        with open(args.csv, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=COLUMNS, extrasaction="ignore")
            writer.writeheader()
            for row in rows:
                writer.writerow({c: row.get(c, "") for c in COLUMNS})
    return rows


if __name__ == "__main__":
    main()
