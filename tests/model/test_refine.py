"""Refined transform: neighbour search, memberships, layout updates, quality and persistence.

Kernels are checked against float64 references written from umap-learn's documented maths
(and, for the memberships, against umap-learn itself); quality on scikit-learn's digits.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from pumap import FittedUmap, Umap
from pumap.datasets import make_clusters
from pumap.io import ModelFormatError, read_metadata
from pumap.model.refine import (
    GRADIENT_CLIP,
    TrainingIndex,
    _attraction,
    _repulsion,
    edge_rates,
    nearest_rows,
    refine,
    refine_layout,
    transform_memberships,
)

A, B = 1.577, 0.895  # find_ab_params(1.0, 0.1), rounded: any positive pair will do


# --- neighbour search ---------------------------------------------------------------------


def _brute(queries: np.ndarray, points: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    d = np.sqrt(((queries[:, None, :] - points[None, :, :]) ** 2).sum(-1))
    order = np.lexsort((np.broadcast_to(np.arange(len(points)), d.shape), d), axis=1)[:, :k]
    return order, np.take_along_axis(d, order, axis=1)


def test_nearest_rows_matches_float64_brute_force() -> None:
    rng = np.random.default_rng(0)
    points = rng.normal(size=(300, 7))
    queries = rng.normal(size=(50, 7))
    graph = nearest_rows(torch.tensor(queries, dtype=torch.float32),
                         torch.tensor(points, dtype=torch.float32), 12)
    idx, dist = _brute(queries, points, 12)
    assert np.array_equal(graph.indices.numpy(), idx)
    np.testing.assert_allclose(graph.distances.numpy(), dist, rtol=1e-5, atol=1e-5)


def test_nearest_rows_breaks_ties_by_index() -> None:
    points = torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0], [0.0, -1.0], [3.0, 3.0]])
    graph = nearest_rows(torch.zeros(1, 2), points, 4)
    assert graph.indices.tolist() == [[0, 1, 2, 3]]


@pytest.mark.parametrize("metric", ["euclidean", "cosine"])
def test_index_without_sketch_finds_exact_neighbours(metric: str) -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(size=(400, 12)).astype(np.float32)
    new = rng.normal(size=(40, 12)).astype(np.float32)
    index = TrainingIndex.build(
        torch.from_numpy(x), torch.zeros(400, 2), metric, None, torch.Generator().manual_seed(0)
    )
    graph = index.query(torch.from_numpy(new), 10)
    x64, new64 = x.astype(np.float64), new.astype(np.float64)
    if metric == "cosine":
        xn = x64 / np.linalg.norm(x64, axis=1, keepdims=True)
        nn_ = new64 / np.linalg.norm(new64, axis=1, keepdims=True)
        d = 1.0 - nn_ @ xn.T
    else:
        d = np.sqrt(((new64[:, None] - x64[None]) ** 2).sum(-1))
    ref = np.sort(d, axis=1)[:, :10]
    np.testing.assert_allclose(graph.distances.numpy(), ref, rtol=1e-4, atol=1e-5)
    assert (np.argsort(d, axis=1)[:, :10] == graph.indices.numpy()).mean() > 0.99


def test_sketch_recall_on_digits() -> None:
    """A 32-D PCA sketch of digits (64-D) finds most true neighbours (measured: 0.87)."""
    from sklearn.datasets import load_digits

    x = load_digits().data.astype(np.float32)
    train, new = torch.from_numpy(x[:1400]), torch.from_numpy(x[1400:])
    index = TrainingIndex.build(train, torch.zeros(1400, 2), "euclidean", 32,
                                torch.Generator().manual_seed(0))
    assert index.points.shape == (1400, 32) and index.axes.shape == (32, 64)
    got = index.query(new, 16).indices.numpy()
    true = _brute(x[1400:].astype(np.float64), x[:1400].astype(np.float64), 16)[0]
    recall = np.mean([len(set(g) & set(t)) / 16 for g, t in zip(got, true, strict=True)])
    assert recall > 0.8


# --- memberships and the update rules -----------------------------------------------------


@pytest.mark.parametrize("local_connectivity", [1.0, 0.5, 2.0, 2.5])
def test_memberships_match_umap_learn_transform(local_connectivity: float) -> None:
    """The same (new point -> training) distances give umap-learn's transform memberships,
    which use the fit's local_connectivity less one."""
    umap_ = pytest.importorskip("umap.umap_")
    from sklearn.datasets import load_digits

    x = load_digits().data.astype(np.float32)
    k = 16  # n_neighbors=16: 16 training points per new point, in both libraries
    idx, dist = _brute(x[1500:].astype(np.float64), x[:1500].astype(np.float64), k)
    dist = dist.astype(np.float32)
    adjusted = max(0.0, local_connectivity - 1.0)  # umap-learn's transform
    sigmas, rhos = umap_.smooth_knn_dist(dist, float(k), local_connectivity=adjusted)
    _, _, vals, _ = umap_.compute_membership_strengths(
        idx.astype(np.int32), dist, sigmas, rhos, bipartite=True
    )
    ours = transform_memberships(torch.from_numpy(dist), local_connectivity).numpy()
    # umap-learn bisects in float32 to a tolerance of 1e-5 on the sum of memberships
    np.testing.assert_allclose(ours.reshape(-1), vals, atol=1e-4)
    if local_connectivity > 1.5:  # rho > 0: the nearest neighbour has membership 1
        assert (ours[:, 0] == 1.0).all()


