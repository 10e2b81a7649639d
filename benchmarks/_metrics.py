"""Comparisons between two answers to the same question: k-NN graphs and distance matrices.

Every function takes NumPy arrays or torch tensors (any device; they are copied to host
NumPy) and returns a plain Python ``float``. Tests and benchmarks share them, so a number in
``docs/benchmarks.md`` means exactly what the tests check. This is support code, not part of
the ``pumap`` package: the benchmark scripts import it as ``_metrics`` (their folder is on
``sys.path``), and ``tests/conftest.py`` puts this folder on ``sys.path`` for the tests.

* `pairwise_max_abs_error` -- largest entrywise difference of two distance matrices.
* `knn_recall` -- fraction of the reference neighbours found (the "index match rate"),
  optionally counting ties at the reference's k-th distance as matches.
* `mean_distance_error` -- mean absolute difference of the sorted k-NN distances.
* `histogram_l1` -- L1 distance between the histograms of two sets of values.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["histogram_l1", "knn_recall", "mean_distance_error", "pairwise_max_abs_error"]


def _as_numpy(a: Any) -> np.ndarray:
    """Host NumPy view or copy of an array-like or a (possibly GPU, possibly grad) tensor."""
    if hasattr(a, "detach") and hasattr(a, "cpu"):  # torch.Tensor, without importing torch
        a = a.detach().cpu().numpy()
    return np.asarray(a)


def _same_shape(a: np.ndarray, b: np.ndarray, what: str) -> None:
    if a.shape != b.shape:
        raise ValueError(f"{what}: shapes differ, {a.shape} vs {b.shape}")


def pairwise_max_abs_error(got: Any, reference: Any) -> float:
    """Largest ``|got - reference|`` over all entries, computed in float64.

    Parameters
    ----------
    got, reference : array-like, same shape
        Typically a float32 distance matrix and its float64 reference.

    Returns
    -------
    float
        0.0 for identical inputs (and for empty ones); ``inf`` if either holds a non-finite
        value where the other does not hold the same one.
    """
    a = _as_numpy(got).astype(np.float64)
    b = _as_numpy(reference).astype(np.float64)
    _same_shape(a, b, "pairwise_max_abs_error")
    if a.size == 0:
        return 0.0
    same = a == b  # equal infinities count as no error
    with np.errstate(invalid="ignore"):  # inf - inf where only one side is infinite is fine
        diff = np.where(same, 0.0, np.abs(a - b))
    return float(np.nan_to_num(diff, nan=np.inf).max())


def knn_recall(
    indices: Any,
    reference_indices: Any,
    distances: Any = None,
    reference_distances: Any = None,
    *,
    tie_tol: float = 0.0,
) -> float:
    """Fraction of the reference's neighbours that ``indices`` also lists, row by row.

    With an exact reference this is the recall of an approximate graph; between two exact
    graphs it is their index match rate. Order within a row does not matter, and each row
    counts ``k`` entries (duplicated indices in a row count once).

    Ties: when ``distances`` and ``reference_distances`` are given, a neighbour missing from
    the reference row still counts as a match if its distance is at most that row's k-th
    reference distance plus ``tie_tol``: with several points at the boundary distance, any
    choice among them is right. The distances must be comparable (same metric, same points).

    Parameters
    ----------
    indices, reference_indices : int array-like, shape (n, k)
    distances, reference_distances : float array-like, shape (n, k), optional
        The distances matching each index array.
    tie_tol : float
        Absolute slack on the boundary distance, for float32 rounding.

    Returns
    -------
    float
        In ``[0, 1]``; 1.0 for an empty graph.
    """
    got = _as_numpy(indices).astype(np.int64, copy=False)
    ref = _as_numpy(reference_indices).astype(np.int64, copy=False)
    _same_shape(got, ref, "knn_recall")
    if got.ndim != 2:
        raise ValueError(f"knn_recall: expected (n, k) index arrays, got shape {got.shape}")
    n, k = got.shape
    if n == 0 or k == 0:
        return 1.0
    # Row-wise membership without Python loops: sort the reference rows, binary-search each
    # candidate inside its own row by offsetting every row into its own range.
    span = int(max(got.max(), ref.max())) + 1 - int(min(got.min(), ref.min()))
    offset = np.arange(n, dtype=np.int64)[:, None] * span - int(min(got.min(), ref.min()))
    ref_keys = np.sort((ref + offset).ravel())
    got_keys = got + offset
    pos = np.searchsorted(ref_keys, got_keys.ravel()).clip(max=ref_keys.size - 1)
    found = (ref_keys[pos] == got_keys.ravel()).reshape(n, k)
    # Duplicated indices inside a row must not count twice.
    order = np.argsort(got, axis=1, kind="stable")
    sorted_got = np.take_along_axis(got, order, axis=1)
    repeat = np.zeros_like(found)
    repeat[:, 1:] = sorted_got[:, 1:] == sorted_got[:, :-1]
    first = np.ones_like(found)
    np.put_along_axis(first, order, ~repeat, axis=1)
    match = found & first
    if distances is not None or reference_distances is not None:
        if distances is None or reference_distances is None:
            raise ValueError("knn_recall: give both distances and reference_distances, or neither")
        dist = _as_numpy(distances).astype(np.float64)
        ref_dist = _as_numpy(reference_distances).astype(np.float64)
        _same_shape(dist, got.astype(np.float64), "knn_recall distances")
        _same_shape(ref_dist, ref.astype(np.float64), "knn_recall reference_distances")
        boundary = ref_dist.max(axis=1, keepdims=True) + tie_tol
        match |= (dist <= boundary) & first
    return float(match.sum() / (n * k))


def mean_distance_error(distances: Any, reference_distances: Any) -> float:
    """Mean ``|d - d_ref|`` between two k-NN distance arrays, each row sorted first.

    Sorting makes the comparison blind to the order of tied neighbours: it compares the
    i-th nearest distance with the i-th nearest distance.

    Parameters
    ----------
    distances, reference_distances : float array-like, shape (n, k)

    Returns
    -------
    float
        0.0 for identical rows (and for empty inputs).
    """
    a = np.sort(_as_numpy(distances).astype(np.float64), axis=-1)
    b = np.sort(_as_numpy(reference_distances).astype(np.float64), axis=-1)
    _same_shape(a, b, "mean_distance_error")
    if a.size == 0:
        return 0.0
    return float(np.abs(a - b).mean())


def histogram_l1(
    values: Any,
    reference_values: Any,
    bins: int = 50,
    value_range: tuple[float, float] | None = None,
) -> float:
    """L1 distance between the normalised histograms of two sets of values.

    Both sets are binned on the same ``bins`` equal-width bins over ``value_range`` (by
    default the smallest to the largest finite value of the two together); each histogram is
    divided by its own count, so the sizes may differ. Non-finite values are ignored. With
    an explicit ``value_range``, the share of values outside it is compared as one more bin.

    Returns
    -------
    float
        In ``[0, 2]``: 0 for identical distributions, 2 for disjoint ones.
    """
    if isinstance(bins, bool) or not isinstance(bins, int) or bins < 1:
        raise ValueError(f"bins must be a positive integer, got {bins!r}")
    a = _as_numpy(values).astype(np.float64).ravel()
    b = _as_numpy(reference_values).astype(np.float64).ravel()
    a = a[np.isfinite(a)]
    b = b[np.isfinite(b)]
    if a.size == 0 or b.size == 0:
        raise ValueError("histogram_l1 needs at least one finite value on each side")
    if value_range is None:
        lo = float(min(a.min(), b.min()))
        hi = float(max(a.max(), b.max()))
        if hi <= lo:  # every value equal: one bin holds everything on both sides
            return 0.0
        value_range = (lo, hi)
    ha, _ = np.histogram(a, bins=bins, range=value_range)
    hb, _ = np.histogram(b, bins=bins, range=value_range)
    pa = ha / max(a.size, 1)
    pb = hb / max(b.size, 1)
    # Values outside an explicit range fall in no bin: count them as mass the other lacks.
    out_a = 1.0 - pa.sum()
    out_b = 1.0 - pb.sum()
    return float(np.abs(pa - pb).sum() + abs(out_a - out_b))
