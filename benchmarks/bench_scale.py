"""Scale and memory: a large fit with NN-Descent, and a streaming transform of many points.

Every measurement runs in a fresh Python subprocess (this script started again with
``--worker``), so that the peak resident memory it reports is that of one fit or one
transform and nothing else. Inside the worker the peak is read from ``/proc/self/status``
(VmHWM) after resetting it (``/proc/self/clear_refs``) at the start of the measured call, and
reported both as a total and as the growth over the resident memory before the call (the
input data and the imported libraries not counted). The parent also records the child's
``ru_maxrss`` from ``resource.getrusage(RUSAGE_CHILDREN)``.

    # the 200,000 x 64 fit (NN-Descent, 3 epochs), the same stage by stage, then the
    # 1,000,000-point transform at three batch sizes
    nice -n 10 python benchmarks/bench_scale.py fit --n 200000 --dims 64 --epochs 3
    nice -n 10 python benchmarks/bench_scale.py fit --n 200000 --dims 64 --epochs 3 --breakdown
    # whole fits with the automatic epochs (issue #13): 200,000 and 1,000,000 points, NN-Descent
    python benchmarks/bench_scale.py fit --n 200000 --dims 64 --epochs 0
    python benchmarks/bench_scale.py fit --n 1000000 --dims 64 --epochs 0
    nice -n 10 python benchmarks/bench_scale.py transform --n 1000000 --dims 64 \\
        --batch-sizes 16384,65536,262144 --repeat 3

Each run prints one JSON object per measurement (and appends it to ``--out`` if given).
docs/memory.md records the figures and the memory model they check.
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
from typing import Any

HERE = Path(__file__).resolve()
sys.path.insert(0, str(HERE.parent))

from _common import current_rss_mib, peak_rss_mib, reset_peak_rss  # noqa: E402

# --- memory of this process ----------------------------------------------------------------


class PeakMemory:
    """Context manager: RSS before, peak during (VmHWM after a reset) and growth, in MiB."""

    def __enter__(self) -> PeakMemory:
        self.reset = reset_peak_rss()
        self.before = current_rss_mib()
        return self

    def __exit__(self, *exc: object) -> None:
        self.peak = peak_rss_mib() if self.reset else float("nan")
        self.after = current_rss_mib()
        self.growth = self.peak - self.before


# --- workers ---------------------------------------------------------------------------------


def _data(n: int, d: int, seed: int) -> Any:
    import numpy as np

    try:
        from pumap.datasets import make_clusters
    except ImportError:  # an older pumap: plain blobs
        rng = np.random.default_rng(seed)
        centres = rng.uniform(-10, 10, size=(10, d))
        labels = rng.integers(0, 10, size=n)
        return (centres[labels] + rng.normal(size=(n, d))).astype(np.float32)
    x, _ = make_clusters(n, d, n_clusters=10, seed=seed)
    return x


def worker_fit(args: argparse.Namespace) -> dict[str, Any]:
    import torch

    from pumap import Umap

    x = _data(args.n, args.dims, args.seed)
    model = Umap(
        n_epochs=args.epochs or None,
        knn_method=args.knn_method,
        seed=args.seed,
        device="cpu",
        verbose=False,
    )
    start = time.perf_counter()
    with PeakMemory() as mem:
        fitted = model.fit(x)
    seconds = time.perf_counter() - start
    cfg = fitted.config
    return {
        "what": "fit",
        "n": args.n,
        "dims": args.dims,
        "n_epochs": cfg.n_epochs,
        "knn_method": cfg.knn_method,
        "n_neighbors": cfg.n_neighbors,
        "batch_size": cfg.batch_size,
        "hidden_layers": list(cfg.hidden_layers),
        "seconds": round(seconds, 1),
        "timings": {k: round(v, 1) for k, v in fitted.timings.items()},
        "input_mib": round(x.nbytes / 2**20, 1),
        "rss_before_mib": round(mem.before, 1),
        "peak_rss_mib": round(mem.peak, 1),
        "peak_growth_mib": round(mem.growth, 1),
        "torch_threads": torch.get_num_threads(),
        "final_loss": round(fitted.losses[-1], 4),
        "knn": fitted.knn_info,
    }


def worker_breakdown(args: argparse.Namespace) -> dict[str, Any]:
    """The stages of `Umap.fit` one by one, each with its own peak (what grows with what)."""
    import torch

    from pumap import UmapConfig
    from pumap.data.preprocess import Standardizer, as_float32_matrix
    from pumap.graph.fuzzy import fuzzy_simplicial_set
    from pumap.knn import build_knn
    from pumap.training.encoder import build_encoder
    from pumap.training.schedule import resolve_schedule
    from pumap.training.trainer import train_umap
    from pumap.training.warmstart import warm_start

    cfg = UmapConfig(n_epochs=args.epochs or None, knn_method=args.knn_method, seed=args.seed)
    x = as_float32_matrix(_data(args.n, args.dims, args.seed))
    device = torch.device("cpu")
    stages: dict[str, dict[str, float]] = {}

    def record(name: str, mem: PeakMemory, seconds: float) -> None:
        stages[name] = {
            "seconds": round(seconds, 1),
            "peak_growth_mib": round(mem.growth, 1),
            "kept_mib": round(mem.after - mem.before, 1),
        }

    start = time.perf_counter()
    with PeakMemory() as mem:
        knn = build_knn(
            x, cfg.n_neighbors - 1, cfg.metric, cfg.knn_method, seed=cfg.seed, device=device
        )
    record("knn", mem, time.perf_counter() - start)
    start = time.perf_counter()
    with PeakMemory() as mem:
        graph = fuzzy_simplicial_set(knn)
        del knn
    record("graph", mem, time.perf_counter() - start)
    start = time.perf_counter()
    with PeakMemory() as mem:
        standardizer = Standardizer.fit(x)
        inputs = standardizer(x)
        encoder = build_encoder(
            args.dims, cfg.hidden_layers, cfg.n_components, torch.Generator().manual_seed(0)
        )
        generator = torch.Generator().manual_seed(0)
        warm_start(encoder, inputs, cfg.n_components, cfg.learning_rate, generator)
    record("standardize+pca_init", mem, time.perf_counter() - start)
    start = time.perf_counter()
    with PeakMemory() as mem:
        from pumap.training.loss import find_ab_params

        a, b = find_ab_params(cfg.spread, cfg.min_dist)
        plan = resolve_schedule(x.shape[0], graph.n_edges, cfg.batch_size, cfg.n_epochs, device)
        train_umap(
            encoder,
            inputs,
            graph,
            a=a,
            b=b,
            n_epochs=plan.n_epochs,
            batch_size=plan.batch_size,
            negative_sample_rate=cfg.negative_sample_rate,
            learning_rate=cfg.learning_rate,
            generator=generator,
        )
    record("train", mem, time.perf_counter() - start)
    return {
        "what": "fit-breakdown",
        "n": args.n,
        "dims": args.dims,
        "n_epochs": cfg.n_epochs,
        "knn_method": cfg.knn_method,
        "n_neighbors": cfg.n_neighbors,
        "n_edges": graph.n_edges,
        "batch_size": plan.batch_size,
        "hidden_layers": list(cfg.hidden_layers),
        "stages": stages,
        "peak_rss_mib": round(peak_rss_mib(), 1),
        "torch_threads": torch.get_num_threads(),
    }


def worker_transform(args: argparse.Namespace) -> dict[str, Any]:
    import numpy as np
    import torch

    from pumap import Umap

    # A small model (its quality is irrelevant here: only the encoder's shape matters).
    train = _data(args.fit_n, args.dims, args.seed)
    fitted = Umap(n_epochs=1, knn_method="exact", seed=args.seed, device="cpu", verbose=False)
    fitted = fitted.fit(train)
    del train
    x = _data(args.n, args.dims, args.seed + 1)
    widest = max(fitted.config.hidden_layers)
    rows = []
    for batch in args.batch_sizes:
        fitted.transform(x[:batch], batch_size=batch)  # warm the allocator and the kernels
        start = time.perf_counter()
        with PeakMemory() as mem:
            out = fitted.transform(x, batch_size=batch)
        seconds = time.perf_counter() - start
        assert out.shape == (args.n, fitted.n_components) and np.isfinite(out).all()
        del out
        rows.append(
            {
                "what": "transform",
                "n": args.n,
                "dims": args.dims,
                "batch_size": batch,
                "hidden_layers": list(fitted.config.hidden_layers),
                "seconds": round(seconds, 1),
                "input_mib": round(x.nbytes / 2**20, 1),
                "output_mib": round(args.n * fitted.n_components * 4 / 2**20, 1),
                "rss_before_mib": round(mem.before, 1),
                "peak_rss_mib": round(mem.peak, 1),
                "peak_growth_mib": round(mem.growth, 1),
                # What holding every row's activations of the widest layer would cost.
                "all_rows_one_layer_mib": round(args.n * widest * 4 / 2**20, 1),
                "one_batch_one_layer_mib": round(batch * widest * 4 / 2**20, 1),
                "torch_threads": torch.get_num_threads(),
            }
        )
    return {"rows": rows}


# --- parent ------------------------------------------------------------------------------------


def machine() -> dict[str, Any]:
    import torch

    mem_gib = float("nan")
    try:
        with open("/proc/meminfo") as fh:
            mem_gib = int(fh.readline().split()[1]) / 2**20
    except OSError:
        pass
    return {
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "memory_gib": round(mem_gib, 1),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "cuda": torch.cuda.is_available(),
        "loadavg_start": os.getloadavg() if hasattr(os, "getloadavg") else None,
    }


def run_worker(argv: list[str]) -> list[dict[str, Any]]:
    """Run one measurement in a fresh interpreter; return its records."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    proc = subprocess.run(
        [sys.executable, str(HERE), "--worker", *argv],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr)
        raise SystemExit(f"worker failed with exit code {proc.returncode}")
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    rows = result.get("rows", [result])
    child_max = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    for row in rows:  # ru_maxrss is KiB on Linux; the max over all children so far
        row["children_maxrss_mib"] = round(max(child_max, before) / 1024, 1)
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("what", choices=["fit", "transform"])
    parser.add_argument("--n", type=int, default=None, help="points (fit 200k, transform 1M)")
    parser.add_argument("--dims", type=int, default=64)
    parser.add_argument(
        "--epochs", type=int, default=3,
        help="fit: n_epochs (small on purpose; 0: pumap's automatic choice)",
    )
    parser.add_argument("--knn-method", default="nndescent", choices=["auto", "nndescent", "exact"])
    parser.add_argument("--fit-n", type=int, default=5000, help="transform: points of the model")
    parser.add_argument("--batch-sizes", default="65536", help="transform: comma-separated")
    parser.add_argument(
        "--repeat", type=int, default=1, help="transform: fresh processes per batch size"
    )
    parser.add_argument(
        "--breakdown", action="store_true", help="fit: measure each stage's peak separately"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=None, help="append JSON lines here")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.n is None:
        args.n = 200_000 if args.what == "fit" else 1_000_000
    args.batch_sizes = [int(b) for b in str(args.batch_sizes).split(",") if b]

    if args.worker:
        if args.what == "transform":
            result = worker_transform(args)
        else:
            result = worker_breakdown(args) if args.breakdown else worker_fit(args)
        print(json.dumps(result))
        return

    info = machine()
    forwarded = [a for a in (argv if argv is not None else sys.argv[1:]) if a != "--worker"]
    if args.what == "transform":  # one fresh process per batch size: no allocator history
        rows = []
        for batch in args.batch_sizes:
            for _ in range(args.repeat):
                rows += run_worker([*forwarded, "--batch-sizes", str(batch)])
    else:
        rows = run_worker(forwarded)
    for row in rows:
        row["machine"] = info
        line = json.dumps(row)
        print(line, flush=True)
        if args.out is not None:
            with open(args.out, "a") as fh:
                fh.write(line + "\n")


if __name__ == "__main__":
    main()
