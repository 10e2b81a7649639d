"""Bad input gets a clear `ValueError` naming the argument; odd but valid input works."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest
import torch
from conftest import forward_atol
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from pumap import Umap, UmapConfig
from pumap.data.preprocess import Standardizer, as_float32_matrix

OPTIONS = dict(n_neighbors=5, n_epochs=2, hidden_layers=(16,), seed=0, verbose=False)
PROPERTY = settings(
    max_examples=60, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)


def _data(n: int = 150, d: int = 6, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=6.0, size=(3, d))
    return (centres[np.arange(n) % 3] + rng.normal(size=(n, d))).astype(np.float32)


@pytest.fixture(scope="module")
def fitted():
    return Umap(**OPTIONS).fit(_data())


def _fit_error(data, **options) -> str:
    """The message of the ValueError that ``Umap.fit`` raises for ``data``."""
    with pytest.raises(ValueError) as info:
        Umap(**{**OPTIONS, **options}).fit(data)
    return str(info.value)


# ------------------------------------------------------------------ property-based: values


finite_matrices = hnp.arrays(
    dtype=st.sampled_from([np.float32, np.float64]),
    shape=hnp.array_shapes(min_dims=2, max_dims=2, min_side=1, max_side=12),
    elements=st.floats(-1e6, 1e6, width=32),
)


@PROPERTY
@given(x=finite_matrices, data=st.data(), bad=st.sampled_from([np.nan, np.inf, -np.inf]))
def test_nan_or_inf_anywhere_is_refused_with_its_position(x, data, bad):
    row = data.draw(st.integers(0, x.shape[0] - 1))
    col = data.draw(st.integers(0, x.shape[1] - 1))
    x = x.copy()
    x[row, col] = bad
    kind = "NaN" if np.isnan(bad) else "infinity"
    with pytest.raises(ValueError, match=rf"^X contains NaN or infinity \(first: {kind} at row"):
        as_float32_matrix(x, "X")
    first = np.argwhere(~np.isfinite(x))[0]
    where = rf"row {first[0]}, column {first[1]} \(0-based\)\)"
    with pytest.raises(ValueError, match=where):
        as_float32_matrix(x, "X")
    with pytest.raises(ValueError, match="X contains NaN or infinity"):
        as_float32_matrix(torch.from_numpy(x), "X")


@PROPERTY
@given(x=finite_matrices)
def test_finite_input_of_any_real_dtype_becomes_float32(x):
    out = as_float32_matrix(x, "X")
    assert out.dtype == torch.float32 and out.shape == x.shape and out.is_contiguous()
    np.testing.assert_array_equal(out.numpy(), x.astype(np.float32))
    ints = np.round(x).astype(np.int64)
    np.testing.assert_array_equal(as_float32_matrix(ints, "X").numpy(), ints.astype(np.float32))


@PROPERTY
@given(
    shape=st.one_of(
        hnp.array_shapes(min_dims=0, max_dims=1, min_side=0, max_side=5),
        hnp.array_shapes(min_dims=3, max_dims=4, min_side=0, max_side=3),
        st.tuples(st.integers(0, 3), st.just(0)),
        st.tuples(st.just(0), st.integers(0, 3)),
    )
)
def test_wrong_number_of_dimensions_or_empty_is_refused(shape):
    x = np.zeros(shape, dtype=np.float32)
    if x.size == 0:
        match = r"^data is empty: shape"
    else:
        match = rf"^data must be 2-D \(n_samples, n_features\), got {len(shape)}-D"
    with pytest.raises(ValueError, match=match):
        as_float32_matrix(x, "data")
    with pytest.raises(ValueError, match=match):
        as_float32_matrix(torch.from_numpy(x), "data")


@settings(max_examples=15, deadline=None, database=None)
@given(n=st.integers(1, 8), k=st.integers(2, 10))
def test_too_few_points_says_what_to_change(n, k):
    x = _data(n)
    if n >= k:  # n_neighbors counts the point itself: k points suffice
        return
    message = _fit_error(x, n_neighbors=k)
    if n == 1:  # no n_neighbors helps: say so, do not suggest one
        assert "X has 1 row; a k-NN graph needs at least 2 rows" in message
        assert "n_neighbors <=" not in message
        return
    assert f"X has {n} rows but n_neighbors={k} (the point itself counted) needs" in message
    if n == 2:
        assert f"pass n_neighbors=2 or at least {k} rows" in message
    else:
        assert f"pass n_neighbors <= {n} or at least {k} rows" in message


# ---------------------------------------------------------------------- named bad inputs


@pytest.mark.parametrize(
    ("data", "match"),
    [
        ([], r"X is empty: shape \(0,\)"),
        (np.zeros((0, 4)), r"X is empty: shape \(0, 4\)"),
        (np.zeros((10, 0)), r"X is empty: shape \(10, 0\)"),
        (np.arange(10.0), r"X must be 2-D .* got 1-D .* X\.reshape\(-1, 1\)"),
        (np.zeros((4, 3, 2)), r"X must be 2-D .* got 3-D .* X\.reshape\(len\(X\), -1\)"),
        (np.float32(3.0), r"X must be 2-D .* got 0-D"),
        (np.array([["a", "b"]]), r"X must hold real numbers, got dtype <U1 \(strings\)"),
        (np.array([[1, "b"]], dtype=object), r"X must hold real numbers, got dtype object"),
        (np.array([[1.0, 2.0]], dtype=object), r"X must hold real numbers, got dtype object"),
        (np.ones((3, 2), dtype=bool), r"X must hold real numbers, got dtype bool .*astype"),
        (np.ones((3, 2), dtype=np.complex64), r"X has complex values; pass real numbers"),
        (torch.ones(3, 2, dtype=torch.complex64), r"X has complex values"),
        (torch.ones(3, 2, dtype=torch.bool), r"X must hold real numbers, got dtype torch.bool"),
        ([[1.0, 2.0], [3.0]], r"X cannot be read as a numeric array"),
        (torch.eye(5).to_sparse(), r"X is a sparse tensor.*X\.to_dense\(\)"),
        (np.array([[1e39, 1.0]]), r"X has a value beyond float32's .*row 0, column 0 \(0-based"),
    ],
)
def test_bad_input_is_refused_naming_x(data, match):
    with pytest.raises(ValueError, match=match):
        as_float32_matrix(data, "X")
    with pytest.raises(ValueError, match=match):
        Umap(**OPTIONS).fit(data)


def test_pandas_frames():
    pd = pytest.importorskip("pandas")  # optional: pumap reads frames without importing it
    x = _data(20, 3)
    frame = pd.DataFrame(x, columns=["a", "b", "c"])
    np.testing.assert_array_equal(as_float32_matrix(frame).numpy(), x)
    mixed = frame.assign(a=frame["a"].astype("float64"), b=np.arange(20))
    assert as_float32_matrix(mixed).dtype == torch.float32
    labelled = frame.assign(label=["x"] * 20, flag=True)
    with pytest.raises(ValueError, match=r"^X has non-numeric column\(s\): label, flag; drop"):
        Umap(**OPTIONS).fit(labelled)
    nullable = frame.assign(n=pd.array([1] * 19 + [None], dtype="Int64"))
    with pytest.raises(ValueError, match=r"X contains NaN or inf.*row 19, column 3 \(0-based\)"):
        as_float32_matrix(nullable)
    with pytest.raises(ValueError, match="X must be 2-D"):
        as_float32_matrix(frame["a"])


def test_all_rows_identical_is_refused():
    assert "all 150 rows of X are identical" in _fit_error(np.ones((150, 4)))
    assert "all 150 rows of X are identical" in _fit_error(np.full((150, 1), 7, dtype=np.int32))


def test_transform_with_the_wrong_number_of_features(fitted):
    with pytest.raises(ValueError, match="X has 5 features but this model was fitted on 6"):
        fitted.transform(np.zeros((3, 5), dtype=np.float32))
    with pytest.raises(ValueError, match="X contains NaN"):
        fitted.transform(np.full((3, 6), np.nan))
    with pytest.raises(ValueError, match="X must be 2-D"):
        fitted.transform(np.zeros(6))


@pytest.mark.parametrize(
    ("option", "value", "match"),
    [
        ("metric", "manhatan", r"metric must be one of 'euclidean', 'cosine', .* got 'manhatan'"),
        ("knn_method", "annoy", r"knn_method must be one of .* got 'annoy'"),
        ("device", "tpu", r"device must be 'auto', 'cpu', 'cuda', 'cuda:N' or 'mps', got 'tpu'"),
        ("n_components", 0, r"n_components must be >= 1, got 0"),
        ("n_neighbors", 2.5, r"n_neighbors must be an integer, got 2.5"),
    ],
)
def test_unknown_options_are_refused_by_name(option, value, match):
    with pytest.raises(ValueError, match=match):
        Umap(**{**OPTIONS, option: value})
    with pytest.raises(ValueError, match=match):
        UmapConfig(**{option: value})


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_absent_device_says_what_is_there():
    for name in ("cuda", "cuda:7"):
        message = _fit_error(_data(), device=name)
        assert f"device '{name}' was asked for but CUDA is not available; there is: " in message
        assert message.endswith("cpu")


# --------------------------------------------------------------------- odd but valid input


def test_float64_is_converted_once():
    x = np.random.default_rng(0).normal(size=(20_000, 16))  # float64, 2.4 MiB as float32
    tracemalloc.start()
    try:
        out = as_float32_matrix(x, "X")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    float32_bytes = x.size * 4
    assert out.dtype == torch.float32
    assert peak < 1.25 * float32_bytes, f"{peak} bytes allocated for {float32_bytes}"
    same = np.ascontiguousarray(x, dtype=np.float32)
    assert as_float32_matrix(same).data_ptr() == same.ctypes.data  # float32 is not copied


def test_integer_input_with_constant_columns_and_duplicate_rows():
    x = np.round(_data(150, 5) * 3).astype(np.int64)
    x[:, 2] = 4  # a constant column
    x[100:] = x[:50]  # 50 duplicated rows
    fitted = Umap(**OPTIONS).fit(x)
    emb = fitted.embedding
    assert emb.shape == (150, 2) and emb.dtype == np.float32 and np.isfinite(emb).all()
    np.testing.assert_array_equal(emb[100:], emb[:50])  # same row, same point
    assert np.ptp(emb, axis=0).min() > 0.1  # not collapsed
    np.testing.assert_allclose(  # another batch size: another kernel's rounding
        fitted.transform(x[:10].astype(np.float64)), emb[:10], rtol=0, atol=forward_atol(emb)
    )


@pytest.mark.parametrize("n_components", [1, 3])
def test_n_components_one_and_three(n_components):
    fitted = Umap(**{**OPTIONS, "n_components": n_components}).fit(_data())
    assert fitted.embedding.shape == (150, n_components)
    assert np.isfinite(fitted.embedding).all()
    assert fitted.transform(_data(7)).shape == (7, n_components)


@pytest.mark.parametrize("scale", [2.0**100, 2.0**-100])
def test_extreme_but_finite_scales(scale):
    """Values near 1e30 or 1e-30: float32 squared distances would overflow or underflow."""
    x = (_data().astype(np.float64) * scale).astype(np.float32)
    emb = Umap(**OPTIONS).fit(x).embedding
    assert np.isfinite(emb).all() and np.ptp(emb, axis=0).min() > 0.1


def test_standardizer_floors_the_divisor_at_half_the_largest_std():
    """What UmapConfig.standardize documents: features within a factor 2 of the widest are
    z-scored, narrower ones divided by half the widest's std (stds 1 and 0.01 beside 1000
    come out as 0.002 and 2e-5), and constant data is only centred."""
    rng = np.random.default_rng(0)
    z = rng.normal(size=(20_000, 4))
    z = (z - z.mean(axis=0)) / z.std(axis=0)  # exactly mean 0, std 1 per column
    x = torch.from_numpy((z * [1000.0, 600.0, 1.0, 0.01] + 5.0).astype(np.float32))
    out = Standardizer.fit(x)(x).double().std(dim=0, unbiased=False)
    np.testing.assert_allclose(out.numpy(), [1.0, 1.0, 0.002, 2e-5], rtol=1e-3)
    constant = torch.full((10, 3), 7.0)
    np.testing.assert_array_equal(Standardizer.fit(constant)(constant).numpy(), 0.0)


@pytest.mark.parametrize("knn_method", ["exact", "nndescent"])
def test_fit_checks_its_input_once(monkeypatch, knn_method) -> None:
    """Umap.fit checks X on the way in; the k-NN search, the final embedding and the
    training index trust that tensor (each whole-data check is a pass over all of X)."""
    import pumap.data.preprocess

    real = pumap.data.preprocess._all_finite
    checked: list[tuple[int, ...]] = []

    def counted(tensor: torch.Tensor) -> bool:
        checked.append(tuple(tensor.shape))
        return real(tensor)

    monkeypatch.setattr(pumap.data.preprocess, "_all_finite", counted)
    x = _data()
    fitted = Umap(**OPTIONS, knn_method=knn_method, keep_training_data=True).fit(x)
    assert checked == [x.shape]
    fitted.transform(x[:7])  # a public call still checks its input
    assert checked == [x.shape, (7, x.shape[1])]
