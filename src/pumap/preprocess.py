"""Input checks and the z-score `Standardizer`: the edge where user data enters pumap."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

# A feature whose standard deviation is at most this fraction of the largest one is treated
# as constant: it is centred but not scaled, so that near-constant pixels do not blow up.
_RELATIVE_STD_FLOOR = 1e-3


def as_float32_matrix(data: Any, name: str = "X") -> torch.Tensor:
    """Check a 2-D numeric input and return it as a float32 tensor (on the input's device).

    Accepts NumPy arrays, torch tensors, pandas DataFrames of numbers and nested lists.
    Raises `ValueError` naming ``name`` for anything else: sparse matrices, object, string or
    complex values, fewer or more than two dimensions, no rows or columns, NaN or infinity.
    """
    if isinstance(data, torch.Tensor):
        if data.is_sparse or data.layout != torch.strided:
            raise ValueError(f"{name} is a sparse tensor; pass a dense one ({name}.to_dense())")
        if data.is_complex():
            raise ValueError(f"{name} has complex values; pass real numbers")
        if data.dtype == torch.bool or not (data.is_floating_point() or _is_int_tensor(data)):
            raise ValueError(f"{name} must hold real numbers, got dtype {data.dtype}")
        tensor = data.detach().to(torch.float32)
    else:
        tensor = torch.from_numpy(_numpy_float32(data, name))
    if tensor.ndim != 2:
        raise ValueError(
            f"{name} must be 2-D (n_samples, n_features), got {tensor.ndim}-D "
            f"with shape {tuple(tensor.shape)}"
            + ("; use X.reshape(-1, 1) for one feature" if tensor.ndim == 1 else "")
        )
    if tensor.shape[0] == 0 or tensor.shape[1] == 0:
        raise ValueError(f"{name} is empty: shape {tuple(tensor.shape)}")
    if not bool(torch.isfinite(tensor).all()):
        bad = (~torch.isfinite(tensor)).nonzero()[0].tolist()
        raise ValueError(
            f"{name} contains NaN or infinity (first at row {bad[0]}, column {bad[1]}); "
            "remove or impute those values"
        )
    return tensor.contiguous()


def _is_int_tensor(t: torch.Tensor) -> bool:
    return t.dtype in (torch.int8, torch.int16, torch.int32, torch.int64, torch.uint8)


def _numpy_float32(data: Any, name: str) -> np.ndarray:
    if _is_scipy_sparse(data):
        raise ValueError(
            f"{name} is a scipy sparse matrix; pumap needs dense input: pass {name}.toarray() "
            "(or reduce it first, e.g. with TruncatedSVD)"
        )
    if _is_pandas_frame(data):
        non_numeric = [str(c) for c, t in data.dtypes.items() if not _numeric_dtype(t)]
        if non_numeric:
            raise ValueError(
                f"{name} has non-numeric column(s): {', '.join(non_numeric[:5])}; "
                "drop or encode them first"
            )
        data = data.to_numpy()
    array = np.asarray(data)
    if array.dtype.kind == "c":
        raise ValueError(f"{name} has complex values; pass real numbers")
    if array.dtype.kind not in "fiub" or array.dtype.kind == "b":
        raise ValueError(
            f"{name} must hold real numbers, got dtype {array.dtype}"
            + (" (strings or mixed objects)" if array.dtype.kind in "OUS" else "")
        )
    return np.ascontiguousarray(array, dtype=np.float32)


def _numeric_dtype(dtype: Any) -> bool:
    kind = getattr(dtype, "kind", "O")
    return kind in "fiu"


def _is_scipy_sparse(data: Any) -> bool:
    return type(data).__module__.startswith("scipy.sparse")


def _is_pandas_frame(data: Any) -> bool:
    return type(data).__name__ in ("DataFrame", "Series") and type(data).__module__.startswith(
        "pandas"
    )


def check_enough_points(n_samples: int, n_neighbors: int) -> None:
    """A k-NN graph of ``n_neighbors`` other points needs at least ``n_neighbors + 1`` points."""
    if n_samples < n_neighbors + 1:
        raise ValueError(
            f"X has {n_samples} samples but n_neighbors={n_neighbors} needs at least "
            f"{n_neighbors + 1}; pass n_neighbors <= {max(n_samples - 1, 1)} or more data"
        )


@dataclass(frozen=True)
class Standardizer:
    """Per-feature z-score: ``(x - mean) / std``, kept to apply the same shift to new data.

    Features with (near) zero variance get ``std = 1``: they are centred, not amplified.
    """

    mean: torch.Tensor
    std: torch.Tensor

    @classmethod
    def fit(cls, x: torch.Tensor) -> Standardizer:
        x64 = x.to(torch.float64)
        mean = x64.mean(dim=0)
        std = x64.std(dim=0, unbiased=False)
        floor = _RELATIVE_STD_FLOOR * float(std.max()) if std.numel() else 0.0
        std = torch.where(std > floor, std, torch.ones_like(std))
        return cls(mean.to(torch.float32), std.to(torch.float32))

    @classmethod
    def identity(cls, n_features: int) -> Standardizer:
        return cls(torch.zeros(n_features), torch.ones(n_features))

    @property
    def n_features(self) -> int:
        return int(self.mean.shape[0])

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        mean = self.mean.to(x.device)
        std = self.std.to(x.device)
        return (x - mean) / std
