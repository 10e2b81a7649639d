"""Supervised and semi-supervised fits: the label graph's maths against umap-learn, and its use.

Held-out 10-NN accuracy of the forward pass on scikit-learn's digits, unsupervised ->
supervised (``fit(X_train, y_train)``), defaults, one torch thread, 2-core CPU (stratified 80/20
split ``random_state=0``), after issue #21 (clipped forces, learning rate 1e-2), 2026-12-03:
seed 0 0.886 -> 0.914, seed 1 0.892 -> 0.928, seed 2 0.917 -> 0.928, seed 3 0.900 -> 0.917,
seed 4 0.872 -> 0.908: gains +0.011 to +0.036, never negative (before issue #21: +0.003 to
+0.033 over more pairings). The slow test asserts a mean gain over seeds 0 and 1 (measured
+0.032) of at least 0.007: 2.5 of the 360 held-out points, half the lowest mean of any two of
the five seeds (+0.014), so another machine's kernels (which act like another seed) stay above
it, yet a label graph that does nothing fails.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse
import torch

from pumap import Umap, UmapConfig
from pumap.graph.fuzzy import fuzzy_simplicial_set
from pumap.graph.supervised import (
    categorical_intersection,
    check_target,
    intersect,
    reset_local_connectivity,
    supervise,
    target_graph,
)
from pumap.knn import exact_knn
from pumap.training.checkpoint import CheckpointError

umap_ = pytest.importorskip("umap.umap_")

MIN_MEAN_GAIN = 0.007
FAST = {"n_epochs": 2, "hidden_layers": (16,), "verbose": False, "seed": 0}


@pytest.fixture(scope="module")
def digits_graph() -> tuple[scipy.sparse.csr_matrix, np.ndarray, np.ndarray]:
    from pumap.datasets import load_digits

    x, y = load_digits()
    knn = exact_knn(torch.from_numpy(x), 14, "euclidean")
    return fuzzy_simplicial_set(knn).to_scipy(), x, y


def _max_diff(a: scipy.sparse.spmatrix, b: scipy.sparse.spmatrix) -> float:
    assert a.nnz == scipy.sparse.csr_matrix(b).nnz
    return float(abs(scipy.sparse.csr_matrix(a) - scipy.sparse.csr_matrix(b)).max())


@pytest.mark.parametrize("weight", [0.0, 0.5, 0.9, 1.0])
def test_categorical_intersection_matches_umap_learn(digits_graph, weight) -> None:
    graph, _, y = digits_graph
    labels = y.copy()
    labels[::7] = -1  # semi-supervised: some points unlabelled
    ours = categorical_intersection(graph, labels, weight)
    far = 2.5 / (1.0 - weight) if weight < 1.0 else 1.0e12
    ref = umap_.discrete_metric_simplicial_set_intersection(
        graph.astype(np.float32), labels, far_dist=far
    )
    assert _max_diff(ours, ref) < 1e-5


def test_numeric_target_graph_and_intersection_match_umap_learn(digits_graph) -> None:
    """The target's graph is directed, as umap-learn's fit builds it (no set operations)."""
    graph, _, _ = digits_graph
    values = np.random.default_rng(0).normal(size=(graph.shape[0], 1)).astype(np.float32)
    ours_t = target_graph(values, 15, "l2", torch.device("cpu"))
    ref_t, _, _ = umap_.fuzzy_simplicial_set(
        values, 15, np.random.RandomState(0), "euclidean", apply_set_operations=False
    )
    assert _max_diff(ours_t, ref_t) < 1e-5
    for weight in (0.2, 0.5, 0.8):
        ours = reset_local_connectivity(intersect(graph, ours_t, weight))
        ref = umap_.reset_local_connectivity(
            umap_.general_simplicial_set_intersection(graph.astype(np.float32), ref_t, weight)
        )
        assert _max_diff(ours, ref) < 1e-5


def test_numeric_target_fit_graph_is_umap_learns(digits_graph) -> None:
    """The final graph of a fit with a noisy numeric y equals umap-learn's fit's graph_ on
    the same precomputed_knn (issue #22, item 2: they differed by up to 0.92).

    Tolerance: pumap searches and weighs the targets in float32 (umap-learn in float64: y of
    magnitude ~10 rounds by ~1e-6, against target distances down to ~1e-3) and bisects sigma
    in float64 (umap-learn in float32, to 1e-5 on the membership sums); measured 5.3e-5.
    umap-learn's fit also zeroes, in place in ``graph_``, the entries below max / 500 (its
    default epochs for small data) when it lays the graph out; pumap keeps them.
    """
    import umap

    _, x, labels = digits_graph
    x, labels = x[:500], labels[:500]
    y = labels + np.random.default_rng(0).normal(scale=2.0, size=500)
    knn = exact_knn(torch.from_numpy(x), 14, "euclidean")
    idx = np.hstack([np.arange(500)[:, None], knn.indices.numpy()])
    dist = np.hstack([np.zeros((500, 1), np.float32), knn.distances.numpy()])
    options = {"n_neighbors": 15, "target_metric": "l2", "target_weight": 0.2}
    ref = umap.UMAP(**options, n_epochs=1, random_state=0, precomputed_knn=(idx, dist))
    ref = scipy.sparse.csr_matrix(ref.fit(x, y).graph_, dtype=np.float64)
    ours = Umap(**FAST, **options, precomputed_knn=(idx, dist)).fit(x, y).graph
    assert ours.nnz == ref.nnz and (ours != 0).nnz == ours.nnz
    kept = ref.copy()
    kept.data[:] = 1.0
    pruned = ours.multiply(kept) - ours.multiply(ref != 0)  # where umap-learn zeroed it
    assert abs(pruned).max() < ref.max() / 500 + 3e-4
    assert abs(ours.multiply(ref != 0) - ref).max() < 3e-4


def test_string_labels_give_the_graph_of_integer_labels(digits_graph) -> None:
    graph, _, y = digits_graph
    fuzzy = _fuzzy(graph)
    config, cpu = UmapConfig(), torch.device("cpu")
    as_int = supervise(fuzzy, check_target(y, len(y), "categorical"), config, cpu)
    names = np.array(["zero", "one", "two", "three", "four", "five", "six", "seven", "8", "9"])
    as_str = supervise(fuzzy, check_target(names[y], len(y), "categorical"), config, cpu)
    assert torch.equal(as_int.head, as_str.head) and torch.equal(as_int.weight, as_str.weight)


def _fuzzy(graph: scipy.sparse.csr_matrix):
    from pumap.graph.supervised import to_fuzzy_graph

    return to_fuzzy_graph(graph)


@pytest.mark.parametrize(
    ("y", "metric", "message"),
    [
        (np.zeros(9), "categorical", "y has 9 labels but X has 10 rows"),
        (np.array([1.0, np.nan] * 5), "l2", "y has NaN or infinity .first at row 1"),
        (np.array([1.0, np.nan] * 5), "categorical", "y has NaN or infinity"),
        (np.array(["a", None] * 5, dtype=object), "categorical", "y has missing labels"),
        (np.array(["a", "b"] * 5), "l2", "y must be numeric for target_metric='l2'"),
        (np.zeros((10, 2)), "categorical", "y must be 1-D for target_metric='categorical'"),
    ],
)
def test_bad_targets_are_refused_by_name(y, metric, message) -> None:
    with pytest.raises(ValueError, match=message):
        check_target(y, 10, metric)


def test_fit_uses_y_and_takes_everything_after_it_by_keyword(blobs) -> None:
    x, y = blobs
    plain = Umap(**FAST).fit(x).embedding
    supervised = Umap(**FAST, target_weight=0.9).fit(x, y).embedding
    assert not np.allclose(plain, supervised)
    semi = np.where(np.arange(len(y)) % 2 == 0, y, -1)
    assert np.isfinite(Umap(**FAST).fit(x, semi).embedding).all()
    numeric = Umap(**FAST, target_metric="l2").fit(x, x[:, 0].astype(np.float64)).embedding
    assert np.isfinite(numeric).all() and not np.allclose(plain, numeric)
    with pytest.raises(TypeError):
        Umap(**FAST).fit(x, y, lambda progress: None)  # a callback is never positional
    with pytest.raises(ValueError, match="y has 3 labels but X has"):
        Umap(**FAST).fit(x, y[:3])


def test_parametric_umap_fit_uses_y(blobs) -> None:
    from pumap import ParametricUMAP

    x, y = blobs
    options = {"n_epochs": 2, "hidden_layers": (16,), "random_state": 0}
    plain = ParametricUMAP(**options).fit(x).embedding_
    supervised = ParametricUMAP(**options, target_weight=0.9).fit(x, y).embedding_
    assert not np.allclose(plain, supervised)
    again = ParametricUMAP(**options, target_weight=0.9).fit_transform(x, y)
    np.testing.assert_array_equal(again, supervised)


def test_resume_with_other_y_is_refused(blobs, tmp_path) -> None:
    x, y = blobs
    path = tmp_path / "ck.safetensors"
    Umap(**FAST).fit(x, y, checkpoint_path=path)
    other = np.roll(y, 1)
    with pytest.raises(CheckpointError, match="with other y"):
        Umap(**FAST).fit(x, other, resume_from=path)
    with pytest.raises(CheckpointError, match="this fit has none"):
        Umap(**FAST).fit(x, resume_from=path)
    Umap(**FAST).fit(x, y, resume_from=path)  # the same y resumes


@pytest.mark.slow
def test_supervision_improves_heldout_accuracy_on_digits() -> None:
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split
    from sklearn.neighbors import KNeighborsClassifier

    x, y = load_digits(return_X_y=True)
    xtr, xte, ytr, yte = train_test_split(
        x.astype(np.float32), y, test_size=0.2, stratify=y, random_state=0
    )
    gains = []
    for seed in (0, 1):
        accuracy = []
        for labels in (None, ytr):
            fitted = Umap(seed=seed, verbose=False).fit(xtr, labels)
            knn = KNeighborsClassifier(n_neighbors=10).fit(fitted.embedding, ytr)
            accuracy.append(knn.score(fitted.transform(xte), yte))
        gains.append(accuracy[1] - accuracy[0])
    assert np.mean(gains) >= MIN_MEAN_GAIN, gains


def test_cli_fits_with_the_labels_when_asked(tmp_path, capsys) -> None:
    from pumap.cli import main

    rng = np.random.default_rng(0)
    x = np.vstack([rng.normal(size=(60, 4)), rng.normal(3.0, size=(60, 4))]).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    (tmp_path / "labels.txt").write_text("\n".join(["a"] * 60 + ["b"] * 30 + ["-1"] * 30))
    common = ["--epochs", "2", "--hidden-layers", "16", "--seed", "0", "-q"]
    for name, extra in (("plain", []), ("supervised", ["--supervised", "--target-weight", "1"])):
        code = main(["fit", str(tmp_path / "x.npy"), "--labels", str(tmp_path / "labels.txt"),
                     "--save", str(tmp_path / f"{name}.safetensors"),
                     "--embedding", str(tmp_path / f"{name}.npy"), *common, *extra])
        assert code == 0
    plain, supervised = np.load(tmp_path / "plain.npy"), np.load(tmp_path / "supervised.npy")
    assert not np.allclose(plain, supervised)
    code = main(["fit", str(tmp_path / "x.npy"), "--supervised",
                 "--save", str(tmp_path / "m.safetensors"), *common])
    assert code == 2
    assert "--supervised needs labels" in capsys.readouterr().err


def test_cli_text_labels_mark_unlabelled_points_with_minus_one() -> None:
    from pumap.cli.commands import _supervision
    from pumap.cli.tables import Dataset

    data = Dataset(np.zeros((4, 2), np.float32), np.array(["b", "-1", "a", "b"]), "test")
    assert _supervision(data, UmapConfig()).tolist() == [1, -1, 0, 1]