def _attraction64(y: np.ndarray, other: np.ndarray) -> np.ndarray:
    d2 = float(((y - other) ** 2).sum())
    if d2 == 0.0:
        return np.zeros_like(y)
    coeff = -2.0 * A * B * d2 ** (B - 1.0) / (A * d2**B + 1.0)
    return np.clip(coeff * (y - other), -GRADIENT_CLIP, GRADIENT_CLIP)


def _repulsion64(y: np.ndarray, other: np.ndarray, gamma: float = 1.0) -> np.ndarray:
    d2 = float(((y - other) ** 2).sum())
    if d2 == 0.0:
        return np.zeros_like(y)
    coeff = 2.0 * gamma * B / ((0.001 + d2) * (A * d2**B + 1.0))
    return np.clip(coeff * (y - other), -GRADIENT_CLIP, GRADIENT_CLIP)


def test_update_rules_match_float64_reference() -> None:
    rng = np.random.default_rng(2)
    # distances from 0 (coincident) to far apart, so that clipping happens too
    y = rng.normal(size=(200, 2)) * np.logspace(-4, 2, 200)[:, None]
    other = np.zeros((200, 2))
    other[::7] = y[::7]  # coincident pairs
    got_a = _attraction(torch.tensor(y), torch.tensor(other), A, B).numpy()
    got_r = _repulsion(torch.tensor(y - other), A, B).numpy()
    for i in range(200):
        np.testing.assert_allclose(got_a[i], _attraction64(y[i], other[i]), rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(got_r[i], _repulsion64(y[i], other[i]), rtol=1e-10, atol=1e-12)
    assert np.abs(got_r).max() == GRADIENT_CLIP  # close pairs are clipped
    far = _attraction(torch.tensor([[0.46, 0.0]]), torch.zeros(1, 2), 100.0, 3.0)
    assert far.abs().max() == GRADIENT_CLIP  # so is a strong pull


def test_edge_schedule_is_umap_learns() -> None:
    """floor(e r) - floor((e-1) r) equals umap-learn's epoch_of_next_sample bookkeeping."""
    weights = torch.tensor([[1.0, 0.5, 0.3, 0.11, 0.04, 0.0]])
    rate = edge_rates(weights)[0].numpy()
    n_epochs = 30
    period = np.where(rate > 0, 1.0 / np.maximum(rate, 1e-300), np.inf)
    next_sample = period.copy()
    for epoch in range(n_epochs):
        due = next_sample <= epoch
        next_sample[due] += period[due]
        ours = np.floor(epoch * rate) - np.floor((epoch - 1) * rate) if epoch else 0 * rate
        assert np.array_equal(due.astype(float), ours), epoch


def _layout64(init, neighbours, weights, reference, n_epochs, rate, generator, gamma=1.0):
    """Slow float64 reference of one point at a time, drawing the same negatives."""
    y = init.astype(np.float64).copy()
    w = weights / weights.max()
    m, k = w.shape
    for epoch in range(1, n_epochs):
        alpha = 0.25 * (1.0 - epoch / n_epochs)
        due = np.floor(epoch * w) - np.floor((epoch - 1) * w)
        negatives = (due.sum(1) * rate).astype(int)
        total = int(negatives.sum())
        picks = (torch.randint(len(reference), (total,), generator=generator).numpy()
                 if total else None)
        new = y.copy()
        drawn = 0
        for i in range(m):
            step = np.zeros(2)
            for j in range(k):
                step += due[i, j] * _attraction64(y[i], neighbours[i, j])
            for _ in range(negatives[i]):
                step += _repulsion64(y[i], reference[picks[drawn]], gamma)
                drawn += 1
            new[i] = y[i] + alpha * step
        y = new
    return y


@pytest.mark.parametrize("gamma", [1.0, 0.3])
def test_layout_matches_float64_reference(gamma: float) -> None:
    rng = np.random.default_rng(3)
    reference = rng.normal(size=(50, 2)) * 3
    neighbours_idx = rng.integers(0, 50, size=(8, 5))
    weights = rng.uniform(0.05, 1.0, size=(8, 5))
    init = rng.normal(size=(8, 2))
    got = refine_layout(
        torch.tensor(init, dtype=torch.float32),
        torch.tensor(reference[neighbours_idx], dtype=torch.float32),
        torch.tensor(weights),
        torch.tensor(reference, dtype=torch.float32),
        a=A, b=B, n_epochs=12, negative_sample_rate=3,
        generator=torch.Generator().manual_seed(5), repulsion_strength=gamma,
    ).numpy()
    ref = _layout64(init, reference[neighbours_idx], weights, reference, 12, 3,
                    torch.Generator().manual_seed(5), gamma)
    np.testing.assert_allclose(got, ref, rtol=1e-4, atol=1e-4)
    assert np.abs(got - init).max() > 0.1  # it did move


# --- through FittedUmap ------------------------------------------------------------------


@pytest.fixture(scope="module")
def clusters():
    x, labels = make_clusters(700, n_features=12, n_clusters=5, seed=0)
    fitted = Umap(n_epochs=20, seed=0, verbose=False).fit(x[:600])
    return fitted, x, labels


def test_refine_is_deterministic_and_seeded(clusters) -> None:
    fitted, x, _ = clusters
    first = fitted.transform(x[600:], refine=True)
    assert np.array_equal(first, fitted.transform(x[600:], refine=True))
    other = fitted.transform(x[600:], refine=True, seed=123)
    assert not np.array_equal(first, other)
    assert not np.array_equal(first, fitted.transform(x[600:]))


def test_refine_keeps_tensor_in_tensor_out(clusters) -> None:
    fitted, x, _ = clusters
    out = fitted.transform(torch.from_numpy(x[600:]), refine=True)
    assert isinstance(out, torch.Tensor) and out.shape == (100, 2)
    np.testing.assert_array_equal(out.numpy(), fitted.transform(x[600:], refine=True))


def test_refine_argument_errors(clusters) -> None:
    fitted, x, _ = clusters
    with pytest.raises(ValueError, match="refine_epochs"):
        fitted.transform(x[:5], refine=True, refine_epochs=0)
    with pytest.raises(ValueError, match="refine must be True or False"):
        fitted.transform(x[:5], refine="yes")
    with pytest.raises(ValueError, match="seed"):
        fitted.transform(x[:5], refine=True, seed=-1)


def test_refine_without_training_data_is_refused(tmp_path) -> None:
    x, _ = make_clusters(300, n_features=6, n_clusters=3, seed=1)
    fitted = Umap(n_epochs=3, seed=0, verbose=False, keep_training_data=False).fit(x)
    assert fitted.training_index is None
    with pytest.raises(ValueError, match="keep_training_data=True"):
        fitted.transform(x[:10], refine=True)
    path = tmp_path / "plain.safetensors"
    fitted.save(path)
    meta = read_metadata(path)
    assert meta["pumap.format_version"] == 3 and "pumap.training_index" not in meta


@pytest.mark.parametrize("suffix", [".safetensors", ".gguf"])
def test_training_index_round_trips(clusters, tmp_path, suffix: str) -> None:
    fitted, x, _ = clusters
    path = tmp_path / f"model{suffix}"
    fitted.save(path)
    meta = read_metadata(path)
    assert meta["pumap.format_version"] == 3
    assert meta["pumap.training_index"] == {
        "metric": "euclidean", "n_samples": 600, "dims": 12, "sketch": False
    }
    loaded = FittedUmap.load(path)
    np.testing.assert_array_equal(
        loaded.transform(x[600:], refine=True), fitted.transform(x[600:], refine=True)
    )


def test_corrupt_training_index_is_a_format_error(clusters, tmp_path) -> None:
    from safetensors.numpy import load_file

    from pumap import io as pio
    from pumap.model.formats import write_safetensors

    fitted, _, _ = clusters
    path = tmp_path / "model.safetensors"
    fitted.save(path)
    metadata = pio.read_metadata(path)
    tensors = load_file(path)
    tensors["refine.points"] = tensors["refine.points"][:, :5]
    broken = tmp_path / "broken.safetensors"
    write_safetensors(broken, metadata, tensors)
    with pytest.raises(ModelFormatError, match=r"refine\.points"):
        FittedUmap.load(broken)


def test_sketch_dims_sets_the_index_size() -> None:
    x, _ = make_clusters(300, n_features=40, n_clusters=3, seed=2)
    fitted = Umap(n_epochs=3, seed=0, verbose=False, refine_sketch_dims=8).fit(x)
    index = fitted.training_index
    assert index.points.shape == (300, 8) and index.axes.shape == (8, 40)
    assert index.nbytes == 4 * (300 * (8 + 2) + 8 * 40 + 40)
    exact = Umap(n_epochs=3, seed=0, verbose=False, refine_sketch_dims=None).fit(x)
    assert exact.training_index.axes is None and exact.training_index.points.shape == (300, 40)


# --- quality on real data -----------------------------------------------------------------


@pytest.mark.slow
def test_refine_places_held_out_digits_like_umap_learn() -> None:
    """Held-out digits: refine beats the forward pass and reaches umap-learn's level.

    Measured (benchmarks/bench_quality.py, 3 seeds, stratified 80/20 split): forward pass
    10-NN accuracy 0.882, held-out trustworthiness 0.918; refine (100 epochs, the default)
    0.968 and 0.962; umap-learn's transform 0.974 and 0.965. Thresholds leave ~0.015.
    """
    from sklearn.datasets import load_digits
    from sklearn.manifold import trustworthiness
    from sklearn.model_selection import train_test_split
    from sklearn.neighbors import KNeighborsClassifier

    x, y = load_digits(return_X_y=True)
    xtr, xte, ytr, yte = train_test_split(x, y, test_size=0.2, stratify=y, random_state=0)
    fitted = Umap(seed=0, verbose=False).fit(xtr)
    clf = KNeighborsClassifier(10).fit(fitted.embedding, ytr)
    forward = fitted.transform(xte)
    refined = fitted.transform(xte, refine=True)
    acc_forward, acc_refined = clf.score(forward, yte), clf.score(refined, yte)
    assert acc_refined >= 0.95
    assert acc_refined >= acc_forward + 0.04
    assert trustworthiness(xte, refined, n_neighbors=15) >= 0.945
    assert math.isfinite(float(np.abs(refined).max()))


# --- front ends ---------------------------------------------------------------------------


def test_cli_fit_keeps_index_and_transform_refines(tmp_path, capsys) -> None:
    from pumap.cli import main

    x, _ = make_clusters(400, n_features=8, n_clusters=3, seed=3)
    np.save(tmp_path / "train.npy", x[:300])
    np.save(tmp_path / "new.npy", x[300:])
    model = tmp_path / "m.safetensors"
    assert main(["fit", str(tmp_path / "train.npy"), "--epochs", "5", "--seed", "0",
                 "--refine-sketch-dims", "4", "--save", str(model), "-q"]) == 0
    assert main(["info", str(model), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["training_index"] == {
        "metric": "euclidean", "n_samples": 300, "dims": 4, "sketch": True,
        "bytes": 4 * (300 * (4 + 2) + 4 * 8 + 8),
    }
    out = tmp_path / "refined.npy"
    assert main(["transform", str(model), str(tmp_path / "new.npy"), "--out", str(out),
                 "--refine", "--refine-epochs", "7", "-q"]) == 0
    expected = FittedUmap.load(model).transform(x[300:], refine=True, refine_epochs=7)
    np.testing.assert_array_equal(np.load(out), expected)

    plain = tmp_path / "plain.safetensors"
    assert main(["fit", str(tmp_path / "train.npy"), "--epochs", "5", "--seed", "0",
                 "--no-keep-training-data", "--save", str(plain), "-q"]) == 0
    code = main(["transform", str(plain), str(tmp_path / "new.npy"), "--out", str(out),
                 "--refine", "-q"])
    assert code != 0
    assert "keep_training_data=True" in capsys.readouterr().err


def test_estimator_refine_option() -> None:
    pytest.importorskip("sklearn")
    from pumap import ParametricUMAP

    x, _ = make_clusters(400, n_features=8, n_clusters=3, seed=4)
    est = ParametricUMAP(n_epochs=5, random_state=0, refine=True).fit(x[:300])
    refined = est.transform(x[300:])
    np.testing.assert_array_equal(refined, est.fitted_.transform(x[300:], refine=True))
    np.testing.assert_array_equal(est.transform(x[300:], refine=False),
                                  est.fitted_.transform(x[300:]))
    bare = ParametricUMAP(n_epochs=5, random_state=0, keep_training_data=False).fit(x[:300])
    with pytest.raises(ValueError, match="keep_training_data"):
        bare.transform(x[300:], refine=True)


def test_default_epochs_follow_umap_learns_rule(clusters) -> None:
    from pumap.model.refine import default_refine_epochs

    assert default_refine_epochs(1) == 100 and default_refine_epochs(10_000) == 100
    assert default_refine_epochs(10_001) == 30
    fitted, x, _ = clusters
    np.testing.assert_array_equal(
        fitted.transform(x[600:], refine=True),
        fitted.transform(x[600:], refine=True, refine_epochs=100),
    )


@pytest.mark.slow
def test_refine_places_held_out_mnist_like_umap_learn(mnist_dir) -> None:
    """MNIST 8,000 / 2,000 (stratified, random_state=0): refine beats umap-learn's accuracy.

    Measured (benchmarks/bench_quality.py, 3 seeds, docs/benchmarks.md "New points"): forward
    pass 10-NN accuracy 0.860, held-out trustworthiness 0.869; refine (100 epochs, the default)
    0.9417 and 0.9401; umap-learn's transform 0.9272 and 0.9471. Seed 0 here gives 0.9395 and
    0.9411; the thresholds leave ~0.01 for platforms.
    """
    from sklearn.manifold import trustworthiness
    from sklearn.model_selection import train_test_split
    from sklearn.neighbors import KNeighborsClassifier

    from pumap.datasets import load_mnist

    x, y = load_mnist(mnist_dir)
    xtr, xte, ytr, yte = train_test_split(x, y, test_size=0.2, stratify=y, random_state=0)
    fitted = Umap(seed=0, verbose=False).fit(xtr)
    clf = KNeighborsClassifier(10).fit(fitted.embedding, ytr)
    refined = fitted.transform(xte, refine=True)
    assert clf.score(refined, yte) >= 0.93
    assert trustworthiness(xte, refined, n_neighbors=15) >= 0.93
    assert clf.score(fitted.transform(xte), yte) < 0.9  # the control: the forward pass alone



@pytest.mark.parametrize("metric", ["euclidean", "manhattan", "chebyshev", "correlation"])
def test_fitted_model_owns_its_training_data(metric: str, tmp_path) -> None:
    """Editing X in place after the fit changes neither refine nor what save writes."""
    x, _ = make_clusters(300, n_features=6, n_clusters=3, seed=1)
    queries = x[:20] + 0.5
    fitted = Umap(n_epochs=2, seed=0, verbose=False, metric=metric).fit(x)
    before = fitted.transform(queries, refine=True, refine_epochs=5)
    fitted.save(tmp_path / "before.safetensors")
    x[:] = 0.0  # the caller reuses its buffer
    np.testing.assert_array_equal(fitted.transform(queries, refine=True, refine_epochs=5), before)
    fitted.save(tmp_path / "after.safetensors")
    assert (tmp_path / "before.safetensors").read_bytes() == (
        tmp_path / "after.safetensors"
    ).read_bytes()
    assert float(fitted.landmark_rows.abs().sum()) > 0  # fit_more's landmarks are a copy too


def test_refine_uses_the_fits_repulsion_and_local_connectivity(monkeypatch) -> None:
    """transform(refine=True) hands the fit's repulsion_strength and local_connectivity on
    (umap-learn's transform uses both); the defaults give other positions."""
    import pumap.model.fitted as fitted_module

    x, _ = make_clusters(300, n_features=6, n_clusters=3, seed=1)
    seen = {}

    def spy(*args, **kwargs):
        seen.update(kwargs)
        return refine(*args, **kwargs)

    monkeypatch.setattr(fitted_module, "refine", spy)
    fitted = Umap(n_epochs=2, seed=0, verbose=False, repulsion_strength=0.3,
                  local_connectivity=2.0).fit(x)
    got = fitted.transform(x[:20] + 0.1, refine=True, refine_epochs=20)
    assert seen["repulsion_strength"] == 0.3 and seen["local_connectivity"] == 2.0
    plain = refine(
        fitted.training_index, torch.from_numpy(x[:20] + 0.1),
        torch.from_numpy(fitted.transform(x[:20] + 0.1)), n_neighbors=fitted.config.n_neighbors,
        a=fitted.a, b=fitted.b, n_epochs=20,
        negative_sample_rate=fitted.config.negative_sample_rate,
        generator=torch.Generator().manual_seed(0),
    ).numpy()
    assert np.abs(got - plain).max() > 1e-3
