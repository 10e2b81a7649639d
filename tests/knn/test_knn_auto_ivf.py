"""``knn_method="auto"``'s IVF on the CPU: where it is chosen, and the recall guard that
probes more clusters or hands the search to NN-Descent (`pumap.knn.choose`)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import pumap.graph.neighbours as neighbours
import pumap.knn.choose as choose
from pumap import FittedUmap, Umap
from pumap.cli import main as cli_main
from pumap.datasets import make_clusters
from pumap.knn import KnnGraph, choose_method, exact_knn, ivf_search, nndescent_search

CPU = torch.device("cpu")


def _recall(found: torch.Tensor, truth: torch.Tensor) -> float:
    k = truth.shape[1]
    rows = zip(found.tolist(), truth.tolist(), strict=True)
    return float(np.mean([len(set(a) & set(b)) / k for a, b in rows]))


def _largest(cheaper, d: int) -> int:
    lo, hi = 1, 10**8  # cheaper(lo, d) holds, cheaper(hi, d) does not
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if cheaper(mid, d) else (lo, mid)
    return lo


@pytest.mark.parametrize("d", [64, 784])
def test_auto_on_the_cpu_goes_exact_then_ivf_then_nndescent(d: int) -> None:
    exact_edge = _largest(choose.exact_is_cheaper, d)
    ivf_edge = _largest(choose.ivf_is_cheaper, d)
    assert ivf_edge > 2 * exact_edge  # IVF's n**1.5 work leaves it a real range
    for metric in ("euclidean", "cosine"):
        assert choose_method(exact_edge, metric, "auto", CPU, d) == "exact"
        assert choose_method(exact_edge + 1, metric, "auto", CPU, d) == "ivf"
        assert choose_method(ivf_edge, metric, "auto", CPU, d) == "ivf"
        assert choose_method(ivf_edge + 1, metric, "auto", CPU, d) == "nndescent"
    # IVF computes euclidean and cosine only
    assert choose_method(exact_edge + 1, "manhattan", "auto", CPU, d) == "nndescent"
    # Fashion-MNIST's 60,000 x 784, measured: IVF 15 s at recall 0.993, a fresh NN-Descent 60 s
    assert choose_method(60_000, "euclidean", "auto", CPU, 784) == "ivf"


def test_ivf_cost_model_counts_the_probed_share() -> None:
    n, d = 60_000, 784
    lists = choose.default_n_lists(n)
    work = n * (choose.AUTO_IVF_N_PROBE * n / lists) * (d + choose.EXACT_SELECT_WIDTH)
    limit = choose.EXACT_COST_LIMIT
    assert choose.ivf_is_cheaper(n, d) == (work <= limit)
    # probing every cluster is the exact search's work, capped at n comparisons a point
    assert choose.ivf_is_cheaper(n, d, n_probe=lists) == choose.exact_is_cheaper(n, d)
    assert choose.ivf_is_cheaper(n, d, n_probe=10 * lists) == choose.exact_is_cheaper(n, d)


@pytest.fixture(scope="module")
def blobs() -> torch.Tensor:
    return torch.from_numpy(make_clusters(3000, n_features=16, n_clusters=30, seed=2)[0])


def test_the_guard_keeps_ivf_that_reaches_the_target(blobs: torch.Tensor) -> None:
    graph, record = choose.guarded_ivf_search(blobs, 10, "euclidean", seed=1, device=CPU)
    assert record["method"] == "ivf"
    assert record["ivf_tries"] == [[choose.AUTO_IVF_N_PROBE, record["recall"]]]
    assert record["recall"] >= choose.AUTO_RECALL_TARGET
    assert record["recall_queries"] == choose.AUTO_RECALL_QUERIES
    plain = ivf_search(blobs, 10, "euclidean", seed=1, n_probe=choose.AUTO_IVF_N_PROBE)
    assert torch.equal(graph.indices, plain.indices)
    # the estimate is of this graph: the exact search's truth agrees within sampling error
    truth = exact_knn(blobs, 10).indices
    assert record["recall"] == pytest.approx(_recall(graph.indices, truth), abs=0.02)


@pytest.fixture(scope="module")
def noise() -> torch.Tensor:
    """No cluster structure at all: IVF with one or two probes misses most neighbours."""
    gen = torch.Generator().manual_seed(0)
    return torch.randn(3000, 24, generator=gen)


def test_the_guard_doubles_the_probes_then_hands_over_to_nndescent(
    monkeypatch, noise: torch.Tensor
) -> None:
    monkeypatch.setattr(choose, "AUTO_IVF_N_PROBE", 1)
    graph, record = choose.guarded_ivf_search(noise, 10, "euclidean", seed=4, device=CPU)
    probes = [p for p, _ in record["ivf_tries"]]
    assert probes == [1, 2]
    assert all(r < choose.AUTO_RECALL_TARGET for _, r in record["ivf_tries"])
    assert record["method"] == "nndescent"
    assert torch.equal(graph.indices, nndescent_search(noise, 10, seed=4).indices)
    assert record["recall"] > max(r for _, r in record["ivf_tries"])


def test_the_guard_keeps_ivf_when_nndescent_does_worse(monkeypatch, noise: torch.Tensor) -> None:
    """Isotropic noise defeats NN-Descent too: the better of the graphs is kept."""
    monkeypatch.setattr(choose, "AUTO_IVF_N_PROBE", 1)
    gen = torch.Generator().manual_seed(9)
    scrambled = torch.randint(0, noise.shape[0], (noise.shape[0], 10), generator=gen)
    monkeypatch.setattr(choose, "nndescent_search",
                        lambda *a, **kw: KnnGraph(scrambled, torch.zeros(scrambled.shape)))
    graph, record = choose.guarded_ivf_search(noise, 10, "euclidean", seed=4, device=CPU)
    best_probe, best_recall = max(record["ivf_tries"], key=lambda t: t[1])
    assert record["method"] == "ivf" and record["recall"] == best_recall
    assert record["nndescent_recall"] < best_recall
    assert torch.equal(graph.indices, ivf_search(noise, 10, seed=4, n_probe=best_probe).indices)


def test_on_a_gpu_the_guard_keeps_its_best_ivf_graph(monkeypatch, noise: torch.Tensor) -> None:
    """NN-Descent runs on the host: on a GPU the guard keeps IVF's best graph (run here on
    the CPU with the device's name)."""
    monkeypatch.setattr(choose, "AUTO_IVF_N_PROBE", 1)
    real_ivf = choose.ivf_search
    monkeypatch.setattr(
        choose, "ivf_search", lambda *a, **kw: real_ivf(*a, **{**kw, "device": CPU})
    )

    def no_nndescent(*args, **kwargs):
        raise AssertionError("NN-Descent must not run for a GPU fit")

    monkeypatch.setattr(choose, "nndescent_search", no_nndescent)
    graph, record = choose.guarded_ivf_search(
        noise, 10, "euclidean", seed=4, device=torch.device("cuda")
    )
    assert [p for p, _ in record["ivf_tries"]] == [1, 2]
    best_probe, best_recall = max(record["ivf_tries"], key=lambda t: t[1])
    assert best_recall < choose.AUTO_RECALL_TARGET
    assert record["method"] == "ivf" and record["recall"] == best_recall
    assert torch.equal(graph.indices, ivf_search(noise, 10, seed=4, n_probe=best_probe).indices)


