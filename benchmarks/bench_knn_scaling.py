"""How the k-NN cost grows with n: exact blocked search vs NN-Descent (and scikit-learn).

Every measurement runs in a fresh Python subprocess, so it reports what a user's script
pays: for NN-Descent that includes importing pynndescent and numba compiling its NN-Descent
loop (pynndescent marks that loop ``cache=False``; only some helpers are cached on disk).
Per (d, n) it records:

  * exact:      first call in a fresh process; a second (warm) call for n <= --warm-max-n;
  * nndescent:  first call in a fresh process with numba's on-disk cache as installed
                (``fresh_s``), a second call in the same process (``warm_s``), and its
                recall against the exact graph; at ``--cold-sizes`` also a first call with
                an empty ``NUMBA_CACHE_DIR`` (``cold_s``: the very first run after install);
  * sklearn:    brute-force ``NearestNeighbors`` up to ``--sklearn-max-n``;

each with the peak resident memory the call added (``/proc`` VmHWM, reset before the call,
minus the RSS before it: the input data are not counted, everything the call allocates is).
Then the exact search at ``--memory-n`` points under several ``--budgets``.

Results go to --out (JSON lines, appended as they come: a long run can be inspected or
resumed with --resume); --plot draws time and memory against n; the crossovers are printed.

    nice -n 10 python benchmarks/bench_knn_scaling.py --out scaling.jsonl \\
        --plot docs/knn_scaling.svg
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

HERE = Path(__file__).resolve()


# --- worker: one measurement in this (fresh) process --------------------------------------


def worker(args: argparse.Namespace) -> dict:
    t_start = time.perf_counter()
    import numpy as np
    import torch
    from _common import current_rss_mib, peak_rss_mib, reset_peak_rss, synthetic
    from _metrics import knn_recall

    import pumap.knn as knn

    import_s = time.perf_counter() - t_start
    x = synthetic(args.n, args.d, args.seed)
    out: dict = {"method": args.worker, "n": args.n, "d": args.d, "k": args.k,
                 "import_s": import_s, "threads": torch.get_num_threads()}
    if args.numba_cache_dir:
        out["numba_cache"] = "empty"

    def measure(fn):
        reset_peak_rss()
        before = current_rss_mib()
        start = time.perf_counter()
        result = fn()
        seconds = time.perf_counter() - start
        return seconds, max(0.0, peak_rss_mib() - before), result

    if args.worker == "exact":
        budget = int(args.budget_mib * 2**20)
        out["budget_mib"] = args.budget_mib
        run = lambda: knn.exact_knn(x, args.k, memory_budget=budget)  # noqa: E731
    elif args.worker == "nndescent":
        run = lambda: knn.nndescent_knn(x, args.k, seed=args.seed)  # noqa: E731
    else:
        from _common import drop_self
        from sklearn.neighbors import NearestNeighbors

        def run():
            nn = NearestNeighbors(n_neighbors=args.k + 1, algorithm="brute").fit(x)
            dist, idx = nn.kneighbors(x)
            return knn.KnnGraph(*map(torch.from_numpy, drop_self(idx, dist, args.k)))

    out["fresh_s"], out["peak_mib"], graph = measure(run)
    if args.warm:
        out["warm_s"], out["warm_peak_mib"], _ = measure(run)
    if args.save:
        np.savez(args.save, indices=graph.indices.numpy(), distances=graph.distances.numpy())
    if args.ref and Path(args.ref).is_file():
        ref = np.load(args.ref)
        out["recall"] = knn_recall(graph.indices, ref["indices"], graph.distances,
                                   ref["distances"], tie_tol=1e-4)
    return out


# --- driver ---------------------------------------------------------------------------------


def spawn(method: str, n: int, d: int, args: argparse.Namespace, **extra) -> dict | None:
    cmd = [sys.executable, str(HERE), "--worker", method, "--n", str(n), "--d", str(d),
           "--k", str(args.k), "--seed", str(args.seed)]
    env = dict(os.environ)
    for key, value in extra.items():
        if key == "numba_cache_dir":
            env["NUMBA_CACHE_DIR"] = value
            cmd += ["--numba-cache-dir", value]
        elif value is True:
            cmd.append("--" + key.replace("_", "-"))
        elif value not in (None, False):
            cmd += ["--" + key.replace("_", "-"), str(value)]
    start = time.perf_counter()
    try:
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True,
                              timeout=args.timeout)
    except subprocess.TimeoutExpired:
        return {"method": method, "n": n, "d": d, "k": args.k, "status": "timeout",
                "process_s": time.perf_counter() - start}
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["?"]
        return {"method": method, "n": n, "d": d, "k": args.k,
                "status": f"error: {tail[0][:200]}"}
    row = json.loads(proc.stdout.strip().splitlines()[-1])
    row["process_s"] = time.perf_counter() - start
    row["status"] = "ok"
    return row


def load_rows(path: Path | None) -> list[dict]:
    if path is None or not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def crossover(rows: list[dict], d: int, key: str) -> float | None:
    """Smallest n (log-log interpolated) where NN-Descent's ``key`` time beats exact's."""
    exact = {r["n"]: r["fresh_s"] for r in rows
             if r["method"] == "exact" and r["d"] == d and r.get("status") == "ok"
             and r.get("budget_mib") == DEFAULT_BUDGET_MIB}
    nnd = {r["n"]: r[key] for r in rows if r["method"] == "nndescent" and r["d"] == d
           and r.get("status") == "ok" and key in r and "numba_cache" not in r}
    ns = sorted(set(exact) & set(nnd))
    prev = None
    for n in ns:
        gap = math.log(exact[n]) - math.log(nnd[n])  # > 0: NN-Descent faster
        if gap > 0:
            if prev is None:
                return float(n)
            n0, g0 = prev
            t = g0 / (g0 - gap)  # g0 <= 0 < gap
            return float(math.exp(math.log(n0) + t * (math.log(n) - math.log(n0))))
        prev = (n, gap)
    return None


DEFAULT_BUDGET_MIB = 256.0


def plot(rows: list[dict], path: Path, dims: list[int], threshold: int | None) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, len(dims), figsize=(5.5 * len(dims), 8), squeeze=False)
    series = [
        ("exact", "fresh_s", "pumap exact (blocked, CPU)", "C0", "-o"),
        ("nndescent", "fresh_s", "NN-Descent, fresh process", "C1", "-s"),
        ("nndescent", "warm_s", "NN-Descent, warm (compiled)", "C1", ":s"),
        ("sklearn", "fresh_s", "sklearn brute force", "C2", "--^"),
    ]
    for col, d in enumerate(dims):
        ax, axm = axes[0, col], axes[1, col]
        for method, key, label, colour, style in series:
            pts = sorted((r["n"], r[key], r.get("peak_mib")) for r in rows
                         if r["method"] == method and r["d"] == d and r.get("status") == "ok"
                         and key in r and "numba_cache" not in r
                         and r.get("budget_mib", DEFAULT_BUDGET_MIB) == DEFAULT_BUDGET_MIB)
            if not pts:
                continue
            ax.plot([p[0] for p in pts], [p[1] for p in pts], style, color=colour, label=label)
            if key == "fresh_s":
                axm.plot([p[0] for p in pts], [p[2] for p in pts], style, color=colour,
                         label=label)
        cold = [r for r in rows if r["method"] == "nndescent" and r["d"] == d
                and r.get("numba_cache") == "empty" and r.get("status") == "ok"]
        if cold:
            ax.plot([r["n"] for r in cold], [r["fresh_s"] for r in cold], "x", color="C3",
                    markersize=9, label="NN-Descent, first run (empty numba cache)")
        for a in (ax, axm):
            a.set_xscale("log")
            a.set_yscale("log")
            a.grid(True, which="both", alpha=0.3)
            if threshold:
                a.axvline(threshold, color="grey", ls="--", lw=1)
        ax.set_title(f"k = 15, d = {d}: time of one k-NN graph")
        ax.set_ylabel("seconds")
        axm.set_title(f"d = {d}: peak memory added by the call")
        axm.set_ylabel("MiB above the RSS before the call")
        axm.set_xlabel("n points")
        ax.legend(fontsize=8)
    fig.suptitle("k-NN graph cost against n (dashed line: the knn_method='auto' "
                 "threshold)", fontsize=10)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    print(f"plot written to {path}")


def summary(rows: list[dict], dims: list[int]) -> None:
    from _common import markdown_table

    cols = ["method", "d", "n", "fresh_s", "warm_s", "peak_mib", "recall", "budget_mib",
            "numba_cache", "status"]
    ok = sorted(rows, key=lambda r: (r["d"], r["method"], r.get("budget_mib") or 0, r["n"]))
    print(markdown_table(ok, cols))
    for d in dims:
        for key in ("fresh_s", "warm_s"):
            c = crossover(rows, d, key)
            what = "fresh process" if key == "fresh_s" else "warm process"
            print(f"d={d}: NN-Descent ({what}) beats exact from n ~ "
                  + (f"{c:,.0f}" if c else "(never in the measured range)"))


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--sizes", default="1000,2000,5000,10000,20000,50000,100000,200000")
    p.add_argument("--dims", default="64,784")
    p.add_argument("--k", type=int, default=15)
    p.add_argument("--methods", default="exact,nndescent,sklearn")
    p.add_argument("--exact-max-n", type=int, default=200_000)
    p.add_argument("--sklearn-max-n", type=int, default=50_000)
    p.add_argument("--warm-max-n", type=int, default=20_000,
                   help="exact/sklearn: also time a second call up to this n")
    p.add_argument("--cold-sizes", default="10000",
                   help="NN-Descent also with an empty NUMBA_CACHE_DIR at these n")
    p.add_argument("--memory-n", type=int, default=100_000)
    p.add_argument("--memory-d", type=int, default=784)
    p.add_argument("--budgets", default="64,1024", help="extra exact budgets (MiB) at --memory-n")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--timeout", type=float, default=3600.0, help="seconds per measurement")
    p.add_argument("--out", type=Path, default=None, help="JSON lines, appended")
    p.add_argument("--resume", action="store_true", help="skip measurements already in --out")
    p.add_argument("--plot", type=Path, default=None)
    p.add_argument("--threshold", type=int, default=None, help="draw this n on the plot")
    p.add_argument("--plot-only", action="store_true", help="just summarise/plot --out")
    # worker mode
    p.add_argument("--worker", choices=["exact", "nndescent", "sklearn"], default=None,
                   help=argparse.SUPPRESS)
    p.add_argument("--n", type=int, help=argparse.SUPPRESS)
    p.add_argument("--d", type=int, help=argparse.SUPPRESS)
    p.add_argument("--budget-mib", type=float, default=DEFAULT_BUDGET_MIB, help=argparse.SUPPRESS)
    p.add_argument("--warm", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--save", default=None, help=argparse.SUPPRESS)
    p.add_argument("--ref", default=None, help=argparse.SUPPRESS)
    p.add_argument("--numba-cache-dir", default=None, help=argparse.SUPPRESS)
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.worker:
        print(json.dumps(worker(args)))
        return
    from _common import machine_info

    sizes = [int(s) for s in args.sizes.split(",")]
    dims = [int(s) for s in args.dims.split(",")]
    methods = args.methods.split(",")
    cold_sizes = {int(s) for s in args.cold_sizes.split(",") if s}
    rows = load_rows(args.out) if (args.resume or args.plot_only) else []
    if not args.plot_only:
        print("# machine: " + json.dumps(machine_info()), flush=True)
        done = {(r["method"], r["n"], r["d"], r.get("budget_mib"), r.get("numba_cache"))
                for r in rows if r.get("status") == "ok"}
        tmp = Path(tempfile.mkdtemp(prefix="knn_scaling_"))

        def record(row: dict | None) -> None:
            if row is None:
                return
            row["load_avg_1m"] = round(os.getloadavg()[0], 2)
            rows.append(row)
            print(json.dumps(row), flush=True)
            if args.out:
                with open(args.out, "a") as f:
                    f.write(json.dumps(row) + "\n")

        for d in dims:
            for n in sizes:
                ref = tmp / f"exact_{n}_{d}.npz"
                if "exact" in methods and n <= args.exact_max_n:
                    if ("exact", n, d, DEFAULT_BUDGET_MIB, None) not in done:
                        record(spawn("exact", n, d, args, warm=n <= args.warm_max_n, save=ref))
                    elif "nndescent" in methods and ("nndescent", n, d, None, None) not in done:
                        spawn("exact", n, d, args, save=ref)  # resumed: the recall reference
                if "nndescent" in methods:
                    if ("nndescent", n, d, None, None) not in done:
                        record(spawn("nndescent", n, d, args, warm=True, ref=ref))
                    if n in cold_sizes and ("nndescent", n, d, None, "empty") not in done:
                        cache = tempfile.mkdtemp(prefix="numba_cache_empty_")
                        record(spawn("nndescent", n, d, args, ref=ref, numba_cache_dir=cache))
                if ("sklearn" in methods and n <= args.sklearn_max_n
                        and ("sklearn", n, d, None, None) not in done):
                    record(spawn("sklearn", n, d, args, warm=n <= args.warm_max_n, ref=ref))
                if ref.is_file():
                    ref.unlink()
        for budget in [float(b) for b in args.budgets.split(",") if b]:
            if ("exact", args.memory_n, args.memory_d, budget, None) not in done:
                record(spawn("exact", args.memory_n, args.memory_d, args, budget_mib=budget))
    summary(rows, dims)
    if args.plot:
        plot(rows, args.plot, dims, args.threshold)


if __name__ == "__main__":
    main()
