"""`ParametricUMAP`: a scikit-learn estimator around `pumap.Umap`.

It takes umap-learn's parameter names where they mean the same thing, so that code written
for ``umap.UMAP`` / ``umap.parametric_umap.ParametricUMAP`` mostly runs unchanged, and pumap's
own names for the rest. scikit-learn is an optional dependency: this module is imported only
when ``pumap.ParametricUMAP`` is first used.
"""

from __future__ import annotations

import copy
import os
from typing import Any

import numpy as np
from torch import nn

try:
    from sklearn.base import BaseEstimator, ClassNamePrefixFeaturesOutMixin, TransformerMixin
    from sklearn.utils.validation import check_is_fitted
except ImportError as err:  # pragma: no cover - exercised in a subprocess test
    raise ImportError(
        "pumap.ParametricUMAP needs scikit-learn, which is not installed; "
        "install it with: pip install 'pumap[sklearn]' (or pip install scikit-learn)"
    ) from err

try:  # scikit-learn >= 1.6
    from sklearn.utils.validation import validate_data as _validate_data

    # pumap checks the values itself (once, naming the row and column of a NaN): scikit-learn
    # checks the shape, dtype and feature names only.
    _VALUES_CHECKED_BY_PUMAP = {"ensure_all_finite": False}
except ImportError:  # pragma: no cover - older scikit-learn

    def _validate_data(estimator: Any, X: Any, **kwargs: Any) -> Any:
        return estimator._validate_data(X, **kwargs)

    _VALUES_CHECKED_BY_PUMAP = {"force_all_finite": False}


from .config import UmapConfig
from .estimator_config import UmapLearnNames, _plain, _to_numpy, estimator_config, estimator_params
from .model.fitted import FittedUmap
from .umap import Umap

__all__ = ["UMAP_LEARN_N_NEIGHBORS", "ParametricUMAP"]

_DEFAULTS = UmapConfig()
#: Default ``n_neighbors`` of `ParametricUMAP`: umap-learn's (and `UmapConfig`'s), the point
#: itself counted.
UMAP_LEARN_N_NEIGHBORS = 15


