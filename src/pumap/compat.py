"""umap-learn's parameter names in pumap: each one works with its meaning or is refused by name.

`UMAP_LEARN_PARAMETERS` is the one table (umap-learn 0.5's ``umap.UMAP.__init__``): for each
name, how pumap takes it. `translate` applies it to keyword options for `pumap.UmapConfig`
and `pumap.Umap` (umap-learn-only names become pumap's), and `refuse_unknown` for
`pumap.ParametricUMAP`'s extra keywords. docs/from-umap-learn.md shows the table.
"""

from __future__ import annotations

import numbers
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = [
    "UMAP_LEARN_PARAMETERS", "UmapLearnName", "estimator_keywords", "seed_from", "translate"
]


@dataclass(frozen=True)
class UmapLearnName:
    """How pumap takes one of umap-learn's parameters.

    Attributes
    ----------
    kind : {"same", "renamed", "default-only", "argument"}
        ``"same"``: a `UmapConfig` option of that name and meaning. ``"renamed"``: pumap's
        option ``pumap_name`` takes it, through ``convert``. ``"default-only"``: pumap has no
        such feature; umap-learn's default (the feature off) is accepted and changes
        nothing, any other value is refused with ``hint``. ``"argument"``: a keyword of
        `pumap.Umap` and `pumap.ParametricUMAP` with umap-learn's meaning, not an option;
        `UmapConfig` takes umap-learn's default as a no-op and refuses anything else.
    pumap_name : str or None
        The `UmapConfig` field that carries it.
    hint : str
        What to do instead, or how pumap's meaning differs.
    default : object
        umap-learn's default (``"default-only"`` and ``"renamed"`` names): a no-op where
        pumap's default does the same.
    """

    kind: str
    pumap_name: str | None = None
    hint: str = ""
    default: Any = None
    convert: Callable[[Any], Any] | None = None


def seed_from(random_state: Any) -> int | None:
    """An int seed (or None) from scikit-learn's ``random_state`` conventions: an int is the
    seed, a ``numpy.random.RandomState`` or ``Generator`` draws one (advancing it)."""
    if random_state is None:
        return None
    if isinstance(random_state, np.random.RandomState):
        return int(random_state.randint(0, 2**31 - 1))
    if isinstance(random_state, np.random.Generator):
        return int(random_state.integers(0, 2**31 - 1))
    if isinstance(random_state, bool) or not isinstance(random_state, numbers.Integral):
        raise ValueError(
            "random_state must be None, a non-negative int, a numpy.random.RandomState or a "
            f"numpy.random.Generator, got {random_state!r}"
        )
    if random_state < 0:
        raise ValueError(f"random_state must be >= 0, got {random_state}")
    return int(random_state)


def _threads(value: Any) -> int | None:
    """joblib's convention: -1 every core (torch's default), -2 all but one, ..."""
    if value is None or value == -1:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value == 0:
        raise ValueError(f"n_jobs must be a non-zero int or None (pumap's threads), got {value!r}")
    return value if value > 0 else max(1, (os.cpu_count() or 1) + 1 + value)


def _pca_init(value: Any) -> bool:
    if isinstance(value, str) and value in ("spectral", "tswspectral", "pca"):
        return True  # pumap's warm start: the encoder is first fitted to the PCA projection
    if isinstance(value, str) and value == "random":
        return False
    raise ValueError(
        f"init={_describe(value)} is not supported: a parametric encoder starts from its weights, "
        "not from given coordinates; use pca_init=True (init='pca' or 'spectral') or "
        "pca_init=False (init='random')"
    )


def _describe(value: Any) -> str:
    """``repr`` for messages, arrays as their shape (not their values)."""
    if hasattr(value, "shape") and hasattr(value, "dtype"):
        return f"<array of shape {tuple(value.shape)}>"
    if isinstance(value, tuple) and any(hasattr(v, "shape") for v in value):
        return "(" + ", ".join(_describe(v) for v in value) + ")"
    return repr(value)


_NO_DENSMAP = "densMAP is not implemented in pumap; leave it out"
_S, _R, _D, _A = "same", "renamed", "default-only", "argument"

