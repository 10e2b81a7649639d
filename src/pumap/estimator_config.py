"""`ParametricUMAP`'s parameters as a `UmapConfig`: the translation the estimator's `fit`
runs, kept apart from the scikit-learn class (no scikit-learn import here)."""

from __future__ import annotations

import inspect
import numbers
import warnings
from collections.abc import Iterable
from typing import Any

import numpy as np
from torch import nn

from .compat import estimator_keywords, seed_from
from .config import UmapConfig, option_table


def estimator_config(estimator: Any, n_samples: int) -> UmapConfig:
    """A validated `UmapConfig` from a `pumap.ParametricUMAP`'s parameters for ``n_samples``
    rows: ``n_neighbors`` checked (and capped at ``n_samples`` with a warning),
    ``random_state`` made a seed, every other option passed under its name."""
    k = estimator.n_neighbors
    if isinstance(k, bool) or not isinstance(k, numbers.Integral):
        raise ValueError(f"n_neighbors must be an integer, got {k!r}")
    if k < 2:
        raise ValueError(
            f"n_neighbors must be >= 2 (it counts the point itself, as in umap-learn), got {k}"
        )
    k = int(k)
    if k > n_samples:
        warnings.warn(
            f"n_neighbors={k} is larger than the data set ({n_samples} samples); "
            f"using n_neighbors={n_samples}",
            UserWarning,
            stacklevel=4,
        )
        k = n_samples
    hidden = estimator.hidden_layers
    if isinstance(hidden, (str, bytes)) or not isinstance(hidden, Iterable):
        raise ValueError(
            f"hidden_layers must be a sequence of ints, e.g. (256, 256), got {hidden!r}"
        )
    # Every other option passes through under its name in the option table.
    options = {
        f.name: _plain(getattr(estimator, info.estimator_name))
        for f, info in option_table()
        if info.estimator_name is not None
    }
    options.update(
        n_neighbors=k,  # both count the point itself
        hidden_layers=tuple(_plain(w) for w in hidden),
        seed=seed_from(estimator.random_state),
    )
    if isinstance(estimator.decoder, nn.Module):  # the module goes to Umap, the flag here
        options["decoder"] = True
    return UmapConfig(**options)


def _to_numpy(array: Any) -> np.ndarray:
    """``FittedUmap.embedding`` (always NumPy float32) as a float32 array."""
    return np.asarray(array, dtype=np.float32)


def _plain(value: Any) -> Any:
    """NumPy scalars (from grids built with ``np.arange`` etc.) to Python numbers."""
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    return value


class UmapLearnNames(type):
    """The metaclass of `pumap.ParametricUMAP`: before ``__init__`` runs, umap-learn's
    names at umap-learn's default are dropped and other names the estimator lacks refused
    with a hint (`pumap.compat.estimator_keywords`), so that ``__init__`` keeps
    scikit-learn's form (every parameter named, only stored)."""

    def __call__(cls, *args: Any, **kwargs: Any) -> Any:
        own = set(inspect.signature(cls.__init__).parameters)
        return super().__call__(*args, **estimator_keywords(kwargs, own, cls.__name__))

    @property
    def __signature__(cls) -> inspect.Signature:
        """``__init__``'s signature without ``self``, so that ``inspect.signature(cls)`` (and
        scikit-learn's checks) see the parameters, not ``__call__``'s ``*args, **kwargs``."""
        signature = inspect.signature(cls.__init__)
        return signature.replace(parameters=list(signature.parameters.values())[1:])


def estimator_params(
    config: UmapConfig, encoder: nn.Module | None, decoder: nn.Module | None
) -> dict[str, Any]:
    """The `pumap.ParametricUMAP` parameters that `estimator_config` turns into ``config``
    (its inverse, for a loaded model): ``random_state`` is the fit's seed, ``encoder`` and
    ``decoder`` the modules given to ``load`` (``decoder`` else ``config.decoder``)."""
    params = {
        info.estimator_name: getattr(config, f.name)
        for f, info in option_table()
        if info.estimator_name is not None
    }
    params.update(
        n_neighbors=config.n_neighbors, hidden_layers=config.hidden_layers,
        random_state=config.seed, encoder=encoder,
        decoder=decoder if decoder is not None else config.decoder,
    )
    return params
