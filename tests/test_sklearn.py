"""`pumap.ParametricUMAP`: scikit-learn conventions, pipelines, grid search, lazy import."""

from __future__ import annotations

import dataclasses
import inspect
import pickle
import subprocess
import sys
import textwrap

import numpy as np
import pytest

pytest.importorskip("sklearn")

import torch
from conftest import forward_atol
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

import pumap
from pumap import UmapConfig
from pumap.sklearn import UMAP_LEARN_N_NEIGHBORS, ParametricUMAP

# Tiny, fast settings shared by every fit in this file.
FAST = {"n_epochs": 2, "hidden_layers": (16,), "n_neighbors": 6, "verbose": False}

# Checks of scikit-learn's suite that ParametricUMAP is expected to fail, and why. Both
# refit with the same random_state and compare to rtol ~1e-7: pumap's training is
# bit-for-bit reproducible on one CPU thread, but with several threads torch's CPU kernels
# may sum in a different order, leaving differences of ~1e-4 after a few epochs (on GPUs
# too). Fixed seeds give equivalent embeddings, not bitwise identical ones.
# Every check passes: CPU fits are bit-for-bit reproducible with a seed (see test_determinism).
EXPECTED_FAILED_CHECKS: dict[str, str] = {}

# UmapConfig fields whose estimator parameter has another name or another default.
RENAMED = {"seed": "random_state"}
OWN_DEFAULTS = {"n_neighbors": UMAP_LEARN_N_NEIGHBORS, "verbose": False}


def _expected_failed_checks(estimator: ParametricUMAP) -> dict[str, str]:
    return EXPECTED_FAILED_CHECKS


@parametrize_with_checks(
    [ParametricUMAP(**FAST, random_state=0)], expected_failed_checks=_expected_failed_checks
)
def test_sklearn_compatible(estimator, check):
    check(estimator)


@pytest.fixture
def data(blobs):
    x, y = blobs
    return x[:200].astype(np.float64), y[:200]


# ---------------------------------------------------------------- parameters


def test_defaults_follow_umapconfig():
    """Fails if UmapConfig's defaults change and ParametricUMAP's do not follow."""
    params = inspect.signature(ParametricUMAP).parameters
    config = UmapConfig()
    for f in dataclasses.fields(UmapConfig):
        name = RENAMED.get(f.name, f.name)
        assert name in params, f"UmapConfig.{f.name} has no ParametricUMAP parameter"
        expected = OWN_DEFAULTS.get(f.name, getattr(config, f.name))
        assert params[name].default == expected, name
    assert UMAP_LEARN_N_NEIGHBORS == 15  # umap-learn's default, i.e. pumap's 14


def test_default_config_is_umapconfig_default_apart_from_documented_ones():
    est = ParametricUMAP()
    config = est._build_config(n_samples=1000)
    assert config == UmapConfig().replace(n_neighbors=UMAP_LEARN_N_NEIGHBORS, verbose=False)


def test_n_neighbors_counts_the_point_itself(data):
    x, _ = data
    est = ParametricUMAP(**{**FAST, "n_neighbors": 8}, random_state=0).fit(x)
    assert est.config_.n_neighbors == 8  # one convention: umap-learn's, in both
    assert est.fitted_.config.n_neighbors == 8


def test_n_neighbors_larger_than_data_is_truncated_with_warning(rng):
    x = rng.normal(size=(5, 3))
    with pytest.warns(UserWarning, match="n_neighbors=15 is larger"):
        est = ParametricUMAP(**{**FAST, "n_neighbors": 15}, random_state=0).fit(x)
    assert est.config_.n_neighbors == 5
    assert est.embedding_.shape == (5, 2)


def test_init_stores_params_and_fit_validates(data):
    x, _ = data
    est = ParametricUMAP(n_neighbors=1, metric="manhatan", min_dist=-1)  # no error yet
    assert est.get_params()["metric"] == "manhatan"
    with pytest.raises(ValueError, match="n_neighbors must be >= 2"):
        est.fit(x)
    for bad, match in [
        ({"metric": "manhatan"}, "metric must be one of"),
        ({"min_dist": 2.0}, "min_dist must be at most spread"),
        ({"n_components": 0}, "n_components must be >= 1"),
        ({"device": "tpu"}, "device must be"),
        ({"hidden_layers": 16}, "hidden_layers must be a sequence"),
        ({"hidden_layers": "16"}, "hidden_layers must be a sequence"),
        ({"random_state": "seed"}, "random_state must be None"),
        ({"random_state": -1}, "random_state must be >= 0"),
        ({"n_neighbors": 2.5}, "n_neighbors must be an integer"),
    ]:
        with pytest.raises(ValueError, match=match):
            ParametricUMAP(**{**FAST, **bad}).fit(x)


