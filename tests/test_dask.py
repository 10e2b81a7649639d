"""`pumap.dask.transform`: lazy, block-wise embedding of Dask collections, model shipped once."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

pytest.importorskip("dask.array")
pytest.importorskip("distributed")

import dask
import dask.array as da
import distributed
from conftest import forward_atol

import pumap.dask as pdask
from pumap import FittedUmap, Umap

N_FEATURES = 8


@pytest.fixture(scope="module")
def data() -> np.ndarray:
    rng = np.random.default_rng(0)
    return rng.normal(size=(600, N_FEATURES)).astype(np.float32)


@pytest.fixture(scope="module")
def fitted(data: np.ndarray) -> FittedUmap:
    fast = {"n_epochs": 2, "hidden_layers": (16,), "n_neighbors": 6, "verbose": False}
    return Umap(seed=0, **fast).fit(data[:200])


@pytest.fixture
def dd():
    """dask.dataframe (it needs pyarrow, which dask[dataframe] installs)."""
    return pytest.importorskip("dask.dataframe")


@pytest.fixture(autouse=True)
def empty_cache():
    pdask.clear_cache()
    yield
    pdask.clear_cache()


def test_matches_in_memory_transform_block_by_block(fitted, data):
    # Several row blocks (one of them empty) and columns split in two: rechunked into one.
    x = da.from_array(data, chunks=((150, 0, 250, 200), (5, 3)))
    out = pdask.transform(fitted, x, batch_size=64, threads=1)
    assert out.shape == (600, 2) and out.dtype == np.float32
    assert out.chunks == ((150, 0, 250, 200), (2,))
    result = out.compute(scheduler="threads")
    assert result.dtype == np.float32
    np.testing.assert_allclose(result, fitted.transform(data), rtol=0, atol=forward_atol(result))
    assert pdask.cache_info()["loads"] == 1  # four blocks, one process: one load


def test_unknown_row_chunks_stay_unknown(fitted, data):
    x = da.from_array(data, chunks=(200, N_FEATURES))
    kept = x[x[:, 0] > 0]  # a boolean mask: the blocks' row counts are unknown until computed
    out = pdask.transform(fitted, kept)
    assert np.isnan(out.chunks[0]).all() and out.chunks[1] == (2,)
    result = out.compute(scheduler="sync")
    expected = fitted.transform(data[data[:, 0] > 0])
    np.testing.assert_allclose(result, expected, rtol=0, atol=forward_atol(expected))


def test_two_inputs_computed_together_keep_their_own_blocks(fitted, data):
    first = pdask.transform(fitted, da.from_array(data[:300], chunks=(100, N_FEATURES)))
    second = pdask.transform(fitted, da.from_array(data[300:], chunks=(100, N_FEATURES)))
    assert first.name != second.name
    a, b = dask.compute(first, second, scheduler="sync")
    atol = forward_atol(fitted.embedding)
    np.testing.assert_allclose(a, fitted.transform(data[:300]), rtol=0, atol=atol)
    np.testing.assert_allclose(b, fitted.transform(data[300:]), rtol=0, atol=atol)


def test_is_lazy_until_computed(fitted, data):
    calls = []

    def source(block: np.ndarray) -> np.ndarray:
        if block.size:  # dask calls it once on an empty block to learn its output type
            calls.append(block.shape[0])
        return block

    x = da.from_array(data, chunks=(100, N_FEATURES)).map_blocks(source, dtype=np.float32)
    out = pdask.transform(fitted, x)
    assert calls == [] and pdask.cache_info()["loads"] == 0
    out.compute(scheduler="sync")
    assert sorted(calls) == [100] * 6 and pdask.cache_info()["loads"] == 1


def test_every_block_depends_on_one_model_key(fitted, data):
    out = pdask.transform(fitted, da.from_array(data, chunks=(100, N_FEATURES)))
    graph = dict(out.__dask_graph__())
    model_keys = [k for k in graph if isinstance(k, str) and k.startswith("pumap-model-")]
    assert len(model_keys) == 1
    deps = out.__dask_graph__().get_all_dependencies()
    for key in out.__dask_keys__():
        assert model_keys[0] in deps[key[0]]
    # The same model gives the same bytes, hence the same key (and the same worker cache entry).
    assert pdask.model_bytes(fitted) == pdask.model_bytes(fitted)


def test_distributed_cluster_loads_the_model_once_per_worker(fitted, data):
    x = da.from_array(data, chunks=(75, N_FEATURES))  # eight partitions over two workers
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        first = pdask.transform(fitted, x).compute()
        second = pdask.transform(fitted, x).compute()
        loads = client.run(lambda: pdask.cache_info()["loads"])
    expected = fitted.transform(data)
    np.testing.assert_allclose(first, expected, rtol=0, atol=forward_atol(expected))
    np.testing.assert_allclose(second, expected, rtol=0, atol=forward_atol(expected))
    # In-process workers share this process's cache: one load for both, and both runs.
    assert set(loads.values()) == {1}


@pytest.mark.slow
def test_worker_processes_each_load_the_model_once(fitted, data):
    x = da.from_array(data, chunks=(50, N_FEATURES))
    # Dask's nanny writes its workers' environment (OMP_NUM_THREADS=1, MALLOC_TRIM_THRESHOLD_)
    # into this process's os.environ: restore it, or later tests' subprocesses inherit it.
    saved = dict(os.environ)
    try:
        with (
            distributed.LocalCluster(
                n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
            ) as cluster,
            distributed.Client(cluster) as client,
        ):
            result = pdask.transform(fitted, x).compute()
            result_again = pdask.transform(fitted, x).compute()
            loads = client.run(lambda: pdask.cache_info()["loads"])
    finally:
        os.environ.clear()
        os.environ.update(saved)
    np.testing.assert_allclose(result, fitted.transform(data), rtol=0, atol=forward_atol(result))
    np.testing.assert_array_equal(result, result_again)
    assert len(loads) == 2 and all(n <= 1 for n in loads.values()) and sum(loads.values()) >= 1


def test_dask_dataframe_input(fitted, data, dd):
    frame = pd.DataFrame(data, columns=[f"f{i}" for i in range(N_FEATURES)])
    frame["f0"] = (frame["f0"] * 10).round().astype(np.int64)  # an integer column is numeric
    ddf = dd.from_pandas(frame, npartitions=4)
    out = pdask.transform(fitted, ddf)
    assert out.shape == (600, 2) and sum(out.chunks[0]) == 600 and out.numblocks[0] == 4
    expected = fitted.transform(frame)
    np.testing.assert_allclose(
        out.compute(scheduler="threads"), expected, rtol=0, atol=forward_atol(expected)
    )


def test_refuses_what_it_cannot_embed(fitted, data):
    x = da.from_array(data, chunks=(100, N_FEATURES))
    with pytest.raises(TypeError, match=r"dask array or dask DataFrame.*fitted\.transform"):
        pdask.transform(fitted, data)
    with pytest.raises(TypeError, match="fitted must be a FittedUmap"):
        pdask.transform("model", x)
    with pytest.raises(ValueError, match="x has 5 features but this model was fitted on 8"):
        pdask.transform(fitted, x[:, :5])
    with pytest.raises(ValueError, match="x must be 2-D"):
        pdask.transform(fitted, x[:, 0])
    with pytest.raises(ValueError, match=r"real numbers.*bool"):
        pdask.transform(fitted, x > 0)
    with pytest.raises(ValueError, match="batch_size must be a positive integer"):
        pdask.transform(fitted, x, batch_size=0)
    with pytest.raises(ValueError, match="threads must be None or a positive integer"):
        pdask.transform(fitted, x, threads=0)
    with pytest.raises(ValueError, match="device 'gpu' is not a device name"):
        pdask.transform(fitted, x, device="gpu")


def test_refuses_non_numeric_columns_and_series_by_name(fitted, data, dd):
    frame = pd.DataFrame(data, columns=[f"f{i}" for i in range(N_FEATURES)])
    frame["f3"] = frame["f3"].astype(str)
    frame["f5"] = frame["f5"] > 0
    with pytest.raises(ValueError, match=r"numeric columns only.*'f3'.*'f5' \(bool\)"):
        pdask.transform(fitted, dd.from_pandas(frame, npartitions=2))
    series = dd.from_pandas(pd.Series(data[:, 0]), npartitions=2)
    with pytest.raises(TypeError, match="pass a DataFrame"):
        pdask.transform(fitted, series)


def test_refuses_a_custom_encoder(fitted, data):
    custom = FittedUmap(
        nn.Sequential(nn.Linear(N_FEATURES, 2)), fitted.standardizer, fitted.config, 1.0, 1.0
    )
    with pytest.raises(ValueError, match="custom module"):
        pdask.transform(custom, da.from_array(data, chunks=(100, N_FEATURES)))


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error of a worker without CUDA")
def test_a_worker_without_the_device_says_so(fitted, data):
    out = pdask.transform(fitted, da.from_array(data, chunks=(300, N_FEATURES)), device="cuda")
    with pytest.raises(ValueError, match="CUDA is not available"):
        out.compute(scheduler="sync")


@pytest.mark.cuda
def test_cuda_workers_match_the_cpu(fitted, data):
    out = pdask.transform(fitted, da.from_array(data, chunks=(150, N_FEATURES)), device="cuda")
    np.testing.assert_allclose(
        out.compute(scheduler="sync"), fitted.transform(data), rtol=1e-4, atol=1e-4
    )


def test_clear_import_error_without_dask(monkeypatch, fitted, data):
    x = da.from_array(data, chunks=(100, N_FEATURES))
    for name in [m for m in sys.modules if m == "dask" or m.startswith("dask.")]:
        monkeypatch.setitem(sys.modules, name, None)  # makes `import dask...` fail
    with pytest.raises(ImportError, match=r'pip install "pumap\[dask\]"'):
        pdask.transform(fitted, x)


def test_import_pumap_does_not_import_dask():
    code = """
        import sys
        import pumap, pumap.dask
        loaded = sorted(m for m in sys.modules if m == "dask" or m.startswith("dask."))
        assert not loaded, loaded
    """
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr


def test_uses_the_active_scheduler(fitted, data):
    with dask.config.set(scheduler="sync"):
        result = pdask.transform(fitted, da.from_array(data, chunks=(200, N_FEATURES))).compute()
    np.testing.assert_allclose(result, fitted.transform(data), rtol=0, atol=forward_atol(result))