class ParametricUMAP(
    ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseEstimator, metaclass=UmapLearnNames
):
    """Parametric UMAP as a scikit-learn transformer.

    Trains pumap's encoder network on ``X`` in `fit`; `transform` embeds new rows with one
    forward pass. Defaults are `pumap.UmapConfig`'s except where noted.

    Parameters
    ----------
    n_neighbors : int, default=15
        Neighbourhood size **counting the point itself, as umap-learn does**, at least 2;
        lowered to ``n_samples`` with a warning (as umap-learn does) for smaller data.
    n_components : int
        Dimension of the embedding.
    metric : str
        Distance in the input space (see `pumap.UmapConfig`: the exact metrics, any
        pynndescent name, or ``"precomputed"``).
    min_dist, spread : float
        Shape of the low-dimensional similarity curve, as in umap-learn.
    n_epochs : int or None
        Training length in pumap epochs (one epoch samples as many positive edges as the
        fuzzy graph has); ``None`` means pumap's default.
    batch_size : int or None
        Positive edges per optimisation step (None: 2,048 on a CPU above 25,000 points).
    negative_sample_rate : int
        Negative pairs per positive edge.
    learning_rate : float
        Adam's learning rate (umap-learn's is an SGD step size with default 1.0; the scales
        are not comparable).
    random_state : int, numpy.random.RandomState, numpy.random.Generator or None, default=None
        Seed of the fit. An int gives reproducible fits; a RandomState or Generator is used to
        draw an int seed (advancing it), as scikit-learn estimators do; ``None`` is a fresh
        seed each fit.
    verbose : bool, default=False
        Show progress bars (umap-learn's default, not `UmapConfig`'s).
    hidden_layers : tuple of int
        Widths of the encoder MLP's hidden layers (pumap only).
    input_dropout : float
        Probability of zeroing each input value in each training step (pumap only).
    standardize : bool
        Centre and scale each feature for the encoder, the divisor floored at half the largest
        feature's std (pumap only; see `pumap.UmapConfig`).
    input_pca : int or None
        Principal components of wide input the encoder trains on (pumap only).
    pca_init : bool
        Warm-start the encoder on the PCA projection (pumap only).
    keep_training_data : bool
        Keep the training embedding and a PCA sketch of the training data, which refined
        transforms need (pumap only; see `pumap.UmapConfig`).
    refine_sketch_dims : int or None
        Dimensions of that sketch; ``None`` keeps the rows themselves (pumap only).
    refine : bool, default=False
        Whether `transform` refines each new point against the fixed training embedding
        after the forward pass, as umap-learn's ``transform`` optimises new points: better
        placement, slower (pumap only; needs ``keep_training_data=True``).
    knn_method : {"auto", "exact", "nndescent"}
        How the k-NN graph is built (pumap only).
    knn_precision : {"float32", "tf32", "bfloat16"}
        Arithmetic of the exact k-NN's block products (pumap only).
    mixed_precision : bool or None
        bfloat16 autocast in training (pumap only; None: on a CPU with native bfloat16).
    compile : bool
        ``torch.compile`` the training step (pumap only).
    device : str
        ``"auto"``, ``"cpu"``, ``"cuda"``, ``"cuda:N"`` or ``"mps"`` (pumap only).
    threads : int or None
        Torch CPU threads for `fit` and `transform`, restored afterwards; ``None`` leaves
        torch's setting (pumap only; see `pumap.UmapConfig`).
    target_metric : {"categorical", "euclidean", "l2", "cosine"}, default="categorical"
        How `fit`'s ``y`` is read: class labels, or numeric targets under that distance.
    target_weight : float, default=0.5
        In ``[0, 1]``: how much ``y`` shapes the embedding, as in umap-learn.
    target_n_neighbors : int, default=-1
        Neighbours in the graph of numeric targets; -1 uses ``n_neighbors``.
    local_connectivity, set_op_mix_ratio, repulsion_strength : float, default=1.0
        As in umap-learn (`pumap.UmapConfig`).
    a, b : float or None, default=None
        The curve's parameters, both or neither; by default from ``min_dist``, ``spread``.
    transform_seed : int or None, default=None
        Seed of refined transforms; ``None`` uses the fit's seed.

    encoder : torch.nn.Module or None, default=None
        Your own network mapping ``(batch, n_features)`` to ``(batch, n_components)``. `fit`
        trains a deep copy of it, so the module you pass is never modified and refits start
        from the same weights.
    precomputed_knn : tuple (indices, distances) or None, default=None
        umap-learn's parameter: ``(n_samples, n_neighbors)`` arrays whose first column is
        each point itself (``umap.umap_.nearest_neighbors``' output) used instead of a k-NN
        search; a wider pair is cut to ``n_neighbors`` columns (see `pumap.Umap`).
    decoder : bool or torch.nn.Module, default=False
        Also train a decoder for `inverse_transform`: ``True`` for the mirrored MLP, or your
        own module mapping ``(batch, n_components)`` to ``(batch, n_features)`` (a deep copy
        is trained) (pumap only; see `pumap.training.decoder`).
    reconstruction_weight : float, default=0.0
        ``0``: the decoder is trained after the encoder; ``> 0``: jointly, its weighted
        reconstruction error added to the UMAP loss (pumap only).
    decoder_epochs : int or None
        Passes over the data of the decoder's own training stage; ``None`` automatic.

    Attributes
    ----------
    embedding_ : numpy.ndarray of shape (n_samples, n_components), float32
        Embedding of the training data.
    fitted_ : pumap.FittedUmap
        The trained model; `save` and `load` write and read the estimator.
    n_features_in_ : int
        Number of features seen in `fit`.
    feature_names_in_ : numpy.ndarray of str
        Column names, when `fit` was given a DataFrame with string column names.
    config_ : pumap.UmapConfig
        The pumap options the model was fitted with.
    graph_ : scipy.sparse.csr_matrix of shape (n_samples, n_samples)
        The fuzzy graph of the training data, as umap-learn's ``graph_``.

    Notes
    -----
    umap-learn's other names are taken at umap-learn's default (``low_memory=True``,
    ``n_jobs=-1``, ...), a no-op; other values are a `TypeError` saying what to do.

    Examples
    --------
    >>> import numpy as np
    >>> from pumap import ParametricUMAP
    >>> X = np.random.default_rng(0).normal(size=(200, 8))
    >>> est = ParametricUMAP(n_epochs=2, hidden_layers=(16,), random_state=0)
    >>> est.fit_transform(X).shape
    (200, 2)
    """

    def __init__(
        self,
        n_neighbors: int = UMAP_LEARN_N_NEIGHBORS,
        n_components: int = _DEFAULTS.n_components,
        metric: str = _DEFAULTS.metric,
        min_dist: float = _DEFAULTS.min_dist,
        spread: float = _DEFAULTS.spread,
        n_epochs: int | None = _DEFAULTS.n_epochs,
        batch_size: int | None = _DEFAULTS.batch_size,
        negative_sample_rate: int = _DEFAULTS.negative_sample_rate,
        learning_rate: float = _DEFAULTS.learning_rate,
        random_state: Any = None,
        verbose: bool = False,
        hidden_layers: tuple[int, ...] = _DEFAULTS.hidden_layers,
        input_dropout: float = _DEFAULTS.input_dropout,
        standardize: bool = _DEFAULTS.standardize,
        input_pca: int | None = _DEFAULTS.input_pca,
        pca_init: bool = _DEFAULTS.pca_init,
        keep_training_data: bool = _DEFAULTS.keep_training_data,
        refine_sketch_dims: int | None = _DEFAULTS.refine_sketch_dims,
        refine: bool = False,
        knn_method: str = _DEFAULTS.knn_method,
        knn_precision: str = _DEFAULTS.knn_precision,
        mixed_precision: bool | None = _DEFAULTS.mixed_precision,
        compile: bool = _DEFAULTS.compile,
        device: str = _DEFAULTS.device,
        encoder: Any = None,
        threads: int | None = _DEFAULTS.threads,
        precomputed_knn: Any = None,
        decoder: Any = _DEFAULTS.decoder,
        reconstruction_weight: float = _DEFAULTS.reconstruction_weight,
        decoder_epochs: int | None = _DEFAULTS.decoder_epochs,
        target_metric: str = _DEFAULTS.target_metric,
        target_weight: float = _DEFAULTS.target_weight,
        target_n_neighbors: int = _DEFAULTS.target_n_neighbors,
        local_connectivity: float = _DEFAULTS.local_connectivity,
        set_op_mix_ratio: float = _DEFAULTS.set_op_mix_ratio,
        repulsion_strength: float = _DEFAULTS.repulsion_strength,
        a: float | None = _DEFAULTS.a,
        b: float | None = _DEFAULTS.b,
        transform_seed: int | None = _DEFAULTS.transform_seed,
    ) -> None:
        self.n_neighbors = n_neighbors
        self.n_components = n_components
        self.metric = metric
        self.min_dist = min_dist
        self.spread = spread
        self.n_epochs = n_epochs
        self.batch_size = batch_size
        self.negative_sample_rate = negative_sample_rate
        self.learning_rate = learning_rate
        self.random_state = random_state
        self.verbose = verbose
        self.hidden_layers = hidden_layers
        self.input_dropout = input_dropout
        self.standardize = standardize
        self.input_pca = input_pca
        self.pca_init = pca_init
        self.keep_training_data = keep_training_data
        self.refine_sketch_dims = refine_sketch_dims
        self.refine = refine
        self.knn_method = knn_method
        self.knn_precision = knn_precision
        self.mixed_precision = mixed_precision
        self.compile = compile
        self.device = device
        self.encoder = encoder
        self.threads = threads
        self.precomputed_knn = precomputed_knn
        self.decoder = decoder
        self.reconstruction_weight = reconstruction_weight
        self.decoder_epochs = decoder_epochs
        self.target_metric = target_metric
        self.target_weight = target_weight
        self.target_n_neighbors = target_n_neighbors
        self.local_connectivity = local_connectivity
        self.set_op_mix_ratio = set_op_mix_ratio
        self.repulsion_strength = repulsion_strength
        self.a = a
        self.b = b
        self.transform_seed = transform_seed

    # ------------------------------------------------------------------ fitting

    def fit(self, X: Any, y: Any = None) -> ParametricUMAP:
        """Build the fuzzy k-NN graph of ``X`` and train the encoder on it.

        Parameters
        ----------
        X : array-like or scipy.sparse matrix of shape (n_samples, n_features)
            Numeric data (NumPy array, DataFrame, nested lists, sparse matrix).
        y : array-like of shape (n_samples,) or (n_samples, d), optional
            Targets of a supervised fit, as in umap-learn: class labels (integers, ``-1``
            for unlabelled points, or strings) with ``target_metric="categorical"``, numeric
            values with another ``target_metric``; weighted by ``target_weight``. Inside a
            `~sklearn.pipeline.Pipeline` fitted with ``y``, the embedding is supervised, as
            umap-learn's is.

        Returns
        -------
        ParametricUMAP
            This estimator, fitted.
        """
        x = _validate_data(
            self, X, reset=True, dtype=[np.float32, np.float64], ensure_min_samples=2,
            accept_sparse="csr", **_VALUES_CHECKED_BY_PUMAP,
        )
        config = self._build_config(x.shape[0])
        encoder = copy.deepcopy(self.encoder) if self.encoder is not None else None
        decoder = self.decoder if isinstance(self.decoder, nn.Module) else None
        fitted = Umap(
            config, encoder=encoder, precomputed_knn=self.precomputed_knn, decoder=decoder
        ).fit(x, y)
        self.fitted_: FittedUmap = fitted
        self.config_: UmapConfig = config
        self.embedding_: np.ndarray = _to_numpy(fitted.embedding)
        self.graph_ = fitted.graph
        return self

    def fit_transform(self, X: Any, y: Any = None) -> np.ndarray:
        """Fit on ``X`` and return its embedding (``embedding_``), without a second pass.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            As for `fit`.
        y : array-like, optional
            Targets of a supervised fit, as for `fit`.

        Returns
        -------
        numpy.ndarray of shape (n_samples, n_components), float32
        """
        return self.fit(X, y).embedding_

    def fit_more(self, X: Any, y: Any = None, **options: Any) -> ParametricUMAP:
        """Train the fitted encoder further on new rows, old points held in place by
        landmarks (`pumap.FittedUmap.fit_more`, whose keyword options it takes).

        Not scikit-learn's ``partial_fit``: the estimator must be fitted first. ``fitted_``
        becomes the continued model, ``embedding_`` the embedding of ``X`` and ``graph_`` the
        fuzzy graph of the landmarks and ``X``. Continued training is unsupervised: ``y``
        must be None (a ``ValueError`` otherwise; the landmarks carry no targets).

        Returns
        -------
        ParametricUMAP
            This estimator, updated (as umap-learn's ``fit`` on new data returns self).
        """
        check_is_fitted(self, "fitted_")
        if y is not None:
            raise ValueError("fit_more does not take y: continued training is unsupervised "
                             "(the landmarks carry no targets); fit(X, y) on all the rows instead")
        x = _validate_data(
            self, X, reset=False, dtype=[np.float32, np.float64], **_VALUES_CHECKED_BY_PUMAP
        )
        self.fitted_ = self.fitted_.fit_more(x, **options)
        self.embedding_ = _to_numpy(self.fitted_.embedding)
        self.graph_ = self.fitted_.graph
        return self

    def transform(self, X: Any, *, refine: bool | None = None) -> np.ndarray:
        """Embed new rows with the trained encoder (and refine them, if asked).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        refine : bool, optional
            Overrides the estimator's ``refine`` for this call.

        Returns
        -------
        numpy.ndarray of shape (n_samples, n_components), float32
        """
        check_is_fitted(self, "fitted_")
        x = _validate_data(
            self, X, reset=False, dtype=[np.float32, np.float64], accept_sparse="csr",
            **_VALUES_CHECKED_BY_PUMAP,
        )
        refine = self.refine if refine is None else refine
        return self.fitted_.transform(x, refine=_plain(refine))

    def inverse_transform(self, X: Any) -> np.ndarray:
        """Map embedded points back to the input space with the decoder (``decoder=True``).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_components)

        Returns
        -------
        numpy.ndarray of shape (n_samples, n_features_in_), float32
        """
        check_is_fitted(self, "fitted_")
        return self.fitted_.inverse_transform(_to_numpy(X))

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the fitted estimator to ``path`` (safetensors, or GGUF for ``.gguf``): the
        model with ``embedding_`` and the training index; never pickle. See `load`."""
        check_is_fitted(self, "fitted_")
        self.fitted_.save(path, include_embedding=True)

    @classmethod
    def load(cls, path: str | os.PathLike[str], *, device: str = "cpu",
             encoder: nn.Module | None = None, decoder: nn.Module | None = None
             ) -> ParametricUMAP:
        """A fitted estimator from a file of `save` (or of ``FittedUmap.save``): its parameters
        from the stored config (``random_state`` the fit's seed), ``fitted_``, ``config_``,
        ``embedding_`` (``None`` if the file has none) and ``n_features_in_``. ``graph_`` is
        ``None`` (not stored) and ``feature_names_in_`` absent. ``encoder``/``decoder``: as
        `pumap.FittedUmap.load`, required for custom modules."""
        fitted = FittedUmap.load(path, device=device, encoder=encoder, decoder=decoder)
        est = cls(**estimator_params(fitted.config, encoder, decoder))
        est.fitted_, est.config_, est.graph_ = fitted, fitted.config, None
        est.embedding_ = None if fitted.embedding is None else _to_numpy(fitted.embedding)
        est.n_features_in_ = fitted.n_features
        return est

    def _build_config(self, n_samples: int) -> UmapConfig:
        """Translate the parameters into a validated `UmapConfig` (umap-learn -> pumap)."""
        return estimator_config(self, n_samples)

    @property
    def _n_features_out(self) -> int:
        """Output width, for ``get_feature_names_out`` (``parametricumap0``, ...)."""
        return int(self.fitted_.n_components)

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = False
        tags.input_tags.sparse = True
        # The encoder computes in float32 whatever the input's precision.
        tags.transformer_tags.preserves_dtype = ["float32"]
        return tags

    def _more_tags(self) -> dict[str, Any]:  # scikit-learn < 1.6
        return {"preserves_dtype": [np.float32], "allow_nan": False}