def test_numpy_scalars_from_grids_are_accepted(data):
    x, _ = data
    est = ParametricUMAP(
        **{**FAST, "n_neighbors": np.int64(5), "min_dist": np.float32(0.2)},
        n_components=np.int64(3),
        random_state=np.int64(1),
    ).fit(x)
    assert est.embedding_.shape == (200, 3)
    assert est.config_.seed == 1


def test_random_state_int_reproducible_and_instances_derive_a_seed(data):
    x, _ = data
    with torch.random.fork_rng():
        torch.set_num_threads(1)  # bitwise reproducible on one thread
        a = ParametricUMAP(**FAST, random_state=3).fit_transform(x)
        b = ParametricUMAP(**FAST, random_state=3).fit_transform(x)
    np.testing.assert_array_equal(a, b)
    seeds = [
        ParametricUMAP(**FAST, random_state=np.random.RandomState(0)).fit(x).config_.seed,
        ParametricUMAP(**FAST, random_state=np.random.default_rng(0)).fit(x).config_.seed,
    ]
    assert all(isinstance(s, int) and s >= 0 for s in seeds)
    assert ParametricUMAP(**FAST).fit(x).config_.seed is None


def test_get_set_params_and_clone(data):
    x, _ = data
    est = ParametricUMAP(**FAST, random_state=0)
    assert est.set_params(n_components=3) is est
    assert est.get_params()["n_components"] == 3
    est.fit(x)
    copy = clone(est)
    assert copy.get_params() == est.get_params()
    assert not hasattr(copy, "embedding_")


# ---------------------------------------------------------------- fitting


def test_fit_transform_attributes(data):
    x, _ = data
    est = ParametricUMAP(**FAST, random_state=0)
    assert est.fit(x) is est
    assert est.embedding_.shape == (200, 2) and est.embedding_.dtype == np.float32
    assert est.n_features_in_ == 8
    assert isinstance(est.fitted_, pumap.FittedUmap)
    np.testing.assert_allclose(
        est.transform(x[:10]), est.embedding_[:10], rtol=0, atol=forward_atol(est.embedding_)
    )
    np.testing.assert_array_equal(est.fit_transform(x), est.embedding_)
    assert list(est.get_feature_names_out()) == ["parametricumap0", "parametricumap1"]
    with pytest.raises(ValueError, match="X has 3 features, but ParametricUMAP is expecting 8"):
        est.transform(x[:, :3])


def test_dataframe_feature_names_and_pandas_output(data):
    pd = pytest.importorskip("pandas")
    x, _ = data
    frame = pd.DataFrame(x, columns=[f"f{i}" for i in range(8)])
    est = ParametricUMAP(**FAST, random_state=0).set_output(transform="pandas")
    out = est.fit_transform(frame)
    assert list(est.feature_names_in_) == list(frame.columns)
    assert list(out.columns) == ["parametricumap0", "parametricumap1"]
    assert out.shape == (200, 2)


def test_custom_encoder_is_copied_not_trained_in_place(data):
    x, _ = data
    encoder = torch.nn.Sequential(torch.nn.Linear(8, 4), torch.nn.Tanh(), torch.nn.Linear(4, 2))
    before = [p.detach().clone() for p in encoder.parameters()]
    est = ParametricUMAP(**FAST, encoder=encoder, random_state=0).fit(x)
    assert est.embedding_.shape == (200, 2)
    for p, q in zip(encoder.parameters(), before, strict=True):
        assert torch.equal(p, q)
    assert est.fitted_.encoder is not encoder


def test_pickle_roundtrip(data):
    x, _ = data
    est = ParametricUMAP(**FAST, random_state=0).fit(x)
    again = pickle.loads(pickle.dumps(est))
    np.testing.assert_array_equal(again.transform(x[:20]), est.transform(x[:20]))


# ---------------------------------------------------------------- composition


