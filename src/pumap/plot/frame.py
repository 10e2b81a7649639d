"""Hand-offs to other viewers: the points as a pandas DataFrame or a Parquet file.

`to_frame` gives one row per point, training points first and new points after: ``x``, ``y``,
``label`` (when labels are given), ``is_new``, and optionally ``neighbors``, each point's
nearest training rows in the layout embedding-atlas reads (``{"ids": [...], "distances":
[...]}``). datamapplot takes the ``x``/``y`` columns and the labels; scanpy users have
`pumap.anndata` instead. `to_parquet` writes the same table (pandas and pyarrow, in the
``interactive`` extra).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from ._inputs import embedding_of, labels_of, new_embedding_of
from .interactive import INSTALL_HINT

log = logging.getLogger(__name__)


def require_pandas() -> Any:
    """Import pandas, or raise an ImportError that names the ``interactive`` extra."""
    try:
        import pandas
    except ImportError as exc:
        raise ImportError(f"pumap.plot.to_frame needs pandas: {INSTALL_HINT}") from exc
    return pandas


def nearest_training_rows(
    train: np.ndarray, points: np.ndarray, k: int, *, exclude_self: bool
) -> tuple[np.ndarray, np.ndarray]:
    """The `k` nearest rows of `train` to each of `points` in the embedding, and distances.

    Exact (a k-d tree), Euclidean in the 2-D embedding, nearest first. With `exclude_self`
    `points` are `train` itself and each row's own index is left out.

    Returns
    -------
    ids : ndarray of int64, shape (len(points), k)
    distances : ndarray of float64, shape (len(points), k)
    """
    from scipy.spatial import cKDTree

    extra = 1 if exclude_self else 0
    distances, ids = cKDTree(train).query(points, k=k + extra)
    distances, ids = distances.reshape(len(points), -1), ids.reshape(len(points), -1)
    if exclude_self:  # drop each row's own index wherever ties put it (else the last one)
        own = ids == np.arange(len(points))[:, None]
        own[~own.any(axis=1), -1] = True
        keep = ~own
        ids = ids[keep].reshape(len(points), k)
        distances = distances[keep].reshape(len(points), k)
    return ids.astype(np.int64), distances.astype(np.float64)


def to_frame(
    fitted_or_embedding: Any,
    labels: Any = None,
    new: Any = None,
    *,
    new_labels: Any = None,
    neighbors: int = 0,
) -> Any:
    """The points as a pandas DataFrame for datamapplot, embedding-atlas and the like.

    Parameters
    ----------
    fitted_or_embedding : FittedUmap, ParametricUMAP or array-like, shape (n, 2)
        A fitted model (its training ``embedding``) or the training points themselves.
    labels : array-like, shape (n,), optional
        Labels of the training points: the ``label`` column.
    new : array-like, optional
        New points, as in `pumap.plot.interactive`: a model's feature rows (transformed) or
        their ``(m, 2)`` embedding. They follow the training rows, with ``is_new`` True.
    new_labels : array-like, shape (m,), optional
        Their labels (missing labels of either set are left empty).
    neighbors : int
        When positive, add a ``neighbors`` column: each point's `neighbors` nearest
        *training* rows in the embedding (exact, Euclidean; a training point's own row left
        out) as ``{"ids": [...], "distances": [...]}``, ids being row numbers of this frame.

    Returns
    -------
    pandas.DataFrame
        Columns ``x``, ``y`` (float32), ``label`` (when labels are given), ``is_new`` (bool)
        and ``neighbors`` (when asked); index ``0..n+m-1``.

    Raises
    ------
    ImportError
        If pandas is not installed.
    ValueError
        If an embedding or labels have the wrong shape, or `neighbors` is negative or not
        smaller than the number of training points.
    """
    pandas = require_pandas()
    xy = embedding_of(fitted_or_embedding, "fitted_or_embedding")
    n = xy.shape[0]
    new_xy = np.zeros((0, 2)) if new is None else new_embedding_of(fitted_or_embedding, new)
    m = new_xy.shape[0]
    lab = labels_of(labels, n, "labels", "fitted_or_embedding")
    if new_labels is not None and new is None:
        raise ValueError("new_labels were given without new")
    new_lab = labels_of(new_labels, m, "new_labels", "new")
    if isinstance(neighbors, bool) or not isinstance(neighbors, (int, np.integer)) or not (
        0 <= neighbors < n
    ):
        raise ValueError(f"neighbors must be an integer in [0, {n}) (the training points), "
                         f"got {neighbors!r}")
    both = np.concatenate([xy, new_xy]).astype(np.float32)
    frame = pandas.DataFrame({"x": both[:, 0], "y": both[:, 1]})
    if lab is not None or new_lab is not None:
        frame["label"] = _label_column(pandas, lab, new_lab, n, m)
    frame["is_new"] = np.arange(n + m) >= n
    if neighbors:
        ids, dist = nearest_training_rows(xy, xy, neighbors, exclude_self=True)
        if m:
            new_ids, new_dist = nearest_training_rows(xy, new_xy, neighbors, exclude_self=False)
            ids, dist = np.concatenate([ids, new_ids]), np.concatenate([dist, new_dist])
        frame["neighbors"] = [{"ids": i.tolist(), "distances": d.tolist()}
                              for i, d in zip(ids, dist, strict=True)]
    return frame


def to_parquet(path: str | Path, fitted_or_embedding: Any, labels: Any = None,
               **options: Any) -> Path:
    """Write `to_frame`'s table to a Parquet file (atomically); returns the path.

    Parameters
    ----------
    path : str or Path
        The ``.parquet`` file to write; an existing file is replaced only once the new one
        is complete.
    fitted_or_embedding, labels, **options
        As in `to_frame` (``new``, ``new_labels``, ``neighbors``).

    Raises
    ------
    ImportError
        If pandas or pyarrow is not installed.
    """
    from ..model.formats.atomic import atomic_write

    frame = to_frame(fitted_or_embedding, labels, **options)
    try:
        import pyarrow  # noqa: F401
    except ImportError as exc:
        raise ImportError(f"pumap.plot.to_parquet needs pyarrow: {INSTALL_HINT}") from exc
    path = Path(path)
    atomic_write(path, lambda tmp: frame.to_parquet(tmp, engine="pyarrow", index=False))
    log.info("wrote %d points to %s", len(frame), path)
    return path


def _label_column(pandas: Any, lab: np.ndarray | None, new_lab: np.ndarray | None,
                  n: int, m: int) -> Any:
    """Training then new labels in one column; a missing set is left empty (NA)."""
    parts = [pandas.Series(lab) if lab is not None else pandas.Series([None] * n, dtype=object),
             pandas.Series(new_lab) if new_lab is not None
             else pandas.Series([None] * m, dtype=object)]
    return pandas.concat([p for p in parts if len(p)], ignore_index=True)


__all__ = ["nearest_training_rows", "require_pandas", "to_frame", "to_parquet"]
