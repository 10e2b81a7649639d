"""umap-learn's parameter names: each works with its meaning or is refused by name."""

from __future__ import annotations

import dataclasses
import inspect
from pathlib import Path

import numpy as np
import pytest
import torch

from pumap import ParametricUMAP, Umap, UmapConfig
from pumap.compat import UMAP_LEARN_PARAMETERS
from pumap.graph.fuzzy import fuzzy_simplicial_set
from pumap.knn import exact_knn
from pumap.training.loss import umap_loss

umap = pytest.importorskip("umap")
UMAP_PARAMS = {
    name: p.default
    for name, p in inspect.signature(umap.UMAP.__init__).parameters.items()
    if name != "self"
}
FIELDS = {f.name for f in dataclasses.fields(UmapConfig)}
TINY = {"n_epochs": 2, "hidden_layers": (16,), "seed": 0, "verbose": False}


def test_every_umap_learn_parameter_is_in_the_table_and_the_docs() -> None:
    assert set(UMAP_PARAMS) == set(UMAP_LEARN_PARAMETERS)
    text = (Path(__file__).resolve().parents[1] / "docs" / "from-umap-learn.md").read_text()
    estimator = inspect.signature(ParametricUMAP.__init__).parameters
    for name, entry in UMAP_LEARN_PARAMETERS.items():
        assert f"| `{name}` |" in text, name
        if entry.kind == "same":
            assert name in FIELDS and name in estimator, name
        elif entry.kind == "renamed":
            assert entry.pumap_name in FIELDS, name
        elif entry.kind == "argument":
            assert name in estimator and name in inspect.signature(Umap.__init__).parameters
        else:
            assert entry.kind == "default-only" and entry.default == UMAP_PARAMS[name], name


def test_umap_learns_defaults_are_all_accepted_but_its_learning_rate() -> None:
    # umap-learn's learning_rate=1.0 is an SGD step; as Adam's rate it ruins a fit (issue #22).
    with pytest.raises(ValueError, match="not umap-learn's SGD step size"):
        UmapConfig(**UMAP_PARAMS)
    config = UmapConfig(**{k: v for k, v in UMAP_PARAMS.items() if k != "learning_rate"})
    assert (config.n_neighbors, config.seed, config.threads, config.pca_init) == (
        15, None, None, True
    )
    same = {k: v for k, v in UMAP_PARAMS.items() if UMAP_LEARN_PARAMETERS[k].kind == "same"}
    assert ParametricUMAP(**same, random_state=None).get_params()["transform_seed"] == 42


def test_renamed_parameters_work_in_umap_and_config() -> None:
    config = Umap(random_state=3, n_jobs=2, init="random").config
    assert (config.seed, config.threads, config.pca_init) == (3, 2, False)
    assert UmapConfig(init="spectral").pca_init and UmapConfig(init="pca").pca_init
    assert UmapConfig().replace(random_state=7).seed == 7
    with pytest.raises(ValueError, match="random_state is umap-learn's name for seed"):
        Umap(random_state=1, seed=2)
    with pytest.raises(ValueError, match=r"init=.* is not supported.*pca_init"):
        Umap(init=np.zeros((10, 2)))


@pytest.mark.parametrize(
    ("name", "value"),
    [("densmap", True), ("output_dens", True), ("low_memory", False), ("tqdm_kwds", {}),
     ("output_metric", "hyperboloid")],
)
def test_features_pumap_lacks_are_refused_by_name(name, value) -> None:
    for build in (UmapConfig, Umap):
        with pytest.raises(ValueError, match=f"{name}=.* is a umap-learn option pumap does not"):
            build(**{name: value})
        build(**{name: UMAP_PARAMS[name]})  # umap-learn's default: the feature off, a no-op
    # The estimator takes umap-learn's default (a no-op, not one of its parameters) and refuses
    # any other value with a TypeError, as it has one name per option.
    assert name not in ParametricUMAP(**{name: UMAP_PARAMS[name]}).get_params()
    with pytest.raises(TypeError, match=f"{name}=.* is a umap-learn option pumap does not have"):
        ParametricUMAP(**{name: value})


def test_precomputed_knn_is_an_argument_not_an_option() -> None:
    knn = (np.zeros((3, 2), dtype=np.int64), np.zeros((3, 2)))
    assert Umap(precomputed_knn=(None, None, None)).precomputed_knn is None  # umap-learn's default
    assert Umap(precomputed_knn=knn).precomputed_knn is knn
    UmapConfig(precomputed_knn=(None, None, None))  # umap-learn's full signature is accepted
    with pytest.raises(ValueError, match=r"precomputed_knn is an argument of Umap\(\.\.\.\)"):
        UmapConfig(precomputed_knn=knn)