def test_the_guard_does_not_double_past_the_cost_limit(monkeypatch, noise: torch.Tensor) -> None:
    monkeypatch.setattr(choose, "AUTO_IVF_N_PROBE", 1)
    monkeypatch.setattr(choose, "ivf_is_cheaper", lambda n, d, n_probe=1: n_probe <= 1)
    _, record = choose.guarded_ivf_search(noise, 10, "euclidean", seed=4, device=CPU)
    assert [p for p, _ in record["ivf_tries"]] == [1]
    assert record["method"] == "nndescent"


def test_build_knn_auto_runs_the_guard(monkeypatch, noise: torch.Tensor) -> None:
    monkeypatch.setattr(choose, "choose_method", lambda *a, **kw: "ivf")
    monkeypatch.setattr(choose, "AUTO_IVF_N_PROBE", 1)
    graph = choose.build_knn(noise, 10, "euclidean", "auto", seed=4, device=CPU)
    assert torch.equal(graph.indices, nndescent_search(noise, 10, seed=4).indices)
    # asked for by name, IVF runs as asked, with no guard
    asked = choose.build_knn(noise, 10, "euclidean", "ivf", seed=4, device=CPU)
    assert torch.equal(asked.indices, ivf_search(noise, 10, seed=4).indices)


def test_a_fit_records_the_guard_and_keeps_it_in_the_model_file(
    monkeypatch, tmp_path, capsys
) -> None:
    x, _ = make_clusters(800, n_features=8, n_clusters=5, seed=0)
    monkeypatch.setattr(neighbours, "choose_method", lambda *a, **kw: "ivf")
    fitted = Umap(n_epochs=2, seed=0, verbose=False).fit(x)
    info = fitted.knn_info
    assert info["method"] == "ivf" and info["requested"] == "auto"
    assert info["ivf_tries"] == [[choose.AUTO_IVF_N_PROBE, info["recall"]]]
    for name in ("model.safetensors", "model.gguf"):
        fitted.save(tmp_path / name)
        assert FittedUmap.load(tmp_path / name).knn_info == info
    assert cli_main(["info", str(tmp_path / "model.safetensors"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["knn"] == info
    # asked for by name, IVF keeps its own record (no tries)
    named = Umap(n_epochs=2, seed=0, verbose=False, knn_method="ivf").fit(x).knn_info
    assert named["method"] == "ivf" and "ivf_tries" not in named
