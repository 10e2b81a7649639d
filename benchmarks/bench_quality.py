"""How well new points are placed: pumap's forward pass and refine against umap-learn, one run.

Every (method, case, seed) fits in its own fresh Python process, one after the other, so fit
times include what a user's script pays (imports aside; umap-learn's numba compilation
included). Cases: Fashion-MNIST (its 60,000 training and 10,000 test images, from the Debian
package ``dataset-fashion-mnist``; skipped when absent), scikit-learn's digits and the MNIST test
set (stratified 80/20 splits, ``random_state=0``), an MNIST training-size sweep (the first
1k/2k/4k/8k rows, the last 2,000 held out), and synthetic clusters. Per run: fit seconds,
trustworthiness@15 of the training embedding (its first 3,000 rows) and of the held-out
embedding (its first 2,000 rows), held-out 10-NN accuracy
(classifier fitted on the training embedding), and transform points/s (second call). pumap runs
report the forward pass and ``transform(refine=True)`` with 30 and with 100 epochs (the
default for up to 10,000 new points, as umap-learn chooses) from one fit.

    python benchmarks/bench_quality.py --mnist-dir ../shared/data/mnist --seeds 0 1 2
    python benchmarks/bench_quality.py --cases fmnist,mnist,digits --methods pumap,umap-learn
    python benchmarks/bench_quality.py --cases digits --methods pumap,umap-learn --seeds 0

Methods: ``pumap`` (defaults), ``pumap-wide`` (the forward-pass preset: 3 x 256 MLP,
input dropout 0.4, 2x the automatic epochs), ``umap-learn``, ``torchdr`` (when installed),
and the supervised fits ``pumap-y`` and ``umap-learn-y`` (``fit(x_train, y_train)``,
defaults otherwise, held-out points placed without labels):

    python benchmarks/bench_quality.py --cases digits \
        --methods pumap,pumap-y,umap-learn,umap-learn-y
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

CASES = ("fmnist", "digits", "mnist", "sweep1k", "sweep2k", "sweep4k", "sweep8k", "synthetic")
METHODS = ("pumap", "pumap-pca", "pumap-wide", "pumap-y", "umap-learn", "umap-learn-y", "torchdr")
# The forward-pass preset measured in docs/benchmarks.md ("New points").
WIDE = {"hidden_layers": [256, 256, 256], "input_dropout": 0.4, "epochs_factor": 2}
TRUST_ROWS = 3000  # training trustworthiness on the first rows: O(n^2) otherwise
HELDOUT_TRUST_ROWS = 2000  # the same for the held-out rows
WARMUP_ROWS = 100  # a transform's first call (umap-learn's numba compilation) on a few rows
FMNIST_DIR = "/usr/share/datasets/fashion-mnist"  # where dataset-fashion-mnist installs it


def fmnist_available(directory: str = FMNIST_DIR) -> bool:
    """Whether the Fashion-MNIST files are there (the case is skipped otherwise)."""
    return (Path(directory) / "train-images-idx3-ubyte.gz").exists()


def load_case(
    case: str, mnist_dir: str, seed: int, fmnist_dir: str = FMNIST_DIR
) -> tuple[np.ndarray, ...]:
    """(x_train, y_train, x_test, y_test) float32 / int for ``case``."""
    from sklearn.model_selection import train_test_split

    if case == "fmnist":
        from pumap.datasets import load_mnist

        xtr, ytr = load_mnist(fmnist_dir, "train")
        xte, yte = load_mnist(fmnist_dir, "test")
        return xtr, ytr, xte, yte
    if case == "digits":
        from sklearn.datasets import load_digits

        x, y = load_digits(return_X_y=True)
    elif case == "synthetic":
        from pumap.datasets import make_clusters

        x, y = make_clusters(5000, n_features=50, n_clusters=10, seed=seed)
    else:
        from pumap.datasets import load_mnist

        x, y = load_mnist(mnist_dir)
        if case.startswith("sweep"):
            n = int(case[len("sweep") : -1]) * 1000
            return x[:n], y[:n], x[-2000:], y[-2000:]
    x = np.asarray(x, dtype=np.float32)
    xtr, xte, ytr, yte = train_test_split(x, y, test_size=0.2, stratify=y, random_state=0)
    return xtr, ytr, xte, yte


def scores(xtr, ytr, etr, xte, yte, ete) -> dict[str, float]:
    from sklearn.manifold import trustworthiness
    from sklearn.neighbors import KNeighborsClassifier

    knn = KNeighborsClassifier(n_neighbors=10).fit(etr, ytr)
    return {
        "heldout_acc": float(knn.score(ete, yte)),
        "heldout_trust": float(
            trustworthiness(xte[:HELDOUT_TRUST_ROWS], ete[:HELDOUT_TRUST_ROWS], n_neighbors=15)
        ),
    }


def train_trust(xtr: np.ndarray, etr: np.ndarray) -> float:
    from sklearn.manifold import trustworthiness

    return float(trustworthiness(xtr[:TRUST_ROWS], etr[:TRUST_ROWS], n_neighbors=15))


def timed(fn, *args, **kwargs):
    start = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - start


def run_one(
    method: str, case: str, seed: int, mnist_dir: str, fmnist_dir: str = FMNIST_DIR,
    device: str = "cpu",
) -> dict:
    """Fit and transform with one method in this process; return the measurements.

    ``device`` applies to pumap's methods; umap-learn and TorchDR run on the CPU.
    """
    xtr, ytr, xte, yte = load_case(case, mnist_dir, seed, fmnist_dir)
    out: dict = {"method": method, "case": case, "seed": seed, "n_train": len(xtr)}
    if method.startswith("pumap"):

        import pumap.umap  # noqa: F401  (imports outside the timing)

        if device != "cpu":  # CPU runs' records stay as they were
            out["device"] = device

        labels = ytr if method == "pumap-y" else None
        fitted, fit_s = timed(_fit_pumap, xtr, seed, method, labels, device)
        out["fit_s"] = fit_s
        out["stages_s"] = {k: round(v, 3) for k, v in fitted.timings.items()}
        etr = fitted.embedding
        out["train_trust"] = train_trust(xtr, etr)
        modes = (
            ("forward", {}),
            ("refine30", {"refine": True, "refine_epochs": 30}),
            ("refine100", {"refine": True, "refine_epochs": 100}),
        )
        for name, kwargs in modes:
            fitted.transform(xte[:WARMUP_ROWS], **kwargs)  # first call: warm-up
            ete, seconds = timed(fitted.transform, xte, **kwargs)
            out[name] = {
                **scores(xtr, ytr, etr, xte, yte, ete), "points_per_s": len(xte) / seconds
            }
    elif method in ("umap-learn", "umap-learn-y"):
        import umap

        labels = ytr if method == "umap-learn-y" else None
        model, fit_s = timed(umap.UMAP(n_neighbors=15, random_state=seed).fit, xtr, labels)
        out["fit_s"] = fit_s
        etr = model.embedding_
        out["train_trust"] = train_trust(xtr, etr)
        model.transform(xte[:WARMUP_ROWS])  # the first call compiles; later calls do not
        ete, seconds = timed(model.transform, xte)
        out["transform"] = {
            **scores(xtr, ytr, etr, xte, yte, ete), "points_per_s": len(xte) / seconds
        }
    elif method == "torchdr":
        import torchdr

        # backend=None: TorchDR's plain torch k-NN (its default backend needs faiss)
        model = torchdr.UMAP(n_neighbors=16, random_state=seed, device="cpu", backend=None)
        etr, fit_s = timed(model.fit_transform, xtr)
        etr = np.asarray(etr)
        out["fit_s"] = fit_s
        out["train_trust"] = train_trust(xtr, etr)
        model.transform(xte[:WARMUP_ROWS], X_train=xtr)
        ete, seconds = timed(model.transform, xte, X_train=xtr)
        out["transform"] = {
            **scores(xtr, ytr, etr, xte, yte, np.asarray(ete)), "points_per_s": len(xte) / seconds
        }
    else:
        raise SystemExit(f"unknown method {method!r}")
    return out


def _fit_pumap(
    xtr: np.ndarray, seed: int, method: str, ytr: np.ndarray | None = None, device: str = "cpu"
):
    """pumap's defaults; ``pumap-pca`` trains on 100 principal components
    (``input_pca=100``), ``pumap-wide`` is the WIDE preset."""
    from pumap import Umap

    if method != "pumap-wide":
        pca = {"input_pca": 100} if method == "pumap-pca" else {}
        return Umap(seed=seed, verbose=False, device=device, **pca).fit(xtr, ytr)
    from pumap.training.schedule import LARGE_BATCH, auto_n_epochs

    cfg = Umap().config
    # Twice the automatic epochs of this graph, whose edge count is about 0.72 n k (measured:
    # 86,549 edges for MNIST's 8,000 rows at k = 15): about 600 optimiser steps.
    edges = int(0.72 * len(xtr) * (cfg.n_neighbors - 1))
    n_epochs = WIDE["epochs_factor"] * auto_n_epochs(edges, LARGE_BATCH)
    return Umap(
        seed=seed,
        verbose=False,
        device=device,
        n_epochs=n_epochs,
        batch_size=LARGE_BATCH,
        hidden_layers=tuple(WIDE["hidden_layers"]),
        input_dropout=WIDE["input_dropout"],
    ).fit(xtr)


def summarise(results: list[dict]) -> str:
    """Markdown table: means over seeds per (case, method[/mode])."""
    groups: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for r in results:
        modes = [m for m in ("forward", "refine30", "refine100", "transform") if m in r]
        for mode in modes:
            label = r["method"] if mode == "transform" else f"{r['method']} {mode}"
            groups[(r["case"], label)].append(
                {"fit_s": r["fit_s"], "train_trust": r["train_trust"], **r[mode]}
            )
    lines = [
        "| case | method | seeds | fit s | train trust@15 | held-out trust@15 | "
        "held-out 10-NN acc | transform pts/s |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    order = sorted(groups.items(), key=lambda kv: (CASES.index(kv[0][0]), kv[0][1]))
    for (case, label), rows in order:
        m = {k: float(np.mean([r[k] for r in rows])) for k in rows[0]}
        lines.append(
            f"| {case} | {label} | {len(rows)} | {m['fit_s']:.1f} | {m['train_trust']:.4f} | "
            f"{m['heldout_trust']:.4f} | {m['heldout_acc']:.4f} | {m['points_per_s']:,.0f} |"
        )
    return "\n".join(lines)


def against_umap_learn(results: list[dict], mode: str) -> str:
    """Per case, pumap's ``mode`` minus umap-learn (means over seeds), and the speed ratio."""
    mean: dict[tuple[str, str], dict[str, float]] = {}
    for key in {(r["case"], r["method"]) for r in results}:
        runs = [r for r in results if (r["case"], r["method"]) == key]
        part = "transform" if key[1] == "umap-learn" else mode
        runs = [r for r in runs if part in r]
        if runs:
            mean[key] = {k: float(np.mean([r[part][k] for r in runs])) for k in runs[0][part]}
            for k in ("fit_s", "train_trust"):
                mean[key][k] = float(np.mean([r[k] for r in runs]))
            mean[key]["seeds"] = len(runs)
    lines = [
        f"| case | seeds | fit time / umap-learn | train trust - umap-learn | "
        f"pumap {mode} acc - umap-learn | held-out trust - umap-learn | "
        "transform speed / umap-learn |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for case in CASES:
        p, u = mean.get((case, "pumap")), mean.get((case, "umap-learn"))
        if p is None or u is None:
            continue
        lines.append(
            f"| {case} | {int(min(p['seeds'], u['seeds']))} | "
            f"{p['fit_s'] / u['fit_s']:.2f}x | {p['train_trust'] - u['train_trust']:+.4f} | "
            f"{p['heldout_acc'] - u['heldout_acc']:+.4f} | "
            f"{p['heldout_trust'] - u['heldout_trust']:+.4f} | "
            f"{p['points_per_s'] / u['points_per_s']:.1f}x |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mnist-dir", default=str(HERE.parents[1] / "shared" / "data" / "mnist"))
    parser.add_argument("--fmnist-dir", default=FMNIST_DIR)
    parser.add_argument("--device", default="cpu",
                        help="pumap's device (umap-learn and TorchDR stay on the CPU)")
    parser.add_argument("--cases", default=",".join(CASES))
    parser.add_argument("--methods", default="pumap,pumap-wide,umap-learn,torchdr")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--wide-cases", default="digits,mnist",
                        help="cases on which pumap-wide runs (it is the slowest)")
    parser.add_argument("--jsonl", help="append every run's measurements here")
    parser.add_argument("--summarise", nargs="+", metavar="JSONL",
                        help="only print the tables of earlier runs' --jsonl files")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.summarise:
        results = [
            json.loads(line) for path in args.summarise
            for line in Path(path).read_text().splitlines() if line.strip()
        ]
        print(summarise(results))
        for mode in ("forward", "refine30", "refine100"):
            print(f"\n{against_umap_learn(results, mode)}")
        return 0

    if args.child:
        method, case, seed = args.child
        print(json.dumps(
            run_one(method, case, int(seed), args.mnist_dir, args.fmnist_dir, args.device)
        ))
        return 0

    from _common import machine_info

    methods = [m for m in args.methods.split(",") if m]
    if "torchdr" in methods:
        import importlib.util

        if importlib.util.find_spec("torchdr") is None:
            print("torchdr is not installed: skipped", file=sys.stderr)
            methods.remove("torchdr")
    wide_cases = set(args.wide_cases.split(","))
    cases = [c for c in args.cases.split(",") if c]
    if "fmnist" in cases and not fmnist_available(args.fmnist_dir):
        print(f"Fashion-MNIST is not in {args.fmnist_dir} (apt-get install dataset-fashion-mnist): "
              "skipped", file=sys.stderr)
        cases.remove("fmnist")
    results, failures = [], []
    for seed in args.seeds:
        for case in cases:
            for method in methods:
                if method == "pumap-wide" and case not in wide_cases:
                    continue
                cmd = [sys.executable, str(Path(__file__).resolve()), "--mnist-dir",
                       args.mnist_dir, "--fmnist-dir", args.fmnist_dir, "--device", args.device,
                       "--child", method, case, str(seed)]
                done = subprocess.run(cmd, capture_output=True, text=True, check=False,
                                      env=dict(os.environ))
                if done.returncode != 0:  # e.g. killed for memory: say so, go on
                    print(done.stderr[-3000:], file=sys.stderr)
                    failures.append(f"{method} {case} seed {seed}: exit status {done.returncode}")
                    print(failures[-1], file=sys.stderr)
                    continue
                result = json.loads(done.stdout.strip().splitlines()[-1])
                results.append(result)
                print(json.dumps(result), file=sys.stderr)
                if args.jsonl:
                    with open(args.jsonl, "a") as fh:
                        fh.write(json.dumps(result) + "\n")
    print(f"machine: {json.dumps(machine_info())}")
    print(f"command: python benchmarks/bench_quality.py {' '.join(sys.argv[1:])}")
    print(summarise(results))
    for mode in ("forward", "refine30", "refine100"):
        print(f"\n{against_umap_learn(results, mode)}")
    for failure in failures:
        print(f"failed: {failure}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
