"""`FittedUmap.fit_more`: continued training with landmarks (umap-learn's recipe)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.neighbors import KNeighborsClassifier

from pumap import FittedUmap, Umap
from pumap.datasets import load_digits
from pumap.graph.fuzzy import fuzzy_simplicial_set
from pumap.knn import build_knn
from pumap.training.encoder import build_encoder
from pumap.training.landmarks import drift, sample_rows
from pumap.training.loss import find_ab_params
from pumap.training.optimizer_state import AdamCarry
from pumap.training.trainer import train_umap

# Small and quick: no PCA warm start, a higher learning rate. Digits' graphs are smaller than a
# batch, so each epoch is one optimiser step.
OPTIONS = {
    "seed": 0, "verbose": False, "hidden_layers": (64, 64), "n_epochs": 60, "pca_init": False,
    "learning_rate": 0.01,
}
MORE_EPOCHS = 60


@pytest.fixture(scope="module")
def digits_halves():
    """Digits 0-4 (old), and 5-9 split into rows to add (80%) and held-out rows (20%)."""
    X, y = load_digits()
    old = y < 5
    new_rows = np.random.default_rng(0).permutation(np.flatnonzero(~old))
    cut = int(0.8 * len(new_rows))
    add, held = np.sort(new_rows[:cut]), np.sort(new_rows[cut:])
    return X[old], X[add], y[add], X[held], y[held]


@pytest.fixture(scope="module")
def fitted_old(digits_halves):
    return Umap(**OPTIONS).fit(digits_halves[0])


@pytest.fixture(scope="module")
def continued(fitted_old, digits_halves):
    """fit_more with and without the landmark term."""
    X_add = digits_halves[1]
    return {
        w: fitted_old.fit_more(X_add, landmark_weight=w, n_epochs=MORE_EPOCHS)
        for w in (0.0, 1.0)
    }


def test_landmark_term_keeps_old_points_in_place(fitted_old, continued, digits_halves):
    X_old = digits_halves[0]
    free = drift(fitted_old.embedding, continued[0.0].transform(X_old))
    held = drift(fitted_old.embedding, continued[1.0].transform(X_old))
    # Measured (seed 0): without the term the old points move by 0.25 of the embedding's
    # spread (median), 0.58 at the 95th percentile; with it by 0.018 and 0.053.
    assert free["median"] > 0.1
    assert held["median"] < 0.05 and held["p95"] < 0.15
    assert held["median"] < free["median"] / 5


def test_new_classes_are_well_embedded(continued, digits_halves):
    _, _, y_add, X_held, y_held = digits_halves
    more = continued[1.0]
    knn = KNeighborsClassifier(10).fit(more.embedding, y_add)
    # Measured (seed 0): 0.73 held-out 10-NN accuracy on the five new classes (0.86 without
    # the landmark term, 0.2 by chance); the full-sized fit reaches 0.87 (docs/benchmarks.md).
    assert knn.score(more.transform(X_held), y_held) > 0.6


def test_embedding_is_of_the_new_rows_and_the_original_is_unchanged(
    fitted_old, continued, digits_halves
):
    X_old, X_add = digits_halves[:2]
    more = continued[1.0]
    assert more is not fitted_old
    np.testing.assert_array_equal(more.embedding, more.transform(X_add))
    np.testing.assert_array_equal(fitted_old.embedding, fitted_old.transform(X_old))
    assert more.training_index is not None
    assert more.training_index.embedding.shape[0] == len(fitted_old.landmark_rows) + len(X_add)


def _steps(state) -> float:
    return float(state["state"][0]["step"])


def test_adam_is_resumed_from_the_fit(fitted_old, continued):
    first = _steps(fitted_old.optimizer_state)
    assert first == OPTIONS["n_epochs"]  # one step per epoch
    assert _steps(continued[1.0].optimizer_state) == first + MORE_EPOCHS  # the count goes on
    # A model without the fit's state (as after load) starts a fresh Adam.
    fresh = FittedUmap(
        fitted_old.encoder, fitted_old.standardizer, fitted_old.config, fitted_old.a,
        fitted_old.b,
    )
    restarted = fresh.fit_more(
        np.zeros((40, fitted_old.n_features)) + np.arange(40)[:, None],
        landmarks=fitted_old.landmark_rows, n_epochs=MORE_EPOCHS,
    )
    assert _steps(restarted.optimizer_state) == MORE_EPOCHS


def test_train_umap_continues_and_returns_adam_state() -> None:
    x = torch.from_numpy(np.random.default_rng(0).normal(size=(100, 4)).astype(np.float32))
    graph = fuzzy_simplicial_set(build_knn(x, 8, "euclidean", "exact", seed=0,
                                           device=torch.device("cpu")))
    encoder = build_encoder(4, (8,), 2, torch.Generator().manual_seed(0))
    a, b = find_ab_params(1.0, 0.1)
    carry = AdamCarry()

    def run() -> None:
        train_umap(encoder, x, graph, a=a, b=b, n_epochs=2, batch_size=256,
                   negative_sample_rate=5, learning_rate=1e-2,
                   generator=torch.Generator().manual_seed(0), optimizer_state=carry)

    run()
    after_first = carry.state
    steps = _steps(after_first)
    moment = after_first["state"][0]["exp_avg"].clone()
    run()
    assert _steps(carry.state) == 2 * steps
    assert torch.equal(after_first["state"][0]["exp_avg"], moment)  # the input is not changed


def test_fit_more_is_deterministic(fitted_old, digits_halves):
    X_add = digits_halves[1][:200]
    one = fitted_old.fit_more(X_add, n_epochs=3, seed=5)
    two = fitted_old.fit_more(X_add, n_epochs=3, seed=5)
    np.testing.assert_array_equal(one.embedding, two.embedding)


def test_errors_name_the_argument(fitted_old, digits_halves):
    X_add = digits_halves[1][:100]
    with pytest.raises(ValueError, match="X has 10 features but this model was fitted on 64"):
        fitted_old.fit_more(X_add[:, :10])
    with pytest.raises(ValueError, match="landmarks has 3 features"):
        fitted_old.fit_more(X_add, landmarks=X_add[:, :3])
    for bad in (-1.0, float("nan"), float("inf"), True, "1"):
        with pytest.raises(ValueError, match="landmark_weight"):
            fitted_old.fit_more(X_add, landmark_weight=bad)
    with pytest.raises(ValueError, match="n_epochs"):
        fitted_old.fit_more(X_add, n_epochs=0)
    with pytest.raises(TypeError):
        fitted_old.fit_more(X_add, landmark_wieght=1.0)


def test_loaded_model_needs_landmarks(fitted_old, digits_halves, tmp_path):
    path = tmp_path / "m.safetensors"
    fitted_old.save(path)
    loaded = FittedUmap.load(path)
    assert loaded.optimizer_state is None and loaded.landmark_rows is None
    with pytest.raises(ValueError, match="pass landmarks="):
        loaded.fit_more(digits_halves[1])


def test_sample_rows_is_seeded_and_bounded() -> None:
    x = torch.arange(50_000, dtype=torch.float32).reshape(5000, 10)
    one, two = sample_rows(x, 1, n_rows=100), sample_rows(x, 1, n_rows=100)
    assert one.shape == (100, 10) and torch.equal(one, two)
    assert torch.all(one[1:, 0] > one[:-1, 0])  # kept in order
    assert sample_rows(x[:30], 1, n_rows=100).shape == (30, 10)


def test_estimator_fit_more_updates_in_place(digits_halves):
    pytest.importorskip("sklearn")
    from pumap import ParametricUMAP

    X_old, X_add = digits_halves[:2]
    est = ParametricUMAP(random_state=0, n_epochs=5, verbose=False).fit(X_old)
    first = est.fitted_
    assert est.fit_more(X_add, n_epochs=3, landmark_weight=2.0) is est
    assert est.fitted_ is not first
    assert est.embedding_.shape == (len(X_add), 2)


@pytest.fixture(scope="module")
def small_pair():
    """A fit with every option off its default and a decoder, and rows to add."""
    X, y = load_digits()
    old, add = X[y < 3][:300], X[y >= 7][:200]
    options = {**OPTIONS, "n_epochs": 10, "a": 1.0, "b": 0.5, "repulsion_strength": 0.5,
               "local_connectivity": 2.0, "set_op_mix_ratio": 0.5, "decoder": True,
               "decoder_epochs": 30}
    return Umap(**options).fit(old), add


def test_fit_more_keeps_every_option_of_the_fit(small_pair, monkeypatch):
    """a, b, repulsion_strength, local_connectivity and set_op_mix_ratio of the fit apply
    again; graph and knn_info are those of the continued fit (issue #22, item 1)."""
    import pumap.training.continued as continued

    fitted, add = small_pair
    seen = {}

    def spy(*args, **kwargs):
        seen.update(kwargs)
        return train_umap(*args, **kwargs)

    monkeypatch.setattr(continued, "train_umap", spy)
    more = fitted.fit_more(add, n_epochs=3)
    assert (more.a, more.b) == (1.0, 0.5)
    assert (seen["a"], seen["b"], seen["repulsion_strength"]) == (1.0, 0.5, 0.5)
    x = torch.cat([fitted.landmark_rows, torch.from_numpy(add)])
    knn = build_knn(x, fitted.config.n_neighbors - 1, "euclidean", "exact", seed=0,
                    device=torch.device("cpu"))
    want = fuzzy_simplicial_set(knn, 2.0, 0.5).to_scipy()
    assert more.graph is not None and more.graph.shape == want.shape
    assert abs(more.graph - want).max() < 1e-6  # the same float32 kernels on the same knn
    assert abs(fuzzy_simplicial_set(knn).to_scipy() - want).max() > 0.1  # options matter here
    assert more.knn_info == {"method": "exact", "requested": "auto", "recall": None}


def test_fit_more_trains_the_decoder_further(small_pair):
    """The continued model has a decoder, a trained copy: it reconstructs the new rows better
    than the fit's decoder does from the same embedding; the fit's decoder is unchanged."""
    fitted, add = small_pair
    before = [p.detach().clone() for p in fitted.decoder.parameters()]
    more = fitted.fit_more(add, n_epochs=3)
    assert more.decoder is not None and more.decoder is not fitted.decoder
    assert all(torch.equal(a, b) for a, b in zip(before, fitted.decoder.parameters(), strict=True))
    new = ((more.inverse_transform(more.embedding) - add) ** 2).mean()
    old = ((fitted.inverse_transform(more.embedding) - add) ** 2).mean()
    # measured 0.78-0.84 of the fit's decoder's error over seeds 0-3; 0.92 leaves a margin
    assert new < 0.92 * old


def test_fit_more_messages_name_the_real_cause():
    import scipy.sparse

    X, _ = load_digits()
    x = X[:200]

    sparse = Umap(n_epochs=1, seed=0, verbose=False).fit(scipy.sparse.csr_matrix(x))
    with pytest.raises(ValueError, match="fitted on sparse X"):
        sparse.fit_more(X[200:300], n_epochs=1)
    d = np.sqrt(((x[:, None, :] - x[None, :, :]) ** 2).sum(-1))
    pre = Umap(n_epochs=1, seed=0, verbose=False, metric="precomputed").fit(d)
    with pytest.raises(ValueError, match="does not support models fitted with metric='precom"):
        pre.fit_more(d[:50], n_epochs=1)


def test_estimator_fit_more_refuses_y_and_updates_graph(digits_halves):
    """ParametricUMAP.fit_more said nothing of y and kept the first fit's graph_ (item 10)."""
    from pumap import ParametricUMAP

    X_old, X_add, y_add = digits_halves[:3]
    est = ParametricUMAP(random_state=0, n_epochs=2, verbose=False).fit(X_old[:300])
    with pytest.raises(ValueError, match="fit_more does not take y"):
        est.fit_more(X_add[:200], y_add[:200], n_epochs=1)
    est.fit_more(X_add[:200], n_epochs=1)
    assert est.graph_ is est.fitted_.graph and est.graph_.shape[0] == 300 + 200
