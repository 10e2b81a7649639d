"""scipy.sparse input: checks, the scale-only standardisation, sparse batches and PCA.

A sparse ``X`` (CSR, CSC, COO, ...; converted once to float32 CSR) is never densified as a
whole: the k-NN search densifies a block of rows at a time (`pumap.knn.sparse`), the
standardisation only scales (centring would fill every zero), the encoder's first layer
multiplies sparse batches (`SparseRows`, `pumap.training.encoder.MLP`), and the PCA warm start
centres implicitly. Memory stays O(nnz + batch * n_features).
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import scipy.sparse
import torch

from .preprocess import Standardizer

_RELATIVE_STD_FLOOR = 0.5  # as pumap.data.preprocess: no divisor below half the largest std
_POWER_ITERATIONS = 4
_OVERSAMPLING = 10


def is_sparse(data: Any) -> bool:
    """Whether ``data`` is a scipy.sparse matrix or array."""
    return scipy.sparse.issparse(data)


def as_csr_float32(
    data: Any, name: str = "X", *, keep_zeros: bool = False
) -> scipy.sparse.csr_matrix:
    """A scipy.sparse input as float32 CSR with sorted, summed indices; checked like dense
    input (2-D, not empty, real numbers, finite, within float32's range).

    Explicitly stored zeros are dropped unless ``keep_zeros`` (a sparse distance matrix of
    ``metric="precomputed"``, where a stored 0 is a known distance, not a missing one).

    Raises
    ------
    ValueError
        Naming ``name`` and what is wrong.
    """
    if data.ndim != 2 or 0 in data.shape:
        raise ValueError(
            f"{name} must be 2-D (n_samples, n_features) with at least one row and column, "
            f"got shape {tuple(data.shape)}"
        )
    if data.dtype.kind not in "fiu":
        raise ValueError(
            f"{name} must hold real numbers, got dtype {data.dtype}; convert it with "
            f"{name}.astype(np.float32)"
        )
    with np.errstate(over="ignore"):
        csr = scipy.sparse.csr_matrix(data, dtype=np.float32)
    if csr is data:
        csr = csr.copy()  # pumap sorts the indices in place: never touch the caller's matrix
    csr.sum_duplicates()
    if not keep_zeros:
        csr.eliminate_zeros()  # one canonical form: `check_sparse_not_constant` compares arrays
    csr.sort_indices()
    if not np.isfinite(csr.data).all():
        bad = int(np.flatnonzero(~np.isfinite(csr.data))[0])
        row = int(np.searchsorted(csr.indptr, bad, side="right") - 1)
        raise ValueError(
            f"{name} contains NaN or infinity, or a value beyond float32's range (first in "
            f"row {row}, column {int(csr.indices[bad])}, 0-based); remove or rescale it"
        )
    return csr


def check_sparse_not_constant(csr: scipy.sparse.csr_matrix, name: str = "X") -> None:
    """Refuse a canonical CSR matrix (`as_csr_float32`) whose rows are all identical."""
    counts = np.diff(csr.indptr)
    width = int(counts[0])
    if (counts == width).all():
        n = csr.shape[0]
        indices, data = csr.indices.reshape(n, width), csr.data.reshape(n, width)
        if (indices == indices[:1]).all() and (data == data[:1]).all():
            raise ValueError(
                f"all {n} rows of {name} are identical: there is nothing to embed "
                "(check the rows and columns you selected)"
            )


def scale_only_standardizer(csr: scipy.sparse.csr_matrix) -> Standardizer:
    """`pumap.data.preprocess.Standardizer` for sparse data: mean 0 (no centring: it would fill
    every zero), each column divided by ``max(std, 0.5 * largest std)`` as for dense data."""
    n = csr.shape[0]
    mean = np.asarray(csr.sum(axis=0), dtype=np.float64).ravel() / n
    squares = np.asarray(csr.multiply(csr).sum(axis=0), dtype=np.float64).ravel() / n
    std = np.sqrt(np.maximum(squares - mean * mean, 0.0))
    floor = _RELATIVE_STD_FLOOR * float(std.max())
    std = np.maximum(std, floor) if floor > 0 else np.ones_like(std)
    return Standardizer(torch.zeros(csr.shape[1]), torch.from_numpy(std.astype(np.float32)))


class SparseRows:
    """A CSR matrix on a torch device whose row selections are sparse CSR tensors.

    Stands in for the dense input tensor of training and of the warm start: it has
    ``shape``, ``device`` and ``dtype``, `index_select` along rows, and row slices; pumap's
    `pumap.training.encoder.MLP` multiplies what it yields (`sparse_tensor`) by its first layer.
    """

    def __init__(
        self, crow: torch.Tensor, col: torch.Tensor, val: torch.Tensor, shape: tuple[int, int]
    ) -> None:
        self.crow, self.col, self.val = crow, col, val
        self.shape = torch.Size(shape)

    @classmethod
    def from_scipy(
        cls, csr: scipy.sparse.csr_matrix, standardizer: Standardizer | None, device: torch.device
    ) -> SparseRows:
        """The rows of ``csr`` divided column by column by ``standardizer.std`` (its mean
        must be 0), on ``device``."""
        val = csr.data.astype(np.float32, copy=True)
        if standardizer is not None:
            if bool(standardizer.mean.any()):
                raise ValueError("sparse rows can only be scaled, not centred")
            val /= standardizer.std.numpy()[csr.indices]
        return cls(
            torch.from_numpy(csr.indptr.astype(np.int64)).to(device),
            torch.from_numpy(csr.indices.astype(np.int64)).to(device),
            torch.from_numpy(val).to(device),
            csr.shape,
        )

    @property
    def device(self) -> torch.device:
        return self.val.device

    @property
    def dtype(self) -> torch.dtype:
        return self.val.dtype

    def index_select(self, dim: int, index: torch.Tensor) -> torch.Tensor:
        """Rows ``index`` (``dim`` must be 0) as a ``(len(index), d)`` sparse CSR tensor."""
        if dim != 0:
            raise ValueError("SparseRows selects rows only (dim=0)")
        starts = self.crow[index]
        counts = self.crow[index + 1] - starts
        crow = torch.zeros(index.shape[0] + 1, dtype=torch.int64, device=self.device)
        torch.cumsum(counts, dim=0, out=crow[1:])
        total = int(crow[-1])
        shift = torch.repeat_interleave(starts - crow[:-1], counts, output_size=total)
        pos = torch.arange(total, device=self.device) + shift
        return _csr(crow, self.col[pos], self.val[pos], (int(index.shape[0]), self.shape[1]))

    def __getitem__(self, rows: slice) -> SparseRows:
        start, stop, _ = rows.indices(self.shape[0])
        crow = self.crow[start : stop + 1]
        lo, hi = int(crow[0]), int(crow[-1])
        shape = (stop - start, self.shape[1])
        return SparseRows(crow - lo, self.col[lo:hi], self.val[lo:hi], shape)

    def to(self, device: torch.device | str, non_blocking: bool = False) -> SparseRows:
        return SparseRows(
            self.crow.to(device, non_blocking=non_blocking),
            self.col.to(device, non_blocking=non_blocking),
            self.val.to(device, non_blocking=non_blocking),
            tuple(self.shape),
        )

    def sparse_tensor(self) -> torch.Tensor:
        """All rows as one sparse CSR tensor."""
        return _csr(self.crow, self.col, self.val, tuple(self.shape))


def _csr(crow: torch.Tensor, col: torch.Tensor, val: torch.Tensor, shape: tuple) -> torch.Tensor:
    with warnings.catch_warnings():  # "sparse CSR support is in beta"
        warnings.simplefilter("ignore", UserWarning)
        return torch.sparse_csr_tensor(crow, col, val, size=shape, check_invariants=False)


def sparse_pca_scores(
    csr: scipy.sparse.csr_matrix, scale: np.ndarray, n_components: int, seed: int
) -> torch.Tensor:
    """Scores of ``csr / scale`` on its leading principal components (`sparse_principal_axes`);
    columns beyond the rank are zero."""
    x = csr @ scipy.sparse.diags(1.0 / scale.astype(np.float64))
    mean, axes = sparse_principal_axes(x, n_components, seed)
    out = np.zeros((x.shape[0], n_components))
    out[:, : axes.shape[0]] = x @ axes.T - (mean @ axes.T)[None, :]
    return torch.from_numpy(out.astype(np.float32))


def sparse_principal_axes(
    x: scipy.sparse.spmatrix, n_axes: int, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Column means ``(d,)`` and leading principal axes ``(c, d)`` of sparse ``x``, centred
    implicitly (``(X - 1 m) P = X P - 1 (m P)``): the randomised range finder of `pumap.data.pca`,
    in float64 with SciPy, never densifying ``x``; ``c = min(n_axes, n, d)``."""
    x = scipy.sparse.csr_matrix(x, dtype=np.float64)
    n, d = x.shape
    mean = np.asarray(x.mean(axis=0)).ravel()
    c = min(n_axes, n, d)
    width = min(c + _OVERSAMPLING, n, d)
    probe = np.random.default_rng(seed).standard_normal((d, width))

    def times(p: np.ndarray) -> np.ndarray:  # (X - 1 m) p
        return x @ p - (mean @ p)[None, :]

    def times_t(q: np.ndarray) -> np.ndarray:  # (X - 1 m)^T q
        return x.T @ q - np.outer(mean, q.sum(axis=0))

    basis = np.linalg.qr(times(probe))[0]
    for _ in range(_POWER_ITERATIONS):
        basis = np.linalg.qr(times(times_t(basis)))[0]
    _, _, vh = np.linalg.svd(times_t(basis).T, full_matrices=False)
    return mean, vh[:c]


def unit_rows(csr: scipy.sparse.csr_matrix) -> scipy.sparse.csr_matrix:
    """Rows scaled to unit length (zero rows stay zero), still sparse."""
    norms = np.sqrt(np.asarray(csr.multiply(csr).sum(axis=1), dtype=np.float64).ravel())
    return scipy.sparse.csr_matrix(scipy.sparse.diags(1.0 / np.maximum(norms, 1e-12)) @ csr)


def project_rows(
    csr: scipy.sparse.csr_matrix, metric: str, mean: torch.Tensor, axes: torch.Tensor
) -> torch.Tensor:
    """``(rows - mean) @ axes.T`` of sparse rows (unit rows first for cosine), float32, CPU:
    the coordinates of a refine sketch (`pumap.model.refine.TrainingIndex`)."""
    rows = unit_rows(csr) if metric == "cosine" else csr
    a = axes.detach().cpu().numpy().astype(np.float64)
    m = mean.detach().cpu().numpy().astype(np.float64)
    return torch.from_numpy((rows @ a.T - (m @ a.T)[None, :]).astype(np.float32))


def sparse_sketch(
    csr: scipy.sparse.csr_matrix, metric: str, dims: int, seed: int, fit_rows: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(points, mean, axes)`` of a refine sketch of sparse rows (euclidean or cosine), the
    axes fitted on at most ``fit_rows`` rows drawn with ``seed``."""
    rows = unit_rows(csr) if metric == "cosine" else csr
    sample = rows
    if rows.shape[0] > fit_rows:
        pick = np.sort(np.random.default_rng(seed).choice(rows.shape[0], fit_rows, replace=False))
        sample = rows[pick]
    mean, axes = sparse_principal_axes(sample, dims, seed)
    mean_t = torch.from_numpy(mean.astype(np.float32))
    axes_t = torch.from_numpy(axes.astype(np.float32))
    return project_rows(csr, metric, mean_t, axes_t), mean_t, axes_t
