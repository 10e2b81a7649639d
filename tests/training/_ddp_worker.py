"""One rank of the data-parallel fits of tests/training/test_distributed.py.

Run as ``python -m torch.distributed.run --standalone --nproc-per-node 2 _ddp_worker.py OUT
SEEDS`` (``OUT``, a folder): every rank fits the train split of digits several times and
writes what the tests compare to ``OUT/rank{r}.npz`` (and rank 0 the model
``OUT/model.safetensors``). With ``SEEDS`` empty, the fits:

- ``a`` and ``b``: the same seed, to be identical; rank 0 saves ``a``;
- ``resumed``: the same fit stopped by Ctrl-C (a callback) after ``STOP_AT`` epochs, its
  checkpoint written every epoch, then resumed from that checkpoint: it must equal ``a``.

With ``SEEDS`` (``0,1,2``), only ``q{seed}``: fits with the default options, for the
quality comparison with one process.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

import pumap.umap
from pumap import TrainingInterrupted, Umap, distributed
from pumap.training.checkpoint import graph_fingerprint

N_EPOCHS = 12
STOP_AT = 5


def digits_split() -> tuple[np.ndarray, ...]:
    """Digits' 80 % train rows and 20 % held-out rows (as test_cuda.py splits them)."""
    from pumap.datasets import load_digits

    x, y = load_digits()
    order = np.random.default_rng(0).permutation(len(x))
    cut = int(0.8 * len(x))
    return x[order[:cut]], y[order[:cut]], x[order[cut:]], y[order[cut:]]


def main(out: Path, quality_seeds: list[int]) -> None:
    x_train = digits_split()[0]
    if quality_seeds:
        quality(out, x_train, quality_seeds)
    else:
        checks(out, x_train)
    late = out / "rank0_late.txt"  # what rank 0 writes last, slowly, as the CLI saves
    if distributed.rank() == 0 and not quality_seeds:
        time.sleep(1.0)
        late.write_text("written")
    distributed.shutdown()  # waits for every rank
    if distributed.rank() == 1 and not quality_seeds:
        (out / "rank1_after_shutdown.txt").write_text(str(late.exists()))


def checks(out: Path, x_train: np.ndarray) -> None:
    calls = {"knn": 0, "graphs": []}
    knn, train = pumap.umap._knn, pumap.umap.train_umap

    def counting_knn(*args, **kwargs):  # how many times this rank runs the k-NN search
        calls["knn"] += 1
        return knn(*args, **kwargs)

    def recording_train(encoder, x, graph, **kwargs):  # the graph each rank trains on
        calls["graphs"].append(graph_fingerprint(graph)["blake2b"])
        return train(encoder, x, graph, **kwargs)

    pumap.umap._knn, pumap.umap.train_umap = counting_knn, recording_train
    short = {"seed": 3, "n_epochs": N_EPOCHS, "verbose": False}
    results: dict[str, np.ndarray] = {}
    a = Umap(**short).fit(x_train)
    results["a"] = a.embedding
    results["world_size"] = np.array(a.world_size)
    if distributed.rank() == 0:
        a.save(out / "model.safetensors")
    results["b"] = Umap(**short).fit(x_train).embedding

    checkpoint = out / "checkpoint.safetensors"

    def stop(progress) -> None:
        if progress.epoch == STOP_AT:
            raise KeyboardInterrupt

    try:
        Umap(**short).fit(x_train, callback=stop, checkpoint_path=checkpoint)
        raise AssertionError("the callback did not stop the fit")
    except TrainingInterrupted as stopped:
        results["stopped_at"] = np.array(stopped.checkpoint_epoch)
    results["resumed"] = Umap(**short).fit(x_train, resume_from=checkpoint).embedding
    results["graphs"] = np.array(calls["graphs"])
    try:  # rank 1 passes other data: every rank refuses it, before the k-NN search
        Umap(**short).fit(x_train + distributed.rank())
        results["mismatch"] = np.array("")
    except ValueError as err:
        results["mismatch"] = np.array(str(err))
    results["knn_calls"] = np.array(calls["knn"])
    np.savez(out / f"rank{distributed.rank()}.npz", **results)


def quality(out: Path, x_train: np.ndarray, seeds: list[int]) -> None:
    results: dict[str, np.ndarray] = {}
    for seed in seeds:
        fitted = Umap(seed=seed, verbose=False).fit(x_train)
        results[f"q{seed}"] = fitted.embedding
        results[f"q{seed}_test"] = fitted.transform(digits_split()[2])
    np.savez(out / f"rank{distributed.rank()}.npz", **results)


if __name__ == "__main__":
    main(Path(sys.argv[1]), [int(s) for s in sys.argv[2].split(",") if s])