#: Every parameter of umap-learn's ``umap.UMAP.__init__``, and how pumap takes it.
UMAP_LEARN_PARAMETERS: dict[str, UmapLearnName] = {
    "n_neighbors": UmapLearnName(_S, "n_neighbors", "the point itself counted, as umap-learn"),
    "n_components": UmapLearnName(_S, "n_components"),
    "metric": UmapLearnName(
        _S, "metric", "7 metrics computed exactly, any other pynndescent name with NN-Descent, "
        "'precomputed'; no callables"
    ),
    "metric_kwds": UmapLearnName(_D, None, "pumap's metrics take no parameters", None),
    "output_metric": UmapLearnName(_D, None, "the embedding is Euclidean", "euclidean"),
    "output_metric_kwds": UmapLearnName(_D, None, "the embedding is Euclidean", None),
    "n_epochs": UmapLearnName(
        _S, "n_epochs", "pumap's epoch samples as many edges as the graph has; default auto"
    ),
    "learning_rate": UmapLearnName(
        _S, "learning_rate", "Adam's rate (default 1e-2), not umap-learn's SGD step (1.0): "
        "values above 0.25 are refused"
    ),
    "init": UmapLearnName(
        _R, "pca_init", "'spectral', 'pca' -> pca_init=True; 'random' -> pca_init=False; "
        "arrays are refused", "spectral", convert=_pca_init,
    ),
    "min_dist": UmapLearnName(_S, "min_dist"),
    "spread": UmapLearnName(_S, "spread"),
    "low_memory": UmapLearnName(
        _D, None, "pumap's k-NN search sizes its memory itself (knn_method)", True
    ),
    "n_jobs": UmapLearnName(
        _R, "threads", "-1 (all cores) -> threads=None", -1, convert=_threads
    ),
    "set_op_mix_ratio": UmapLearnName(_S, "set_op_mix_ratio"),
    "local_connectivity": UmapLearnName(_S, "local_connectivity"),
    "repulsion_strength": UmapLearnName(_S, "repulsion_strength"),
    "negative_sample_rate": UmapLearnName(_S, "negative_sample_rate"),
    "transform_queue_size": UmapLearnName(
        _D, None, "transform is a forward pass; refine=True searches exactly", 4.0
    ),
    "a": UmapLearnName(_S, "a", "pass a and b together"),
    "b": UmapLearnName(_S, "b", "pass a and b together"),
    "random_state": UmapLearnName(
        _R, "seed", "an int, None, or a numpy RandomState or Generator (draws a seed)",
        convert=seed_from,
    ),
    "angular_rp_forest": UmapLearnName(
        _D, None, "pumap builds no random-projection forest (knn_method)", False
    ),
    "target_n_neighbors": UmapLearnName(_S, "target_n_neighbors"),
    "target_metric": UmapLearnName(_S, "target_metric", "categorical, euclidean/l2 or cosine"),
    "target_metric_kwds": UmapLearnName(_D, None, "target metrics take no parameters", None),
    "target_weight": UmapLearnName(_S, "target_weight"),
    "transform_seed": UmapLearnName(_S, "transform_seed", "default: the fit's seed, not 42"),
    "transform_mode": UmapLearnName(
        _D, None, "transform always returns the embedding", "embedding"
    ),
    "force_approximation_algorithm": UmapLearnName(
        _D, None, "use knn_method='nndescent'", False
    ),
    "verbose": UmapLearnName(_S, "verbose", "pumap.Umap shows progress bars by default"),
    "tqdm_kwds": UmapLearnName(_D, None, "progress bars are verbose=True/False only", None),
    "unique": UmapLearnName(
        _D, None, "deduplicate first: np.unique(X, axis=0, return_inverse=True)", False
    ),
    "densmap": UmapLearnName(_D, None, _NO_DENSMAP, False),
    "dens_lambda": UmapLearnName(_D, None, _NO_DENSMAP, 2.0),
    "dens_frac": UmapLearnName(_D, None, _NO_DENSMAP, 0.3),
    "dens_var_shift": UmapLearnName(_D, None, _NO_DENSMAP, 0.1),
    "output_dens": UmapLearnName(_D, None, _NO_DENSMAP, False),
    "disconnection_distance": UmapLearnName(
        _D, None, "pumap keeps every k-NN edge (no disconnection distance)", None
    ),
    "precomputed_knn": UmapLearnName(
        _A, None, "an argument of Umap(...) and ParametricUMAP(...), umap-learn's layout; "
        "not a UmapConfig option", (None, None, None)
    ),
}


