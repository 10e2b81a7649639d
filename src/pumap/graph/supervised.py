"""Supervised and semi-supervised fits: intersecting the data's fuzzy graph with one of labels.

The maths is umap-learn's (McInnes et al., "UMAP", section on supervised dimension
reduction), rewritten as pure vectorised functions on symmetric SciPy CSR matrices:

* **categorical** labels: an edge between two labelled points of different classes is
  multiplied by ``exp(-far_dist)``, with ``far_dist = 2.5 / (1 - target_weight)`` (``1e12``
  for a weight of 1); an edge touching an unlabelled point (label ``-1``) by
  ``exp(-unknown_dist)``, ``unknown_dist = 1``. Then the local connectivity is restored
  (`reset_local_connectivity`).
* **numeric** targets: the fuzzy simplicial set of ``y`` itself (``target_n_neighbors``
  neighbours under ``target_metric``) is intersected with the data's graph by the weighted
  fuzzy intersection `intersect`, and the local connectivity restored.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse
import torch

from ..config import TARGET_METRICS, UmapConfig
from ..knn import build_knn
from .fuzzy import FuzzyGraph, membership_strengths, smooth_knn_dist

log = logging.getLogger(__name__)

__all__ = [
    "TARGET_METRICS",
    "Target",
    "categorical_intersection",
    "check_target",
    "far_distance",
    "intersect",
    "labels_as_target",
    "reset_local_connectivity",
    "scale_by_labels",
    "supervise",
    "target_graph",
    "to_fuzzy_graph",
]

#: Distance of any point to one whose label is unknown (umap-learn's ``unknown_dist``).
UNKNOWN_DIST = 1.0
#: ``far_dist`` when ``target_weight`` is 1 (labels alone decide): the edge vanishes.
FAR_DIST_MAX = 1.0e12
_LABELLED_MIN = 1.0e-8  # floor of an absent entry's membership in `intersect`
_RIGHT_MIN_CAP = 1.0e-4


@dataclass(frozen=True)
class Target:
    """A checked ``y``: categorical codes or numeric values, one per training row.

    Attributes
    ----------
    codes : numpy.ndarray or None
        ``(n,)`` int64 class codes for categorical labels, ``-1`` where unknown.
    values : numpy.ndarray or None
        ``(n, d)`` float32 numeric targets (``target_metric`` other than categorical).
    """

    codes: np.ndarray | None
    values: np.ndarray | None

    def fingerprint(self) -> dict[str, Any]:
        """Kind, shape and BLAKE2b hash, so a checkpoint can refuse a resume with other y."""
        array = self.codes if self.codes is not None else self.values
        digest = hashlib.blake2b(np.ascontiguousarray(array).tobytes(), digest_size=16)
        kind = "categorical" if self.codes is not None else "numeric"
        return {"kind": kind, "shape": list(array.shape), "blake2b": digest.hexdigest()}


def check_target(y: Any, n_samples: int, target_metric: str) -> Target:
    """Validate ``y`` against the data's ``n_samples`` rows; return it as a `Target`.

    Categorical labels may be integers (``-1``: unlabelled), strings or booleans (all
    labelled); numeric targets (``target_metric`` not ``"categorical"``) are real, ``(n,)``
    or ``(n, d)``. Raises `ValueError` naming ``y`` for a length that is not the data's, NaN
    or infinity, missing labels (None) or values of no usable type.
    """
    if isinstance(y, torch.Tensor):
        y = y.detach().cpu().numpy()
    array = np.asarray(y)
    if array.ndim == 0:
        raise ValueError(f"y must be one label per row of X, got the scalar {y!r}")
    if array.shape[0] != n_samples:
        raise ValueError(
            f"y has {array.shape[0]} labels but X has {n_samples} rows; pass one per row"
        )
    if target_metric == "categorical":
        if array.ndim == 2 and array.shape[1] == 1:
            array = array[:, 0]
        if array.ndim != 1:
            raise ValueError(
                f"y must be 1-D for target_metric='categorical', got shape {array.shape}; "
                "for a multi-dimensional numeric target pass target_metric='l2'"
            )
        return Target(_label_codes(array), None)
    if array.dtype.kind not in "biuf":
        raise ValueError(
            f"y must be numeric for target_metric={target_metric!r}, got dtype {array.dtype}; "
            "for class labels use target_metric='categorical'"
        )
    values = array.astype(np.float64).reshape(n_samples, -1)
    _check_finite(values)
    return Target(None, values.astype(np.float32))


def _check_finite(values: np.ndarray) -> None:
    bad = ~np.isfinite(values)
    if bad.any():
        row = int(np.argwhere(bad)[0][0])
        raise ValueError(
            f"y has NaN or infinity (first at row {row}); mark unlabelled points with -1 "
            "(integer labels) instead"
        )


def _label_codes(labels: np.ndarray) -> np.ndarray:
    """int64 codes of 1-D labels, equal labels equal codes, ``-1`` kept for numeric -1."""
    kind = labels.dtype.kind
    if kind in "biu":
        return labels.astype(np.int64)
    if kind == "f":
        _check_finite(labels)
        _, codes = np.unique(labels, return_inverse=True)
        return np.where(labels == -1, -1, codes).astype(np.int64)
    if kind in "USO":
        missing = [
            i for i, v in enumerate(labels) if v is None or (isinstance(v, float) and v != v)
        ]
        if missing:
            raise ValueError(
                f"y has missing labels (None or NaN, first at row {missing[0]}); mark "
                "unlabelled points with -1, with integer labels"
            )
        _, codes = np.unique(labels.astype(str), return_inverse=True)
        return codes.astype(np.int64)
    raise ValueError(f"y must hold class labels (integers or strings), got dtype {labels.dtype}")


def labels_as_target(labels: np.ndarray, target_metric: str) -> np.ndarray:
    """Labels read from a file as ``fit``'s y: text ``"-1"`` marks an unlabelled point, and a
    numeric ``target_metric`` needs numbers (the command line's ``--supervised``)."""
    labels = np.asarray(labels)
    if target_metric != "categorical":
        try:
            return labels.astype(np.float64)
        except ValueError:
            raise ValueError(
                f"--target-metric {target_metric} needs numeric labels; for classes use "
                "--target-metric categorical"
            ) from None
    if labels.dtype.kind not in "USO":
        return labels
    unknown = np.char.strip(labels.astype(str)) == "-1"
    _, codes = np.unique(labels[~unknown].astype(str), return_inverse=True)
    out = np.full(len(labels), -1, dtype=np.int64)
    out[~unknown] = codes
    return out


def far_distance(target_weight: float) -> float:
    """umap-learn's distance between different labels: ``2.5 / (1 - w)``, 1e12 at ``w = 1``."""
    return 2.5 / (1.0 - target_weight) if target_weight < 1.0 else FAR_DIST_MAX


def scale_by_labels(
    graph: scipy.sparse.spmatrix,
    codes: np.ndarray,
    far_dist: float,
    unknown_dist: float = UNKNOWN_DIST,
) -> scipy.sparse.csr_matrix:
    """Multiply each edge by ``exp(-unknown_dist)`` if an end is unlabelled (``-1``), else by
    ``exp(-far_dist)`` if its ends' labels differ; zero entries are dropped."""
    coo = scipy.sparse.coo_matrix(graph, dtype=np.float64, copy=True)
    a, b = codes[coo.row], codes[coo.col]
    unknown = (a == -1) | (b == -1)
    factor = np.where(unknown, np.exp(-unknown_dist), np.where(a != b, np.exp(-far_dist), 1.0))
    coo.data *= factor
    out = coo.tocsr()
    out.eliminate_zeros()
    return out


def reset_local_connectivity(graph: scipy.sparse.spmatrix) -> scipy.sparse.csr_matrix:
    """Scale each row so its strongest edge is 1, then take the fuzzy union with the
    transpose (``S + S^T - S * S^T``): every point is again fully connected to one other."""
    csr = scipy.sparse.csr_matrix(graph, dtype=np.float64, copy=True)
    csr.sum_duplicates()
    row_max = np.zeros(csr.shape[0])
    counts = np.diff(csr.indptr)
    nonempty = counts > 0
    row_max[nonempty] = np.maximum.reduceat(np.abs(csr.data), csr.indptr[:-1][nonempty])
    scale = np.where(row_max > 0, row_max, 1.0)
    csr.data /= np.repeat(scale, counts)
    transpose = csr.T.tocsr()
    out = (csr + transpose - csr.multiply(transpose)).tocsr()
    out.eliminate_zeros()
    return out


def _lookup(
    keys: np.ndarray, values: np.ndarray, wanted: np.ndarray, fill: float
) -> tuple[np.ndarray, np.ndarray]:
    """Values at sorted ``keys`` for each of ``wanted`` (``fill`` where absent), and a hit mask."""
    if keys.size == 0:
        return np.full(wanted.shape, fill), np.zeros(wanted.shape, dtype=bool)
    pos = np.searchsorted(keys, wanted).clip(max=keys.size - 1)
    hit = keys[pos] == wanted
    return np.where(hit, values[pos], fill), hit


def _sorted_entries(matrix: scipy.sparse.spmatrix) -> tuple[np.ndarray, np.ndarray]:
    coo = scipy.sparse.coo_matrix(matrix, dtype=np.float64)
    coo.sum_duplicates()
    keys = coo.row.astype(np.int64) * matrix.shape[1] + coo.col
    order = np.argsort(keys, kind="stable")
    return keys[order], coo.data[order]


def intersect(
    left: scipy.sparse.spmatrix, right: scipy.sparse.spmatrix, weight: float
) -> scipy.sparse.csr_matrix:
    """Weighted fuzzy intersection of two fuzzy graphs on the same points.

    On every entry of either graph, with an absent entry's membership floored (``min / 2``
    of its graph, at least 1e-8; at most 1e-4 on the right): ``l * r^(w / (1 - w))`` for
    ``weight < 0.5``, else ``l^((1 - w) / w) * r``. ``weight`` 0 keeps the left graph's
    values, 1 the right's, 0.5 multiplies them.
    """
    lkeys, lvals = _sorted_entries(left)
    rkeys, rvals = _sorted_entries(right)
    keys = np.union1d(lkeys, rkeys)
    left_min = max(lvals.min() / 2.0, _LABELLED_MIN) if lvals.size else _LABELLED_MIN
    right_min = max(rvals.min() / 2.0, _LABELLED_MIN) if rvals.size else _LABELLED_MIN
    right_min = min(right_min, _RIGHT_MIN_CAP)
    lv, lhit = _lookup(lkeys, lvals, keys, left_min)
    rv, rhit = _lookup(rkeys, rvals, keys, right_min)
    if weight < 0.5:
        mixed = lv * rv ** (weight / (1.0 - weight))
    else:
        mixed = lv ** ((1.0 - weight) / weight) * rv
    plain_sum = np.where(lhit, lv, 0.0) + np.where(rhit, rv, 0.0)
    data = np.where((lv > left_min) | (rv > right_min), mixed, plain_sum)
    n_cols = left.shape[1]
    return scipy.sparse.csr_matrix((data, (keys // n_cols, keys % n_cols)), shape=left.shape)


def categorical_intersection(
    graph: scipy.sparse.spmatrix, codes: np.ndarray, target_weight: float
) -> scipy.sparse.csr_matrix:
    """The data's graph intersected with the labels': scaled by label, connectivity reset."""
    return reset_local_connectivity(scale_by_labels(graph, codes, far_distance(target_weight)))


def target_graph(
    values: np.ndarray, n_neighbors: int, metric: str, device: torch.device
) -> scipy.sparse.csr_matrix:
    """The numeric targets' fuzzy simplicial set, directed as umap-learn's fit builds it
    (``apply_set_operations=False``): row ``i`` holds ``i``'s memberships to its nearest
    targets, without the fuzzy union. ``n_neighbors`` counts the point itself.

    umap-learn searches the targets exactly below 4,096 points and by NN-Descent above;
    pumap searches exactly whatever the size.
    """
    knn_metric = "euclidean" if metric in ("l2", "euclidean") else metric
    y = torch.from_numpy(np.ascontiguousarray(values, dtype=np.float32))
    n = y.shape[0]
    k = min(n_neighbors, n) - 1
    knn = build_knn(y, k, knn_metric, "exact", seed=0, device=device)
    sigma, rho = smooth_knn_dist(knn.distances)
    weights = membership_strengths(knn.distances, sigma, rho).cpu().numpy()
    rows = np.repeat(np.arange(n), k)
    out = scipy.sparse.csr_matrix(
        (weights.ravel(), (rows, knn.indices.cpu().numpy().ravel())), shape=(n, n)
    )
    out.eliminate_zeros()
    return out


def to_fuzzy_graph(matrix: scipy.sparse.spmatrix) -> FuzzyGraph:
    """The upper triangle of a symmetric fuzzy graph as a `FuzzyGraph` (edges in key order)."""
    keys, values = _sorted_entries(scipy.sparse.triu(matrix, k=1))
    n = matrix.shape[0]
    keep = values > 0
    keys, values = keys[keep], values[keep]
    head = torch.from_numpy(keys // n)
    tail = torch.from_numpy(keys % n)
    return FuzzyGraph(head, tail, torch.from_numpy(values.astype(np.float32)), n)


def supervise(
    graph: FuzzyGraph, target: Target, config: UmapConfig, device: torch.device
) -> FuzzyGraph:
    """The fuzzy graph of a supervised fit, on ``graph``'s device.

    Parameters
    ----------
    graph : FuzzyGraph
        The data's fuzzy graph.
    target : Target
        From `check_target`.
    config : UmapConfig
        Its ``target_metric``, ``target_weight`` and ``target_n_neighbors`` (-1:
        ``n_neighbors``) are used.
    device : torch.device
        Where the numeric target's k-NN search runs.
    """
    matrix = graph.to_scipy()
    if target.codes is not None:
        unknown = int((target.codes == -1).sum())
        if unknown:
            log.info("semi-supervised fit: %d of %d points unlabelled", unknown, graph.n_samples)
        result = categorical_intersection(matrix, target.codes, config.target_weight)
    else:
        assert target.values is not None
        k = config.target_n_neighbors
        k = k if k != -1 else config.n_neighbors
        other = target_graph(target.values, k, config.target_metric, device)
        result = reset_local_connectivity(intersect(matrix, other, config.target_weight))
    return to_fuzzy_graph(result).to(graph.head.device)
