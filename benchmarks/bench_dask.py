"""Throughput of `pumap.dask.transform` on a LocalCluster against the in-process transform.

A model is fitted on ``--fit-rows`` synthetic points (its quality does not matter here), then
``--rows`` x ``--features`` float32 rows drawn by ``dask.array``'s random generator in
``--chunk-rows`` blocks are embedded in these ways, each the median of ``--runs`` timed runs after
one untimed warm-up round (which loads the model on every worker), the methods taking turns
in each round:

  * ``in_process``      -- ``fitted.transform(X)`` of the same rows held as one NumPy array;
  * ``dask_threads``    -- ``pumap.dask.transform`` of ``da.from_array(X)``, local scheduler;
  * ``cluster``         -- on a ``LocalCluster(--workers, 1 thread each)`` with Dask's default
    worker environment, the input persisted on the workers first, so that only the embedding
    is timed;
  * ``cluster_mmap``    -- the same on a cluster whose workers also get
    ``MALLOC_MMAP_THRESHOLD_=33554432`` (see below);
  * ``cluster_mmap_gen`` -- on that cluster, drawing the rows and embedding them in one graph
    (``gen_only`` times the drawing alone, for reference).

Dask's nanny starts workers with ``MALLOC_TRIM_THRESHOLD_=65536``, and setting any of glibc's
malloc thresholds turns off its dynamic mmap threshold: every buffer over 128 KiB (each batch's
activations) is then a fresh ``mmap`` whose pages fault in again, batch after batch. Fixing the
mmap threshold at its ceiling (32 MiB) keeps Dask's trimming and gives the heap back its reuse.

Each result is collected on the client (an ``(n, n_components)`` float32 array).

    taskset -c 1 python benchmarks/bench_dask.py --rows 1000000 --features 64

Workers inherit the CPU affinity of the process that starts them: under ``taskset -c 1``
every worker shares core 1.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import machine_info, markdown_table, synthetic

import pumap.dask as pdask
from pumap import Umap
from pumap.model.fitted import TRANSFORM_BATCH

MMAP_KEY = "distributed.nanny.pre-spawn-environ.MALLOC_MMAP_THRESHOLD_"
MMAP_CEILING = 32 * 2**20  # glibc's largest dynamic mmap threshold on 64-bit
COLUMNS = [
    "method", "rows", "features", "chunk_rows", "workers", "median_s", "runs_s", "points_per_s"
]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--rows", type=int, default=1_000_000)
    p.add_argument("--features", type=int, default=64)
    p.add_argument("--chunk-rows", type=int, default=100_000)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--fit-rows", type=int, default=5_000)
    p.add_argument("--epochs", type=int, default=5, help="training epochs of the model")
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--batch-size", type=int, default=TRANSFORM_BATCH, help="rows per forward pass")
    p.add_argument("--threads", type=int, default=1, help="torch threads, in process and per task")
    p.add_argument("--json", type=Path, default=None, help="also write the results here")
    return p.parse_args(argv)


def interleaved(methods: dict[str, Callable[[], Any]], runs: int) -> dict[str, list[float]]:
    """Seconds of each method, ``runs`` rounds of one call each, after one untimed round.

    Rounds alternate the methods, so that a change of the machine's load during the run
    falls on all of them alike rather than on whichever ran then.
    """
    times: dict[str, list[float]] = {name: [] for name in methods}
    for round_ in range(runs + 1):
        for name, fn in methods.items():
            start = time.perf_counter()
            fn()
            if round_:
                times[name].append(time.perf_counter() - start)
    return times


def main(argv: list[str] | None = None) -> None:
    import dask
    import dask.array as da
    import torch
    from distributed import Client, LocalCluster

    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    fitted = Umap(n_epochs=args.epochs, seed=0, verbose=False, threads=args.threads).fit(
        synthetic(args.fit_rows, args.features)
    )
    shape, chunks = (args.rows, args.features), (args.chunk_rows, args.features)

    def draw() -> Any:
        return da.random.default_rng(0).standard_normal(shape, chunks=chunks, dtype=np.float32)

    x_host = draw().compute(scheduler="threads")
    x_local = da.from_array(x_host, chunks=chunks)
    expected = fitted.transform(x_host, batch_size=args.batch_size)
    options = {"batch_size": args.batch_size, "threads": args.threads}
    with contextlib.ExitStack() as stack:
        clients = {}
        for name, environ in (("cluster", {}), ("cluster_mmap", {MMAP_KEY: MMAP_CEILING})):
            with dask.config.set(environ):  # read when the workers are spawned
                cluster = stack.enter_context(
                    LocalCluster(
                        n_workers=args.workers, threads_per_worker=1, processes=True,
                        dashboard_address=None,
                    )
                )
            clients[name] = stack.enter_context(Client(cluster, set_as_default=False))
        persisted = {name: client.persist(draw()) for name, client in clients.items()}
        for name, x in persisted.items():  # wait until every block is held by the workers
            clients[name].compute(x.sum()).result()
        embeds = {
            name: pdask.transform(fitted, x, **options) for name, x in persisted.items()
        }
        for name, client in clients.items():
            result = client.compute(embeds[name]).result()
            np.testing.assert_allclose(result, expected, rtol=0, atol=1e-5)
        mmap = clients["cluster_mmap"]
        methods: dict[str, Callable[[], Any]] = {
            "in_process": lambda: fitted.transform(x_host, batch_size=args.batch_size),
            "dask_threads": lambda: pdask.transform(fitted, x_local, **options).compute(
                scheduler="threads"
            ),
            "cluster": lambda: clients["cluster"].compute(embeds["cluster"]).result(),
            "cluster_mmap": lambda: mmap.compute(embeds["cluster_mmap"]).result(),
            "gen_only": lambda: mmap.compute(draw().sum()).result(),
            "cluster_mmap_gen": lambda: mmap.compute(
                pdask.transform(fitted, draw(), **options)
            ).result(),
        }
        times = interleaved(methods, args.runs)
        loads = {
            name: list(client.run(lambda: pdask.cache_info()["loads"]).values())
            for name, client in clients.items()
        }
    seconds = {name: statistics.median(t) for name, t in times.items()}

    rows = [
        {
            "method": method,
            "rows": args.rows,
            "features": args.features,
            "chunk_rows": args.chunk_rows,
            "workers": 1 if method in ("in_process", "dask_threads") else args.workers,
            "median_s": round(s, 3),
            "runs_s": " ".join(f"{t:.2f}" for t in times[method]),
            "points_per_s": round(args.rows / s),
        }
        for method, s in seconds.items()
    ]
    info = {**machine_info(), "batch_size": args.batch_size, "model_loads_per_worker": loads}
    print(json.dumps(info))
    print(markdown_table(rows, COLUMNS))
    if args.json is not None:
        args.json.write_text(json.dumps({"machine": info, "results": rows}, indent=2) + "\n")


if __name__ == "__main__":
    main()
