"""Embed a Dask array or DataFrame with a fitted model, partition by partition, on any scheduler.

``pumap.dask.transform(fitted, x)`` returns a lazy Dask array: each row block of ``x`` goes
through the encoder where it lives (a `dask.distributed` worker, or a thread of the local
scheduler). The model travels once: it is written as a pumap safetensors file (the same bytes
`FittedUmap.save` writes, never a pickle of the torch module) and those bytes are one key of
the graph, on which every block's task depends, so each worker receives them once. A worker
process loads them once too: the loaded model is kept in a small per-process cache keyed by
the bytes' SHA-256 (and the device), which `cache_info` reports and `clear_cache` empties.

Dask is optional: ``pip install "pumap[dask]"``. Importing `pumap` (or this module) does not
import it; `transform` does, and raises an ImportError saying how to install it if it is
missing.
"""

from __future__ import annotations

import hashlib
import logging
import tempfile
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .model.fitted import TRANSFORM_BATCH, FittedUmap
from .training.encoder import MLP

__all__ = ["cache_info", "clear_cache", "model_bytes", "transform"]

logger = logging.getLogger(__name__)

INSTALL_HINT = 'pumap.dask needs dask: pip install "pumap[dask]"'
_MAX_CACHED = 4  # models a worker process keeps loaded (one per model and device)


class _ModelCache:
    """Loaded models of this process, newest last, and how many loads it has done.

    Per process by necessity: a Dask worker runs tasks as plain function calls, and this is
    what lets a second task on the same worker reuse the model the first one loaded.
    """

    def __init__(self, size: int) -> None:
        self.size = size
        self.models: OrderedDict[tuple[str, str], FittedUmap] = OrderedDict()
        self.loads = 0
        self.lock = threading.Lock()

    def get(self, payload: bytes, digest: str, device: str) -> FittedUmap:
        key = (digest, device)
        with self.lock:  # held while loading: concurrent tasks of a worker load once
            model = self.models.get(key)
            if model is None:
                model = _load(payload, digest, device)
                self.loads += 1
                self.models[key] = model
                while len(self.models) > self.size:
                    self.models.popitem(last=False)
            else:
                self.models.move_to_end(key)
            return model


_CACHE = _ModelCache(_MAX_CACHED)


def cache_info() -> dict[str, Any]:
    """What this process's model cache holds.

    Run it on every worker with ``client.run(pumap.dask.cache_info)``.

    Returns
    -------
    dict
        ``loads``: how many times a model was deserialised in this process since it started
        (or since `clear_cache`); ``models``: ``[digest, device]`` of each model kept loaded.
    """
    with _CACHE.lock:
        return {"loads": _CACHE.loads, "models": [list(key) for key in _CACHE.models]}


def clear_cache() -> None:
    """Drop this process's loaded models and reset its load count."""
    with _CACHE.lock:
        _CACHE.models.clear()
        _CACHE.loads = 0


def model_bytes(fitted: FittedUmap, *, threads: int | None = None) -> bytes:
    """The bytes of ``fitted`` as a pumap safetensors file, with what embedding needs only.

    The training embedding and the training index are left out (a forward pass uses neither),
    and the config's ``threads`` is set to ``threads``. The bytes are deterministic: the same
    model gives the same bytes, hence the same cache key on the workers.

    Raises
    ------
    ValueError
        If the encoder is a custom module, which a file cannot rebuild.
    """
    if type(fitted.encoder) is not MLP:
        cls = type(fitted.encoder)
        raise ValueError(
            f"pumap.dask ships the model as a file, which rebuilds pumap's MLP encoder only; "
            f"this model's encoder is a custom module ({cls.__module__}.{cls.__qualname__})"
        )
    slim = FittedUmap(
        fitted.encoder,
        fitted.standardizer,
        fitted.config.replace(threads=threads),
        fitted.a,
        fitted.b,
        losses=fitted.losses,
    )
    with tempfile.TemporaryDirectory(prefix="pumap-dask-") as folder:
        path = Path(folder) / "model.safetensors"
        slim.save(path)
        return path.read_bytes()


