"""The one place where pumap's options and their defaults live.

`UmapConfig` is frozen and validated once, when it is built; every later stage trusts it.
"""

from __future__ import annotations

import dataclasses
import functools
import json
from dataclasses import dataclass
from typing import Any

from ._checks import MAX_LEARNING_RATE, SEED_MAX, check_learning_rate  # noqa: F401 - re-exported
from .config_checks import KNN_METHODS, KNN_PRECISIONS, TARGET_METRICS, check_config
from .metric_names import EXACT_METRICS, METRICS  # noqa: F401 - METRICS re-exported
from .options import _INFO, OptionInfo, option

# Where the width is unknown (sparse input) `knn_method="auto"` uses NN-Descent above this many
# points (docs/benchmarks.md, "k-NN": 80k keeps the worst slowdown either way near 2-2.5x).
NNDESCENT_THRESHOLD = 80_000
# Dense data of known width d: the exact search's time grows as n**2 (d + EXACT_SELECT_WIDTH),
# the block products costing d per pair and the top-k selection about as much as 76 more
# dimensions (fitted to bench_knn_scaling's 200,000-point runs: 72.7 s at d=64, 444 s at
# d=784). `knn_method="auto"` keeps it while that cost is at most EXACT_COST_LIMIT, the cost
# of ~30 s there, what a fresh NN-Descent pays: the crossover falls at ~52k points for d=784
# and ~129k for d=64 (measured: 53k and 134k), and Fashion-MNIST's 60,000 x 784 gets
# an approximate search (NN-Descent 61 s against 110 s for the exact search; since issue #21,
# IVF: `pumap.knn.choose.ivf_is_cheaper`, 15 s at recall 0.993; docs/benchmarks.md).
EXACT_SELECT_WIDTH = 76
EXACT_COST_LIMIT = 2.3e12
# On CUDA and MPS, `knn_method="auto"` is exact up to this many points and IVF (`pumap.knn.ivf`)
# above (NN-Descent for metrics IVF lacks). Not a measured crossover: on an H200 the exact
# search took 0.2 s at 1e5 points and 18.4 s at 1e6 (d = 64), growing as n**2, while IVF's
# work grows as n**1.5, ~60x less at 1e6 points; exact is kept where it costs seconds.
GPU_EXACT_THRESHOLD = 500_000


def option_table() -> list[tuple[dataclasses.Field[Any], OptionInfo]]:
    """Every `UmapConfig` field with its `OptionInfo`, in declaration order."""
    table = []
    for f in dataclasses.fields(UmapConfig):
        raw = dict(f.metadata[_INFO])
        if raw["cli"] == "":
            raw["cli"] = "--" + f.name.replace("_", "-")
        if raw["estimator_name"] == "":
            raw["estimator_name"] = f.name
        table.append((f, OptionInfo(**raw)))
    return table