def test_parametric_umap_takes_umap_learns_names_at_their_defaults() -> None:
    """Code spelling out umap-learn's defaults runs after changing the import (issue #22)."""
    spelled = {
        "low_memory": True, "densmap": False, "output_metric": "euclidean", "tqdm_kwds": None,
        "unique": False, "n_jobs": -1, "init": "spectral",
    }
    est = ParametricUMAP(**spelled, n_neighbors=15, random_state=0)
    assert est.get_params() == ParametricUMAP(n_neighbors=15, random_state=0).get_params()
    default_only = {
        name: UMAP_PARAMS[name] for name, entry in UMAP_LEARN_PARAMETERS.items()
        if entry.kind == "default-only"
    }
    ParametricUMAP(**default_only)  # every one of them at once


def test_umap_takes_a_random_state_instance_as_parametric_umap_does() -> None:
    """An int is the seed; a RandomState or Generator draws one, as ParametricUMAP's does."""
    expected = int(np.random.RandomState(0).randint(0, 2**31 - 1))
    assert Umap(random_state=np.random.RandomState(0)).config.seed == expected
    assert Umap(random_state=np.random.default_rng(0)).config.seed == int(
        np.random.default_rng(0).integers(0, 2**31 - 1)
    )
    with pytest.raises(ValueError, match="random_state must be None, a non-negative int"):
        Umap(random_state="0")


def test_parametric_umap_names_threads_and_pca_init() -> None:
    with pytest.raises(TypeError, match="n_jobs is umap-learn's name: pass threads="):
        ParametricUMAP(n_jobs=2)
    with pytest.raises(TypeError, match="init is umap-learn's name: pass pca_init="):
        ParametricUMAP(init="random")
    with pytest.raises(TypeError, match="unexpected keyword argument 'n_neighbours'"):
        ParametricUMAP(n_neighbours=5)


@pytest.mark.parametrize(("local", "mix"), [(1.0, 1.0), (0.0, 1.0), (1.5, 0.3), (2.0, 0.0)])
def test_local_connectivity_and_set_op_mix_ratio_match_umap_learn(rng, local, mix) -> None:
    umap_ = pytest.importorskip("umap.umap_")
    x = rng.normal(size=(200, 6)).astype(np.float32)
    knn = exact_knn(x, 10, "euclidean")
    idx = np.hstack([np.arange(200)[:, None], knn.indices.numpy()])
    dist = np.hstack([np.zeros((200, 1), np.float32), knn.distances.numpy()])
    theirs, _, _ = umap_.fuzzy_simplicial_set(
        x, 11, np.random.RandomState(0), "euclidean", knn_indices=idx, knn_dists=dist,
        set_op_mix_ratio=mix, local_connectivity=local,
    )
    ours = fuzzy_simplicial_set(knn, local, mix).to_scipy()
    assert ours.nnz == theirs.nnz
    np.testing.assert_allclose(ours.toarray(), theirs.toarray(), atol=1e-5)


def test_repulsion_strength_weighs_the_negative_term() -> None:
    gen = torch.Generator().manual_seed(0)
    h, t, nh, nt = (torch.randn(8, 2, generator=gen) for _ in range(4))
    attract = umap_loss(h, t, nh, nt, 1.6, 0.9, repulsion_strength=0.0)
    plain = umap_loss(h, t, nh, nt, 1.6, 0.9)
    double = umap_loss(h, t, nh, nt, 1.6, 0.9, repulsion_strength=2.0)
    torch.testing.assert_close(double - attract, 2 * (plain - attract))


def test_a_b_repulsion_and_transform_seed_reach_the_fit(blobs) -> None:
    x, _ = blobs
    plain = Umap(**TINY).fit(x)
    fitted = Umap(**TINY, a=1.2, b=0.7, repulsion_strength=3.0, transform_seed=5).fit(x)
    assert (fitted.a, fitted.b) == (1.2, 0.7)
    assert not np.allclose(plain.embedding, fitted.embedding)
    np.testing.assert_array_equal(
        fitted.transform(x[:5], refine=True, refine_epochs=3),
        fitted.transform(x[:5], refine=True, refine_epochs=3, seed=5),
    )
    with pytest.raises(ValueError, match="a and b set the curve together"):
        UmapConfig(a=1.0)