def _is_default(value: Any, default: Any) -> bool:
    if default is None:
        return value is None
    if isinstance(default, tuple):
        return isinstance(value, tuple) and len(value) == len(default) and all(
            v is None for v in value
        )
    if isinstance(default, bool):
        return isinstance(value, bool) and value == default
    if isinstance(default, float):
        return isinstance(value, (int, float)) and not isinstance(value, bool) and value == default
    if isinstance(default, int):
        return isinstance(value, numbers.Integral) and not isinstance(value, bool) and (
            value == default
        )
    return isinstance(value, str) and value == default


def _check_default_only(name: str, entry: UmapLearnName, value: Any) -> None:
    if entry.kind == _A and not _is_default(value, entry.default):
        raise ValueError(f"{name} is {entry.hint}: pass it to Umap(...) or ParametricUMAP(...)")
    if not _is_default(value, entry.default):
        raise ValueError(
            f"{name}={_describe(value)} is a umap-learn option pumap does not have: {entry.hint} "
            f"(only umap-learn's default, {entry.default!r}, is accepted)"
        )


def translate(options: dict[str, Any], own_names: set[str]) -> dict[str, Any]:
    """``options`` with umap-learn's names for `UmapConfig` translated to pumap's.

    Names in ``own_names`` (`UmapConfig`'s fields) pass through; a renamed umap-learn name
    becomes its pumap option (refused if that is given too); a default-only name at its
    default is dropped. Anything else is left for the caller's own error.

    Raises
    ------
    ValueError
        For a value pumap cannot honour, or a name given under both spellings.
    """
    out: dict[str, Any] = {}
    for name, value in options.items():
        entry = UMAP_LEARN_PARAMETERS.get(name)
        if name in own_names or entry is None:
            out[name] = value
        elif entry.kind == _R:
            assert entry.pumap_name is not None and entry.convert is not None
            if entry.pumap_name in options:
                raise ValueError(
                    f"{name} is umap-learn's name for {entry.pumap_name}: pass one of them"
                )
            out[entry.pumap_name] = entry.convert(value)
        elif entry.kind in (_D, _A):
            _check_default_only(name, entry, value)
    return out


def estimator_keywords(options: dict[str, Any], own_names: set[str], estimator: str
                       ) -> dict[str, Any]:
    """A scikit-learn estimator's keywords: umap-learn's names at umap-learn's default
    dropped (they change nothing), other names it lacks refused with a hint.

    A scikit-learn estimator has one name per option (its parameters must survive
    ``clone``), so umap-learn's other names are not parameters of it: at umap-learn's default
    (``low_memory=True``, ``n_jobs=-1``, ``init='spectral'``, ...) they are accepted and
    dropped, as pumap does the same by default; any other value is refused.

    Raises
    ------
    TypeError
        For a name not in ``own_names`` that is not a umap-learn name at its default: a
        renamed umap-learn name names pumap's; a feature pumap lacks says so; other names
        as Python says them.
    """
    for name, value in options.items():
        entry = UMAP_LEARN_PARAMETERS.get(name)
        if name in own_names:
            continue
        if entry is None:
            raise TypeError(f"{estimator}() got an unexpected keyword argument {name!r}")
        if entry.kind in (_D, _R) and _is_default(value, entry.default):
            continue  # umap-learn's default: the feature off, or what pumap does by default
        if entry.kind == _D:
            raise TypeError(
                f"{name}={_describe(value)} is a umap-learn option pumap does not have: "
                f"{entry.hint}; {estimator} takes only umap-learn's default, {entry.default!r}"
            )
        raise TypeError(
            f"{name} is umap-learn's name: pass {entry.pumap_name}= to {estimator} "
            f"({entry.hint}); only umap-learn's default, {name}={entry.default!r}, is "
            "accepted under this name"
        )
    return {name: value for name, value in options.items() if name in own_names}