def transform(
    fitted: FittedUmap,
    x: Any,
    *,
    batch_size: int = TRANSFORM_BATCH,
    device: str = "cpu",
    threads: int | None = None,
) -> Any:
    """Embed a Dask array or DataFrame lazily, block by block, with ``fitted``'s encoder.

    Nothing runs until the result is computed (``.compute()``, ``.persist()``, ``.to_zarr``...),
    on whatever scheduler is active: a `dask.distributed` client's cluster or the local
    threaded one. Each row block gives the same rows as ``fitted.transform`` of that block.
    Only the forward pass is offered: ``refine=True`` would ship the training index to every
    worker and make each block's result depend on the blocking (its epochs and negative
    samples are drawn per call), so it is left out; refine a sample in memory instead.

    Parameters
    ----------
    fitted : FittedUmap
        The model, with pumap's MLP encoder (a custom encoder cannot be rebuilt from a file).
    x : dask.array.Array or dask.dataframe.DataFrame
        ``(n, n_features)`` real numbers: a 2-D array chunked along rows (its columns are
        rechunked into one block if they are split), or a DataFrame of numeric columns, whose
        partition lengths are counted once here (one pass over it) so that the result's
        chunks are known. An array with unknown row chunks gives a result with unknown ones.
    batch_size : int
        Rows per forward pass within a block.
    device : str
        Where each worker runs the encoder: ``"cpu"`` (default), ``"cuda"``, ``"cuda:N"``,
        ``"mps"`` or ``"auto"``, resolved on the worker (a worker without that device fails
        its tasks with a ValueError naming the devices it has).
    threads : int, optional
        Torch CPU threads per task; by default the worker's setting (`dask.distributed` workers
        start with one thread per task).

    Returns
    -------
    dask.array.Array
        ``(n, n_components)`` float32, chunked along rows as ``x``, lazy.

    Raises
    ------
    ImportError
        If dask is not installed.
    TypeError
        If ``fitted`` is not a `FittedUmap` or ``x`` is not a Dask array or DataFrame.
    ValueError
        If ``x`` is not 2-D, has not ``fitted.n_features`` columns or holds anything but real
        numbers, or an option is out of range.
    """
    da = _import_dask_array()
    if not isinstance(fitted, FittedUmap):
        raise TypeError(f"fitted must be a FittedUmap, got {type(fitted).__name__}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    if threads is not None and (
        isinstance(threads, bool) or not isinstance(threads, int) or threads < 1
    ):
        raise ValueError(f"threads must be None or a positive integer, got {threads!r}")
    device = _device_name(device)
    array = _as_dask_array(x, da)
    if array.ndim != 2:
        raise ValueError(f"x must be 2-D (n_samples, n_features), got shape {array.shape}")
    if array.shape[1] != fitted.n_features:
        raise ValueError(
            f"x has {array.shape[1]} features but this model was fitted on {fitted.n_features}"
        )
    if array.dtype.kind not in "iuf":
        raise ValueError(
            f"x must hold real numbers (integer or floating), got dtype {array.dtype}"
        )
    if array.numblocks[1] != 1:
        array = array.rechunk({1: -1})

    import dask

    payload = model_bytes(fitted, threads=threads)
    digest = hashlib.sha256(payload).hexdigest()
    model = dask.delayed(payload, name=f"pumap-model-{digest[:16]}", pure=True)
    n_components = fitted.n_components
    logger.debug(
        "pumap.dask: a %d-byte model, %s, over %d blocks", len(payload), digest[:16],
        array.numblocks[0],
    )
    return da.map_blocks(
        _embed_block,
        array,
        model,
        digest,
        device,
        batch_size,
        n_components,
        chunks=(array.chunks[0], (n_components,)),
        dtype=np.float32,
        meta=np.empty((0, n_components), dtype=np.float32),
        token="pumap-transform",  # the key name is this plus a hash of the input and options
    )


def _embed_block(
    block: np.ndarray,
    payload: bytes,
    digest: str,
    device: str,
    batch_size: int,
    n_components: int,
) -> np.ndarray:
    """One block's embedding, with the worker's cached model (loaded on first use)."""
    if block.shape[0] == 0:
        return np.empty((0, n_components), dtype=np.float32)
    model = _CACHE.get(payload, digest, device)
    return model.transform(np.asarray(block), batch_size=batch_size)


def _load(payload: bytes, digest: str, device: str) -> FittedUmap:
    if hashlib.sha256(payload).hexdigest() != digest:
        raise ValueError("pumap.dask: the model bytes received do not match their digest")
    with tempfile.TemporaryDirectory(prefix="pumap-dask-") as folder:
        path = Path(folder) / "model.safetensors"
        path.write_bytes(payload)
        model = FittedUmap.load(path, device=device)
    logger.info("pumap.dask: loaded model %s on %s", digest[:16], device)
    return model


def _as_dask_array(x: Any, da: Any) -> Any:
    """``x`` as a Dask array: itself, or a DataFrame's values with known partition lengths."""
    if isinstance(x, da.Array):
        return x
    import dask

    if not dask.is_dask_collection(x) or not hasattr(x, "to_dask_array"):
        hint = " (for an in-memory array use fitted.transform)" if _in_memory(x) else ""
        raise TypeError(
            f"x must be a dask array or dask DataFrame, got {type(x).__module__}."
            f"{type(x).__name__}{hint}"
        )
    dtypes = getattr(x, "dtypes", None)
    if not hasattr(dtypes, "items"):  # a Series has one dtype, not one per column
        raise TypeError(
            f"x must be a 2-D dask array or dask DataFrame, got a {type(x).__name__}; "
            "pass a DataFrame (series.to_frame())"
        )
    bad = [f"{name!r} ({dtype})" for name, dtype in dtypes.items() if _kind(dtype) not in "iuf"]
    if bad:
        raise ValueError(
            f"x must have numeric columns only; not numeric: {', '.join(bad[:5])}"
            + (f" and {len(bad) - 5} more" if len(bad) > 5 else "")
        )
    return x.to_dask_array(lengths=True)


def _kind(dtype: Any) -> str:
    try:
        return np.dtype(dtype).kind
    except TypeError:  # a pandas extension dtype (nullable integers, categories, strings)
        return str(getattr(dtype, "kind", "O"))


def _in_memory(x: Any) -> bool:
    return isinstance(x, (np.ndarray, torch.Tensor)) or type(x).__module__.startswith("pandas")


def _device_name(device: Any) -> str:
    if isinstance(device, torch.device):
        device = str(device)
    if not isinstance(device, str):
        raise ValueError(f"device must be a device name such as 'cpu' or 'cuda', got {device!r}")
    if device != "auto":
        try:
            torch.device(device)
        except (RuntimeError, TypeError) as err:
            raise ValueError(f"device {device!r} is not a device name: {err}") from None
    return device


def _import_dask_array() -> Any:
    try:
        import dask.array as da
    except ImportError as err:
        raise ImportError(INSTALL_HINT) from err
    return da