@dataclass(frozen=True)
class UmapConfig:
    """Every option of a pumap fit, validated once at construction.

    Parameters
    ----------
    n_neighbors : int
        Size of each point's neighbourhood in the k-NN graph, **the point itself counted**,
        as in umap-learn: ``n_neighbors=15`` builds the graph of ``umap.UMAP(n_neighbors=15)``
        (the search finds 14 other points). At least 2. Larger values keep more global
        structure. (pumap 0.1 did not count the point: its ``k`` is ``k + 1`` now.)
    n_components : int
        Dimension of the embedding.
    metric : str
        Distance in the input space, used for the k-NN graph: one of ``EXACT_METRICS``
        (``"euclidean"``, ``"cosine"``, ``"manhattan"``, ``"chebyshev"``, ``"correlation"``,
        ``"hamming"``, ``"jaccard"``: exact search on any device), any other metric
        pynndescent knows by name (NN-Descent, on the CPU; ``knn_method="auto"`` picks it for
        them), or ``"precomputed"`` (``X`` is an ``(n, n)`` distance matrix; see
        docs/getting-started.md, "Sparse, precomputed and other metrics").
    min_dist, spread : float
        Shape of the low-dimensional similarity curve ``1 / (1 + a d^(2b))``; ``a`` and ``b``
        are fitted from them as in umap-learn. ``min_dist`` must lie in ``[0, spread]``.
    n_epochs : int or None
        Training length. **One epoch is as many sampled positive edges as the fuzzy graph has
        edges**, drawn in proportion to their weights: an edge of weight ``w`` is seen
        ``w / mean(w)`` times per epoch on average. It is not a pass over the points.
        ``None`` (default): about 300 optimiser steps (10 to 500 epochs), or 2,000 (2 to 500)
        with the CPU's small batch (`pumap.training.schedule.auto_n_epochs`).
    batch_size : int or None
        Positive edges per optimisation step (each brings ``negative_sample_rate`` negatives).
        When ``2 * batch_size`` reaches the number of points, each step embeds every point once
        and takes its pairs from there. ``None`` (default): 2,048 on the CPU above 25,000
        points (many cheap steps), else 65,536 (`pumap.training.schedule.auto_batch_size`).
    negative_sample_rate : int
        Negative pairs per positive edge, drawn from the points of the same batch.
    learning_rate : float
        Adam's learning rate, in ``(0, 1e30]``.
    hidden_layers : tuple of int
        Widths of the encoder MLP's hidden layers (ReLU between them).
    input_dropout : float
        Training-time augmentation: each optimisation step zeroes every input value with
        this probability (scaling the others by ``1 / (1 - p)``), so that the encoder learns
        not to rely on single features and places new points better. ``transform`` never
        drops anything. In ``[0, 1)``; 0 turns it off.
    decoder : bool
        Also train a decoder network (the encoder's MLP mirrored, unless ``Umap`` is given
        a module) that maps embeddings back to the input space, for
        ``FittedUmap.inverse_transform`` (`pumap.training.decoder`).
    reconstruction_weight : float
        ``0`` (default): the decoder is trained after the encoder, as a stage of its own.
        ``> 0``: it is trained jointly with the encoder, this weight times its mean squared
        reconstruction error (of standardised input) being added to every training step's
        UMAP loss, then polished by that stage too. Needs ``decoder=True``.
    decoder_epochs : int or None
        Passes over the data of the decoder's own stage; ``None`` picks about 6,000 steps of
        256 rows (between 5 and 200 passes, `pumap.training.decoder.auto_decoder_epochs`).
    standardize : bool
        Centre each feature and divide it by ``max(std, 0.5 * largest std)`` for the encoder
        (the k-NN graph uses the data as given): features within a factor 2 of the widest are
        z-scored, narrower ones only scaled alike, so near-constant features (border pixels)
        are not blown up; e.g. stds 1 and 0.01 beside one of 1000 come out as 0.002 and 2e-5.
        Measured better on MNIST than a plain z-score (held-out k-NN accuracy 0.80 -> 0.85).
        Data constant in every feature is only centred. The mean and divisor are stored and
        applied again by ``transform`` (`pumap.data.preprocess.Standardizer`).
    input_pca : int or None
        Train the encoder on the scores of this many leading principal components of dense
        input that has more features; after training the projection is folded into the first
        layer, so the model reads ``X`` as always (`pumap.training.projection`). A measured
        trade-off, so off (``None``) by default: ``100`` halved Fashion-MNIST's training time
        at the same quality, but cost MNIST's training trust 0.007 and forward pass 0.004 accuracy
        (docs/benchmarks.md). Not applied with a given ``encoder``, ``input_dropout`` or
        ``reconstruction_weight``.
    pca_init : bool
        Pre-train the encoder for a short while to reproduce the scaled PCA projection before
        the UMAP loss takes over (a warm start, like umap-learn's spectral initialisation).
    keep_training_data : bool
        Keep what ``transform(X, refine=True)`` needs: the training embedding and a
        neighbour index of the training data (a PCA sketch, see ``refine_sketch_dims``),
        in the fitted model and in the files it saves. On by default, as umap-learn keeps its
        training data; turn it off for a model file that holds no trace of the training rows.
    refine_sketch_dims : int or None
        Dimensions of the training index: each training row is kept as its projection on the
        data's leading principal axes (``n * refine_sketch_dims`` float32 numbers, plus the
        axes). ``None`` keeps the rows themselves (exact neighbour search, ``n * d`` numbers).
    knn_method : {"auto", "exact", "nndescent", "ivf"}
        ``"auto"`` decides per device (`pumap.knn.choose_method`): on the CPU exact while
        ``n**2 (d + 76)`` is at most ``2.3e12`` (about 52,000 points at d = 784, 129,000 at
        d = 64; sparse input: up to ``NNDESCENT_THRESHOLD`` points), then for euclidean and
        cosine IVF while its work is as cheap (`pumap.knn.choose.ivf_is_cheaper`), with a
        recall guard (below 0.98 on 500 rows: more probes, then NN-Descent), and NN-Descent
        above; on CUDA and MPS exact up to
        ``GPU_EXACT_THRESHOLD`` points and IVF (`pumap.knn.ivf_search`, approximate, on the
        device) above. The method used and, for approximate ones, an estimate of its recall
        are in ``FittedUmap.knn_info``, the log and ``pumap info``.
    knn_precision : {"float32", "tf32", "bfloat16"}
        Arithmetic of the exact search's block products (`pumap.knn.exact_knn`): the
        candidates' distances are recomputed in float32 in every case, so a lower precision
        can only miss a neighbour at the margin. ``"tf32"`` matters on CUDA only.
    mixed_precision : bool or None
        Run the encoder's training forward and backward under bfloat16 autocast (the loss
        and the weights stay float32; ``transform`` is float32 always). ``None`` (default):
        on where the CPU multiplies bfloat16 natively, else off (`pumap.training.schedule`).
    compile : bool
        ``torch.compile`` the training step's forward and loss (fixed shapes, compiled once
        per fit; the first steps pay the compilation).
    seed : int or None
        Seed of every random draw of the fit; ``None`` draws a fresh one.
    device : str
        ``"auto"`` (CUDA or ROCm, then MPS, then CPU), ``"cpu"``, ``"cuda"``, ``"cuda:N"``,
        ``"mps"``.
    verbose : bool
        Show progress bars.
    threads : int or None
        Torch intra-op (CPU) threads for the fit and for ``transform``, set while they run and
        restored afterwards; ``None`` (default) leaves torch's setting (one per core). On a
        machine other processes keep busy, one per free core is much faster (docs/benchmarks.md,
        "Busy machine"). Fits are bit-identical for the same thread count only.
    target_metric, target_weight, target_n_neighbors
        A supervised fit's ``y`` (``fit(X, y)``), as umap-learn reads it: ``"categorical"``
        class labels (``-1`` unlabelled) or numeric targets under ``"euclidean"``/``"l2"``/
        ``"cosine"``; how much ``y`` shapes the graph, in ``[0, 1]``; neighbours in ``y``'s
        own graph (-1: ``n_neighbors``). See `pumap.graph.supervised`.
    local_connectivity, set_op_mix_ratio, repulsion_strength : float
        umap-learn's: the neighbour each point is fully connected to; 1 for the fuzzy union
        of the directed graph with its transpose, 0 for their intersection; the weight of
        the negative pairs' term of the loss.
    a, b : float or None
        The curve ``1 / (1 + a d^(2b))`` set directly, both or neither; ``None``: fitted.
    transform_seed : int or None
        Seed of ``transform(X, refine=True)`` when the call gives none (``None``: the fit's).
    """

    n_neighbors: int = option(
        15, "neighbourhood size, the point itself counted (as umap-learn's n_neighbors)",
        metavar="K",
    )
    n_components: int = option(2, "embedding dimension", metavar="D")
    metric: str = option(
        "euclidean", f"distance in the input space: {', '.join(EXACT_METRICS)}, precomputed, "
        "or any metric pynndescent knows by name", metavar="NAME",
    )
    min_dist: float = option(
        0.1, "how tightly embedded points may pack, in [0, spread]", metavar="D"
    )
    spread: float = option(1.0, "scale of the embedded clusters", metavar="S")
    n_epochs: int | None = option(None, "training epochs", cli="--epochs", metavar="N",
                                  default_text="auto (about 300 steps, 2000 with the small batch)")
    batch_size: int | None = option(
        None, "positive edges per optimiser step", metavar="B",
        default_text="auto (2048 on a CPU above 25,000 points, else 65536)",
    )
    negative_sample_rate: int = option(5, "negative pairs per positive edge", metavar="R")
    learning_rate: float = option(1e-2, "Adam's initial learning rate", metavar="LR")
    hidden_layers: tuple[int, ...] = option(
        (128, 128), "widths of the encoder MLP's hidden layers", metavar="W,W",
        default_text="128,128",
    )
    input_dropout: float = option(
        0.0, "zero each input value with this probability in each training step", metavar="P"
    )
    decoder: bool = option(False, "also train a decoder, for inverse_transform")
    reconstruction_weight: float = option(
        0.0, "weight of the decoder's reconstruction error in the UMAP loss (0: train the "
        "decoder after the encoder)", metavar="W",
    )
    decoder_epochs: int | None = option(
        None, "passes over the data of the decoder's own training stage", metavar="N",
        default_text="auto (about 6000 steps)",
    )
    standardize: bool = option(True, "centre and scale features for the encoder")
    input_pca: int | None = option(
        None, "train the encoder on this many principal components of the input (faster, "
        "see docs/benchmarks.md)", metavar="C|none", none_word="none", default_text="none",
    )
    pca_init: bool = option(True, "warm-start the encoder on the data's PCA projection")
    keep_training_data: bool = option(
        True, "keep a sketch of the training data in the model, for refined transforms"
    )
    refine_sketch_dims: int | None = option(
        32, "dimensions of that sketch ('none': keep the rows themselves)", metavar="S|none",
        none_word="none",
    )
    knn_method: str = option("auto", "how the k-NN graph is built", choices=KNN_METHODS)
    knn_precision: str = option(
        "float32", "arithmetic of the exact k-NN's block products", choices=KNN_PRECISIONS
    )
    mixed_precision: bool | None = option(
        None, "bfloat16 autocast of the encoder while training",
        default_text="auto (on a CPU with native bfloat16 products)",
    )
    compile: bool = option(False, "torch.compile the training step")
    seed: int | None = option(
        None, "seed of every random draw", estimator_name="random_state", metavar="N",
        default_text="fresh each run",
    )
    device: str = option("auto", "auto, cpu, cuda, cuda:N or mps", metavar="DEV")
    verbose: bool = option(True, "progress bars", cli=None)
    threads: int | None = option(
        None, "torch CPU threads for the fit and transforms; on a busy machine, one per free "
        "core", metavar="N", default_text="torch's, one per core",
    )
    target_metric: str = option(
        "categorical", "how fit's y is compared: class labels, or a distance between numeric "
        "targets", choices=TARGET_METRICS,
    )
    target_weight: float = option(
        0.5, "weight of y against the data in a supervised fit, in [0, 1]", metavar="W"
    )
    target_n_neighbors: int = option(
        -1, "neighbours of each numeric target in y's own graph (-1: n_neighbors)", metavar="K"
    )
    local_connectivity: float = option(
        1.0, "neighbours each point is assumed fully connected to (umap-learn's)", metavar="C"
    )
    set_op_mix_ratio: float = option(
        1.0, "1: fuzzy union of the directed graph with its transpose, 0: intersection",
        metavar="R",
    )
    repulsion_strength: float = option(
        1.0, "weight of the negative pairs' term of the loss", metavar="G"
    )
    a: float | None = option(
        None, "curve parameter a (with --b); default: fitted from min_dist and spread",
        metavar="A", none_word="none", default_text="from min_dist, spread",
    )
    b: float | None = option(
        None, "curve parameter b (with --a)", metavar="B", none_word="none",
        default_text="from min_dist, spread",
    )
    transform_seed: int | None = option(
        None, "seed of refined transforms (default: the fit's seed)", metavar="N",
        none_word="none", default_text="the fit's seed",
    )

    def __post_init__(self) -> None:
        # Lists arrive from JSON and from users; keep the frozen config hashable.
        object.__setattr__(self, "hidden_layers", tuple(self.hidden_layers))
        check_config(self)

    def replace(self, **changes: Any) -> UmapConfig:
        """Return a copy with some fields changed (validated again); umap-learn's names
        are taken as `UmapConfig` takes them."""
        return dataclasses.replace(self, **_umap_learn_names(changes))

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-serialisable dictionary of every field."""
        d = dataclasses.asdict(self)
        d["hidden_layers"] = list(self.hidden_layers)
        return d

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> UmapConfig:
        """Build from `to_dict` output; unknown keys are an error."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise ValueError(f"unknown UmapConfig field(s): {', '.join(unknown)}")
        return cls(**d)


_FIELD_NAMES = frozenset(f.name for f in dataclasses.fields(UmapConfig))
_dataclass_init = UmapConfig.__init__


def _umap_learn_names(options: dict[str, Any]) -> dict[str, Any]:
    """Options with umap-learn's names translated (`pumap.compat`), refused with a hint."""
    if _FIELD_NAMES.issuperset(options):
        return options
    from .compat import translate

    return translate(options, set(_FIELD_NAMES))


@functools.wraps(_dataclass_init)
def _init(self: UmapConfig, *args: Any, **options: Any) -> None:
    _dataclass_init(self, *args, **_umap_learn_names(options))


UmapConfig.__init__ = _init  # type: ignore[method-assign]  # umap-learn's names, translated
