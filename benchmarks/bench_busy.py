"""One digits fit, timed, for the "busy machine" section of docs/benchmarks.md.

Run it under the load to study, with the environment to compare; it prints one JSON line
(the fit's seconds, its stages, torch's thread count afterwards and OMP_WAIT_POLICY):

    taskset -c 1 python3 -c "while True: pass" &        # a busy process on core 1
    OMP_NUM_THREADS=2 taskset -c 1 python benchmarks/bench_busy.py              # default
    OMP_NUM_THREADS=2 OMP_WAIT_POLICY=PASSIVE taskset -c 1 python benchmarks/bench_busy.py
    OMP_NUM_THREADS=2 taskset -c 1 python benchmarks/bench_busy.py --threads 1
    kill %1
"""

from __future__ import annotations

import argparse
import json
import os
import time

import torch

from pumap import Umap
from pumap.datasets import load_digits


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=None, help="Umap's threads option")
    args = parser.parse_args()
    x, _ = load_digits()
    start = time.perf_counter()
    fitted = Umap(seed=0, verbose=False, device="cpu", threads=args.threads).fit(x)
    report = {
        "fit_s": round(time.perf_counter() - start, 2),
        "stages_s": {k: round(v, 2) for k, v in fitted.timings.items()},
        "threads_option": args.threads,
        "torch_threads_after": torch.get_num_threads(),
        "OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY"),
    }
    print(json.dumps(report))


if __name__ == "__main__":
    main()