def test_pipeline_scaler_umap_knn(data):
    x, y = data
    pipe = Pipeline(
        [
            ("scale", StandardScaler()),
            ("umap", ParametricUMAP(**FAST, random_state=0)),
            ("knn", KNeighborsClassifier(n_neighbors=5)),
        ]
    )
    pipe.fit(x[::2], y[::2])
    assert pipe.score(x[1::2], y[1::2]) > 0.9  # three well separated blobs
    assert pipe.named_steps["umap"].n_features_in_ == 8


def test_grid_search(data):
    x, y = data
    pipe = Pipeline(
        [("umap", ParametricUMAP(**FAST, random_state=0)), ("knn", KNeighborsClassifier(5))]
    )
    search = GridSearchCV(pipe, {"umap__n_neighbors": [5, 8]}, cv=2)
    search.fit(x, y)
    assert search.best_params_["umap__n_neighbors"] in (5, 8)
    assert search.best_score_ > 0.9
    assert search.predict(x[:5]).shape == (5,)


# ---------------------------------------------------------------- optional dependency


def _run(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=120
    )


def test_sklearn_is_optional_and_imported_lazily():
    """One interpreter: no sklearn after ``import pumap``; clear error without it; lazy import."""
    done = _run(
        """
        import sys
        import pumap
        assert "sklearn" not in sys.modules, "import pumap imported sklearn"
        sys.modules["sklearn"] = None  # as if scikit-learn were not installed
        try:
            pumap.ParametricUMAP
        except ImportError as err:
            print(err)
        else:
            raise SystemExit("no ImportError without scikit-learn")
        del sys.modules["sklearn"]
        est = pumap.ParametricUMAP
        from pumap.sklearn import ParametricUMAP
        assert est is ParametricUMAP
        try:
            pumap.NoSuchThing
        except AttributeError as err:
            assert "NoSuchThing" in str(err)
        else:
            raise SystemExit("no AttributeError")
        """
    )
    assert done.returncode == 0, done.stderr
    assert "needs scikit-learn" in done.stdout
    assert "pip install 'pumap[sklearn]'" in done.stdout


def test_precision_and_training_options_reach_the_config():
    est = ParametricUMAP(knn_precision="tf32", mixed_precision=True, compile=True)
    config = est._build_config(n_samples=1000)
    assert (config.knn_precision, config.mixed_precision, config.compile) == ("tf32", True, True)


def test_fit_transform_takes_what_fit_takes(data):
    """fit takes X and y only: fit_transform's signature says so, and an extra keyword is
    refused by fit_transform itself (it used to be forwarded to fit, which could not take it)."""
    x, _ = data
    assert list(inspect.signature(ParametricUMAP.fit_transform).parameters) == ["self", "X", "y"]
    est = ParametricUMAP(**FAST, random_state=0)
    with pytest.raises(TypeError, match=r"fit_transform.*n_epochs"):
        est.fit_transform(x, n_epochs=3)
    assert est.fit_transform(x, None).shape == (200, 2)


def test_threads_reach_the_config_and_the_fit(data):
    est = ParametricUMAP(threads=1)
    assert est._build_config(n_samples=1000).threads == 1
    assert ParametricUMAP(threads=np.int64(2))._build_config(n_samples=1000).threads == 2
    with pytest.raises(ValueError, match="threads must be >= 1"):
        ParametricUMAP(threads=0).fit(data[0])
    before = torch.get_num_threads()
    fitted = ParametricUMAP(**FAST, random_state=0, threads=1).fit(data[0])
    assert fitted.fitted_.config.threads == 1 and torch.get_num_threads() == before


def test_values_are_checked_once_by_pumap_with_its_message() -> None:
    """scikit-learn checks shape and dtype, pumap the values: one pass, a message that says
    where the NaN is (scikit-learn's would only say that there is one)."""
    x = np.random.default_rng(0).normal(size=(40, 3))
    x[17, 2] = np.nan
    est = ParametricUMAP(n_neighbors=5, n_epochs=2, random_state=0, verbose=False)
    with pytest.raises(ValueError, match=r"NaN at row 17, column 2"):
        est.fit(x)
    est.fit(np.nan_to_num(x))
    x[3, 1] = np.inf
    with pytest.raises(ValueError, match=r"infinity at row 3, column 1"):
        est.transform(x)
