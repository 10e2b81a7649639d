"""GPU measurements of issues #7 and #13 in one command: distances, k-NN, fits up to 10M, transform.

Prints a markdown report (and writes every number to ``--json``):

(a) pairwise distances and the exact k-NN graph at n = 1,024 ... 65,536, d = 64, k = 15,
    cosine and euclidean: median milliseconds over ``--runs`` after ``--warmup`` untimed runs,
    timed with CUDA events (and ``torch.cuda.synchronize``); the k-NN's index match against a
    float64 reference computed on the device;
(b) full fits with `FittedUmap.timings` per stage (knn, graph, init, train, embed), peak GPU
    memory and quality (trustworthiness on a 10k subsample, held-out 10-NN accuracy) on the
    MNIST test set (``--mnist-dir``) and synthetic 100,000 x 64 and 1,000,000 x 64 clusters;
(c) transform throughput in points/s on 10,000,000 rows held in a GPU tensor;
(d) the k-NN with float32, TF32 and bfloat16 block products (``precision=``), with the
    index match of each against the float64 reference;
(e) the training options: fits with ``compile`` and ``mixed_precision`` off and on (train
    seconds, the compilation included, and quality), to decide whether each pays off;
(f) the k-NN graph of 1,000,000 and 10,000,000 x 64 clusters: the exact search (1M only) and
    IVF (`pumap.knn.ivf_search`), seconds and recall (estimated on 1,000 rows searched exactly).

The fits of (b) use ``knn_method="auto"`` (the per-device rule) and report the method it
chose with its estimated recall, and the training loop's cost: nanoseconds per positive edge
sampled, and the encoder's arithmetic rate (``6 x rows x weights`` FLOP per step).

    python benchmarks/bench_gpu.py --mnist-dir ../shared/data/mnist --json gpu.json
    python benchmarks/bench_gpu.py --device cpu --quick            # smoke test, no GPU needed

``--quick`` shrinks every size (and trains fits for 5 epochs) so that the script runs in a
minute or two anywhere; its numbers say nothing about a GPU.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import machine_info, markdown_table, reference_knn_torch, synchronize, synthetic

FULL = {
    "distance_sizes": [1_024, 4_096, 16_384, 65_536],
    "fit_sizes": [100_000, 1_000_000, 10_000_000],
    "knn_sizes": [1_000_000, 10_000_000],
    "mnist_rows": None,  # the whole 10,000-image test set
    "heldout": 10_000,  # held-out rows of each synthetic fit
    "transform_rows": 10_000_000,
    "fit_options": {},
}
QUICK = {
    "distance_sizes": [512, 2_048],
    "fit_sizes": [3_000],
    "knn_sizes": [20_000],
    "mnist_rows": 3_000,
    "heldout": 600,
    "transform_rows": 200_000,
    "fit_options": {"n_epochs": 5},
}
DIM = 64
K = 15
METRICS = ("cosine", "euclidean")
TRUST_SUBSAMPLE = 10_000
TRANSFORM_BATCHES = (65_536, 1_048_576)
FIT_BUDGET_S = 180  # each fit should stay under about 3 minutes
PAIRWISE_TEMPORARIES = 5  # n x n float32 matrices alive at once inside pairwise_distances


# --- timing --------------------------------------------------------------------------------


def measure(
    fn: Callable[[], Any], device: torch.device, runs: int, warmup: int
) -> tuple[float, list[float], Any]:
    """Median milliseconds of ``runs`` calls after ``warmup`` untimed ones (and all times, and
    the last result). CUDA: CUDA events around each call, read after the end event completes;
    elsewhere: wall clock between two synchronisations."""
    out = None
    for _ in range(warmup):
        out = fn()
    synchronize(device)
    times = []
    for _ in range(max(1, runs)):
        if device.type == "cuda":
            start = torch.cuda.Event(enable_timing=True)
            end = torch.cuda.Event(enable_timing=True)
            start.record()
            out = fn()
            end.record()
            end.synchronize()
            times.append(start.elapsed_time(end))
        else:
            synchronize(device)
            clock = time.perf_counter()
            out = fn()
            synchronize(device)
            times.append((time.perf_counter() - clock) * 1e3)
    return statistics.median(times), times, out


PRECISIONS = ("float32", "tf32", "bfloat16")
TRAINING_OPTIONS = (
    {"compile": False, "mixed_precision": False},
    {"compile": True, "mixed_precision": False},
    {"compile": False, "mixed_precision": True},
    {"compile": True, "mixed_precision": True},
)


def tf32_default() -> str:
    """``torch.get_float32_matmul_precision()`` as the process started ("highest": no TF32)."""
    return torch.get_float32_matmul_precision()


def free_memory_bytes(device: torch.device) -> int:
    if device.type == "cuda":
        return int(torch.cuda.mem_get_info(device)[0])
    return 4 * 2**30  # on the host: keep the pairwise matrices to a few GiB


def reset_peak(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)


def peak_mib(device: torch.device) -> float | None:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return None


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# --- (a) and (d): distances and k-NN ---------------------------------------------------------


def pairwise_rows(n: int, budget: int) -> int:
    """Query rows for the pairwise timing: all ``n`` if the ``(n, n)`` matrix and its
    temporaries fit ``budget`` bytes, else the largest power of two that does."""
    fit = budget // (PAIRWISE_TEMPORARIES * 4 * n)
    if fit >= n:
        return n
    return max(1, 2 ** int(math.log2(max(1, fit))))


def bench_distances(
    device: torch.device, sizes: list[int], runs: int, warmup: int, seed: int
) -> tuple[list[dict], list[dict]]:
    """Sections (a) and (d): one data set per size, both metrics, each product precision."""
    from _metrics import knn_recall, mean_distance_error

    from pumap.knn import exact_knn, pairwise_distances

    rows_a, rows_d = [], []
    budget = free_memory_bytes(device) // 2
    for n in sizes:
        x = torch.from_numpy(synthetic(n, DIM, seed)).to(device)
        m = pairwise_rows(n, budget)
        for metric in METRICS:
            log(f"  distances: n={n:,} {metric}")
            ref_idx, ref_dist = reference_knn_torch(x, K, metric)
            pair_ms, _, _ = measure(
                lambda x=x, m=m, metric=metric: pairwise_distances(x[:m], x, metric),
                device,
                runs,
                warmup,
            )
            timed = {}
            for precision in PRECISIONS:
                timed[precision] = measure(
                    lambda x=x, metric=metric, p=precision: exact_knn(x, K, metric, precision=p),
                    device,
                    runs,
                    warmup,
                )
            knn_ms, knn_all, graph = timed["float32"]
            match = knn_recall(graph.indices, ref_idx)
            rows_a.append(
                {
                    "n": n,
                    "metric": metric,
                    "pairwise rows": m,
                    "pairwise ms": pair_ms,
                    "pairwise Gpairs/s": m * n / (pair_ms * 1e6),
                    "knn ms": knn_ms,
                    "knn ms (min)": min(knn_all),
                    "index match vs fp64": match,
                    "mean |d - d64|": mean_distance_error(graph.distances, ref_dist),
                }
            )
            row_d: dict[str, Any] = {"n": n, "metric": metric}
            for precision, (ms, _, low) in timed.items():
                row_d[f"{precision} ms"] = ms
                row_d[f"{precision} match vs fp64"] = knn_recall(low.indices, ref_idx)
            for precision in PRECISIONS[1:]:
                row_d[f"{precision} speed-up"] = knn_ms / timed[precision][0]
            rows_d.append(row_d)
            del graph, timed, ref_idx, ref_dist
        del x
        if device.type == "cuda":
            torch.cuda.empty_cache()
    return rows_a, rows_d


# --- (b): full fits ----------------------------------------------------------------------------


def fit_datasets(args: argparse.Namespace, plan: dict) -> Iterator[tuple[str, tuple]]:
    """``(name, (x_train, y_train, x_heldout, y_heldout))`` for every fit of the plan."""
    from pumap.datasets import load_mnist, make_clusters

    rng = np.random.default_rng(args.seed)
    if args.mnist_dir:
        x, y = load_mnist(args.mnist_dir, "test")
        if plan["mnist_rows"] is not None:
            x, y = x[: plan["mnist_rows"]], y[: plan["mnist_rows"]]
        order = rng.permutation(len(x))
        cut = int(0.8 * len(x))
        yield (
            f"MNIST test {len(x):,} x {x.shape[1]}",
            (x[order[:cut]], y[order[:cut]], x[order[cut:]], y[order[cut:]]),
        )
    for n in plan["fit_sizes"]:
        x, y = make_clusters(n, DIM, n_clusters=20, seed=args.seed, cluster_std=4.0)
        cut = n - min(plan["heldout"], n // 5)
        yield f"synthetic {n:,} x {DIM}", (x[:cut], y[:cut], x[cut:], y[cut:])


def quality(
    x_train: np.ndarray,
    y_train: np.ndarray,
    e_train: np.ndarray,
    e_test: np.ndarray,
    y_test: np.ndarray,
    seed: int,
) -> dict[str, float]:
    from sklearn.manifold import trustworthiness
    from sklearn.neighbors import KNeighborsClassifier

    rng = np.random.default_rng(seed)
    sub = rng.choice(len(x_train), min(TRUST_SUBSAMPLE, len(x_train)), replace=False)
    classifier = KNeighborsClassifier(n_neighbors=10).fit(e_train, y_train)
    return {
        "trustworthiness (10k)": float(trustworthiness(x_train[sub], e_train[sub], n_neighbors=15)),
        "held-out 10-NN acc": float(classifier.score(e_test, y_test)),
    }


class _TrainingCount:
    """Records the graph's edges and the steps of the fits' training loops (section (b))."""

    def __init__(self) -> None:
        import pumap.umap

        self.module = pumap.umap
        self.original = pumap.umap.train_umap
        self.n_edges = 0
        self.steps = 0
        self.rows_per_step = 0
        self.batch = 0
        self.weights = 0

    def __enter__(self) -> _TrainingCount:
        from pumap.training.trainer import steps_per_epoch

        def counted(encoder, x, graph, **kw):
            batch = min(kw["batch_size"], graph.n_edges)
            self.n_edges = graph.n_edges
            self.batch = batch
            self.steps = steps_per_epoch(graph.n_edges, batch) * kw["n_epochs"]
            self.rows_per_step = x.shape[0] if 2 * batch >= x.shape[0] else 2 * batch
            self.weights = sum(p.numel() for p in encoder.parameters())
            return self.original(encoder, x, graph, **kw)

        self.module.train_umap = counted
        return self

    def __exit__(self, *exc: object) -> None:
        self.module.train_umap = self.original


def bench_fits(args: argparse.Namespace, plan: dict, device: torch.device) -> tuple[list, Any]:
    """Section (b); returns the rows and the model of the last 64-D fit (for section (c))."""
    from pumap import Umap

    rows, model = [], None
    for name, (x_train, y_train, x_test, y_test) in fit_datasets(args, plan):
        options = {"knn_method": args.knn_method, **plan["fit_options"]}
        log(f"  fit: {name} on {device} {options}")
        reset_peak(device)
        clock = time.perf_counter()
        with _TrainingCount() as count:
            fitted = Umap(seed=args.seed, verbose=False, device=str(device), **options).fit(
                x_train
            )
        fit_s = time.perf_counter() - clock
        peak = peak_mib(device)
        train_s = fitted.timings.get("train", float("nan"))
        edges_sampled = count.steps * count.batch
        encoder_flop = 6.0 * count.rows_per_step * count.weights * count.steps
        e_test = fitted.transform(x_test)
        row = {
            "data": name,
            "train rows": len(x_train),
            "held-out rows": len(x_test),
            "knn method": (fitted.knn_info or {}).get("method", args.knn_method),
            "knn recall": (fitted.knn_info or {}).get("recall"),
            "epochs": fitted.config.n_epochs,
            "edges": count.n_edges,
            "fit s": fit_s,
            **{f"{k} s": v for k, v in fitted.timings.items()},
            "train ns/edge": 1e9 * train_s / max(1, edges_sampled),
            "encoder TFLOP/s": encoder_flop / max(train_s, 1e-9) / 1e12,
            "peak GPU MiB": peak,
            **quality(x_train, y_train, fitted.embedding, e_test, y_test, args.seed),
        }
        rows.append(row)
        if x_train.shape[1] == DIM:
            model = fitted
        log(f"    {fit_s:.1f} s, {fitted.timings}")
    return rows, model


# --- (f): k-NN at scale -----------------------------------------------------------------------


def bench_knn_scale(sizes: list[int], device: torch.device, seed: int) -> list[dict]:
    """Section (f): the exact search (up to 2e6 points) and IVF, timed once each (a warm-up
    search on 20,000 points first), with the recall estimated on 1,000 rows."""
    from pumap.datasets import make_clusters
    from pumap.knn import estimate_recall, exact_search, ivf_search

    warm = torch.from_numpy(make_clusters(20_000, DIM, n_clusters=20, seed=seed)[0]).to(device)
    exact_search(warm, K, device=device)
    ivf_search(warm, K, seed=seed, device=device)
    rows = []
    for n in sizes:
        x, _ = make_clusters(n, DIM, n_clusters=20, seed=seed, cluster_std=4.0)
        x = torch.from_numpy(x).to(device)
        searches = {"ivf": lambda x=x: ivf_search(x, K, seed=seed, device=device)}
        if n <= 2_000_000:
            searches = {"exact": lambda x=x: exact_search(x, K, device=device), **searches}
        for method, search in searches.items():
            log(f"  knn: {method} n={n:,}")
            reset_peak(device)
            synchronize(device)
            clock = time.perf_counter()
            graph = search()
            synchronize(device)
            seconds = time.perf_counter() - clock
            rows.append({
                "n": n,
                "method": method,
                "seconds": seconds,
                "recall (1,000 rows)": estimate_recall(x, graph, "euclidean", n_queries=1000),
                "peak GPU MiB": peak_mib(device),
            })
            del graph
        del x
    return rows


# --- (e): training options -------------------------------------------------------------------


def bench_options(args: argparse.Namespace, plan: dict, device: torch.device) -> list[dict]:
    """Section (e): the first data set of the plan (MNIST if given) fitted with each
    combination of ``compile`` and ``mixed_precision``."""
    from pumap import Umap

    name, (x_train, y_train, x_test, y_test) = next(fit_datasets(args, plan))
    rows = []
    for options in TRAINING_OPTIONS:
        log(f"  options: {name} {options}")
        fit_options = {"knn_method": args.knn_method, **plan["fit_options"], **options}
        clock = time.perf_counter()
        fitted = Umap(seed=args.seed, verbose=False, device=str(device), **fit_options).fit(
            x_train
        )
        fit_s = time.perf_counter() - clock
        rows.append(
            {
                "data": name,
                **options,
                "epochs": fitted.config.n_epochs,
                "fit s": fit_s,
                "train s": fitted.timings["train"],
                **quality(x_train, y_train, fitted.embedding, fitted.transform(x_test), y_test,
                          args.seed),
            }
        )
    return rows


# --- (c): transform throughput ---------------------------------------------------------------


def bench_transform(
    model: Any, device: torch.device, n_rows: int, runs: int, warmup: int, seed: int
) -> list[dict]:
    """Section (c): rows held on the device, embedded in batches; also from host NumPy."""
    gen = torch.Generator(device=device).manual_seed(seed)
    x = torch.randn(n_rows, DIM, generator=gen, device=device)
    model.to(device)
    rows = []
    for batch in TRANSFORM_BATCHES:
        log(f"  transform: {n_rows:,} rows from a {device} tensor, batch {batch:,}")
        ms, _, out = measure(
            lambda b=batch, x=x: model.transform(x, batch_size=b), device, runs, warmup
        )
        assert out.device.type == device.type and out.shape == (n_rows, model.n_components)
        rows.append(
            {
                "source": f"{device.type} tensor",
                "rows": n_rows,
                "batch": batch,
                "median s": ms / 1e3,
                "points/s": n_rows / (ms / 1e3),
            }
        )
    host = x.cpu().numpy()
    del x
    log(f"  transform: {n_rows:,} rows from host NumPy, batch {TRANSFORM_BATCHES[0]:,}")
    ms, _, _ = measure(lambda: model.transform(host), device, max(1, runs // 2), 1)
    rows.append(
        {
            "source": "host NumPy (copies in and out)",
            "rows": n_rows,
            "batch": TRANSFORM_BATCHES[0],
            "median s": ms / 1e3,
            "points/s": n_rows / (ms / 1e3),
        }
    )
    return rows


# --- report --------------------------------------------------------------------------------


def header(device: torch.device) -> dict[str, Any]:
    info = machine_info()
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        info["device_name"] = torch.cuda.get_device_name(device)
        info["device_memory_gib"] = round(props.total_memory / 2**30, 1)
        info["cuda"] = torch.version.cuda
        info["hip"] = getattr(torch.version, "hip", None)
    elif device.type == "mps":
        info["device_name"] = "Apple MPS"
    else:
        info["device_name"] = f"CPU: {info['cpu']}"
    info["device"] = str(device)
    info["tf32_default"] = tf32_default()
    return info


def report(results: dict[str, Any]) -> str:
    info = results["machine"]
    lines = [
        f"# pumap GPU benchmark ({'quick' if results['quick'] else 'full'})",
        "",
        f"device: **{info['device_name']}** ({info['device']}); torch {info['torch']}"
        + (f", CUDA {info['cuda']}" if info.get("cuda") else "")
        + (f", HIP {info['hip']}" if info.get("hip") else ""),
        f"host: {info['cpu']}, {info['cores']} cores, Python {info['python']}, "
        f"{platform.system()}; TF32 default: {info['tf32_default']}",
    ]
    if "distances" in results:
        lines += [
            "",
            f"## (a) pairwise distances and exact k-NN (d={DIM}, k={K}, float32 products)",
            "",
            "median ms of the timed runs; `pairwise rows` < n: the n x n matrix would not fit, "
            "so a block of that many rows against all n is timed.",
            "",
            markdown_table(
                results["distances"],
                [
                    "n",
                    "metric",
                    "pairwise rows",
                    "pairwise ms",
                    "pairwise Gpairs/s",
                    "knn ms",
                    "knn ms (min)",
                    "index match vs fp64",
                    "mean |d - d64|",
                ],
            ),
        ]
    if "fits" in results:
        lines += ["", "## (b) full fits", ""]
        cols = [
            "data",
            "train rows",
            "knn method",
            "knn recall",
            "epochs",
            "edges",
            "fit s",
            "knn s",
            "graph s",
            "init s",
            "train s",
            "embed s",
            "index s",
            "train ns/edge",
            "encoder TFLOP/s",
            "peak GPU MiB",
            "trustworthiness (10k)",
            "held-out 10-NN acc",
        ]
        lines.append(markdown_table(results["fits"], cols))
    if "transform" in results:
        lines += ["", "## (c) transform throughput", ""]
        lines.append(
            markdown_table(
                results["transform"], ["source", "rows", "batch", "median s", "points/s"]
            )
        )
    if "precision" in results:
        lines += ["", f"## (d) k-NN block products: float32, TF32, bfloat16 (d={DIM}, k={K})", ""]
        if results["machine"]["device"] == "cpu":
            lines.append("(TF32 is a CUDA setting: on the CPU its rows run float32.)\n")
        cols = ["n", "metric"]
        for precision in PRECISIONS:
            cols += [f"{precision} ms", f"{precision} match vs fp64"]
        cols += [f"{precision} speed-up" for precision in PRECISIONS[1:]]
        lines.append(markdown_table(results["precision"], cols))
    if "options" in results:
        lines += ["", "## (e) training options: torch.compile and bfloat16 autocast", ""]
        lines.append(
            "train s includes the compilation; the same seed, data and epochs in every row.\n"
        )
        cols = ["data", "compile", "mixed_precision", "epochs", "fit s", "train s",
                "trustworthiness (10k)", "held-out 10-NN acc"]
        lines.append(markdown_table(results["options"], cols))
    if "knn_scale" in results:
        lines += ["", f"## (f) k-NN at scale (d={DIM}, k={K}, clusters)", ""]
        cols = ["n", "method", "seconds", "recall (1,000 rows)", "peak GPU MiB"]
        lines.append(markdown_table(results["knn_scale"], cols))
    for note in results.get("notes", []):
        lines.append(f"\nnote: {note}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda", help="cuda, cuda:N, mps or cpu")
    parser.add_argument("--quick", action="store_true", help="small sizes: a smoke test")
    parser.add_argument("--mnist-dir", help="folder with MNIST's t10k IDX gz files")
    parser.add_argument("--json", help="also write every result to this file")
    parser.add_argument("--runs", type=int, help="timed runs per measurement (5; quick 3)")
    parser.add_argument("--warmup", type=int, help="untimed runs first (2; quick 1)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--sections",
        default="distances,fits,transform,options,knn",
        help="comma list of distances (a and d), fits (b), transform (c), options (e), knn (f)",
    )
    parser.add_argument("--fit-sizes", help="comma list of synthetic fit sizes")
    parser.add_argument("--transform-rows", type=int)
    parser.add_argument("--knn-method", help="for the fits; default exact on a GPU, auto on CPU")
    args = parser.parse_args(argv)

    from pumap.device import resolve_device

    try:
        device = resolve_device(args.device)
    except ValueError as err:
        raise SystemExit(f"bench_gpu: {err}") from None
    if device.type == "cuda" and device.index is None:
        device = torch.device("cuda", torch.cuda.current_device())
    plan = dict(QUICK if args.quick else FULL)
    if args.fit_sizes:
        plan["fit_sizes"] = [int(s) for s in args.fit_sizes.split(",") if s]
    if args.transform_rows:
        plan["transform_rows"] = args.transform_rows
    runs = args.runs or (3 if args.quick else 5)
    warmup = args.warmup if args.warmup is not None else (1 if args.quick else 2)
    args.knn_method = args.knn_method or "auto"  # the per-device rule
    sections = {s.strip() for s in args.sections.split(",") if s.strip()}

    results: dict[str, Any] = {"quick": args.quick, "machine": header(device), "notes": []}
    info = results["machine"]
    log(f"bench_gpu: {info['device_name']} ({device}), torch {info['torch']}")
    if device.type != "cuda":
        results["notes"].append(
            f"run on {device}, not CUDA: CUDA events and TF32 do not apply; these are not GPU "
            "figures"
        )
    started = time.perf_counter()
    if "distances" in sections:
        log("(a, d) distances and k-NN")
        results["distances"], results["precision"] = bench_distances(
            device, plan["distance_sizes"], runs, warmup, args.seed
        )
    model = None
    if "fits" in sections:
        log("(b) fits")
        if not args.mnist_dir:
            results["notes"].append("no --mnist-dir: the MNIST fit was skipped")
        results["fits"], model = bench_fits(args, plan, device)
        for row in results["fits"]:
            if row["fit s"] > FIT_BUDGET_S:
                results["notes"].append(
                    f"the fit of {row['data']} took {row['fit s']:.0f} s, over the "
                    f"{FIT_BUDGET_S} s aimed for: its stage timings say where"
                )
    if "transform" in sections:
        log("(c) transform")
        if model is None:
            from pumap import Umap
            from pumap.datasets import make_clusters

            x, _ = make_clusters(5_000, DIM, n_clusters=20, seed=args.seed)
            model = Umap(seed=args.seed, verbose=False, device=str(device), n_epochs=5).fit(x)
            results["notes"].append("transform used a 5,000-point, 5-epoch model (no 64-D fit)")
        results["transform"] = bench_transform(
            model, device, plan["transform_rows"], runs, warmup, args.seed
        )
    if "options" in sections:
        log("(e) training options")
        results["options"] = bench_options(args, plan, device)
    if "knn" in sections:
        log("(f) k-NN at scale: exact and IVF")
        results["knn_scale"] = bench_knn_scale(plan["knn_sizes"], device, args.seed)
    results["total_s"] = time.perf_counter() - started

    print(report(results))
    print(f"\ntotal {results['total_s']:.0f} s")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2, default=str))
        log(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
