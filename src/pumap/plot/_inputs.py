"""Checks of what the plotting functions take: embeddings and per-point labels.

Private helper of pumap.plot, shared by the static and the interactive plots and the frames.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def embedding_of(obj: Any, argument: str) -> np.ndarray:
    """The ``(n, 2)`` float64 points of a FittedUmap, tensor or array; errors name `argument`."""
    from ..model.fitted import FittedUmap

    if isinstance(getattr(obj, "fitted_", None), FittedUmap):  # a fitted ParametricUMAP
        obj = obj.fitted_
    if isinstance(obj, FittedUmap):
        if obj.embedding is None:
            raise ValueError(
                f"{argument}: this FittedUmap has no embedding (it was loaded from a file saved "
                "without include_embedding=True); pass fitted.transform(X) instead"
            )
        obj = obj.embedding
    if hasattr(obj, "detach"):  # a torch tensor, on any device
        obj = obj.detach().cpu().numpy()
    xy = np.asarray(obj, dtype=np.float64)
    if xy.ndim != 2 or xy.shape[1] != 2:
        raise ValueError(f"{argument} must be a 2-D embedding of shape (n, 2), got {xy.shape}")
    if xy.shape[0] == 0:
        raise ValueError(f"{argument} has no points")
    if not np.isfinite(xy).all():
        raise ValueError(f"{argument} contains NaN or infinite values")
    return xy


def labels_of(labels: Any, n: int, argument: str, points_argument: str) -> np.ndarray | None:
    """`labels` as a 1-D array of ``n`` entries (or None); errors name `argument`."""
    if labels is None:
        return None
    if hasattr(labels, "detach"):
        labels = labels.detach().cpu().numpy()
    array = np.asarray(labels)
    if array.ndim != 1 or array.shape[0] != n:
        raise ValueError(
            f"{argument} must be 1-D with one entry per point of {points_argument} ({n}), "
            f"got shape {array.shape}"
        )
    return array


def new_embedding_of(model: Any, new: Any) -> np.ndarray:
    """The ``(m, 2)`` embedding of `new`: ``model.transform(new)`` when `new` is rows of the
    model's features, else `new` itself (checked as `embedding_of`); errors name ``new``."""
    fitted = getattr(model, "fitted_", model)
    n_features = getattr(fitted, "n_features", None)
    if hasattr(fitted, "transform") and n_features is not None:
        shape = getattr(new, "shape", None) or np.shape(new)
        if len(shape) == 2 and (shape[1] == n_features or shape[1] != 2):
            if shape[1] != n_features:
                raise ValueError(
                    f"new must have the model's {n_features} features (or be a 2-D "
                    f"embedding), got shape {tuple(shape)}"
                )
            new = fitted.transform(new)
    return embedding_of(new, "new")


def extra_labels_of(
    extra_labels: Any,
    extra: np.ndarray | None,
    labels: np.ndarray | None,
    argument: str,
    points_argument: str,
    others: str,
) -> np.ndarray | None:
    """The checked labels of extra points drawn over the map (held-out or new rows), or None.

    ``argument`` names the labels, ``points_argument`` the extra points; they need the main
    points' ``labels`` too (``others`` names those points in the message).
    """
    if extra_labels is None:
        return None
    if extra is None:
        raise ValueError(f"{argument} were given without {points_argument}")
    if labels is None:
        raise ValueError(f"{argument} need labels for the {others} points too")
    return labels_of(extra_labels, extra.shape[0], argument, points_argument)

