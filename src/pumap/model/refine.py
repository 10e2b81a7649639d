"""Placing new points against the fixed training embedding: ``transform(X, refine=True)``.

The encoder's output is a fast first guess; refining optimises each new point alone (the
training embedding does not move) under UMAP's objective towards the training points it is
near in the input space, as umap-learn's ``transform`` does:

1. the ``n_neighbors`` nearest training points of each new point, searched in a
   `TrainingIndex` (a PCA sketch of the training data, or the data itself);
2. their fuzzy memberships, with umap-learn's transform conventions (`transform_memberships`);
3. a few epochs of UMAP's layout updates of the new points only (`refine_layout`).

Points never interact, so the layout is vectorised over all new points: the only Python loops
run over epochs and over neighbour columns, never over points or edges.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from ..data.pca import principal_axes
from ..data.sparse import is_sparse, project_rows, sparse_sketch
from ..graph.fuzzy import membership_strengths, nearest_nonzero_distance, smooth_knn_dist
from ..knn import KnnGraph
from ..knn.metrics import PRODUCT_METRICS, query_knn

# Epochs of a refinement when not given, as umap-learn's transform chooses them: 100 for up to
# 10,000 new points in a call, 30 for more (measured in docs/benchmarks.md, "New points").
REFINE_EPOCHS_SMALL = 100
REFINE_EPOCHS_LARGE = 30
REFINE_SMALL_CALL = 10_000
REFINE_ALPHA = 0.25  # umap-learn's transform starts at a quarter of its fit's step size
GRADIENT_CLIP = 4.0  # umap-learn clips each coordinate's update to [-4, 4]
REFINE_CHUNK = 65_536  # new points refined at once: bounds the working memory
SKETCH_FIT_ROWS = 20_000  # rows of a random subsample that fix the sketch's axes
_QUERY_BUDGET = 64 * 2**20  # bytes of scores per query block
_CANDIDATE_MARGIN = 8  # candidates per row whose distances are recomputed directly
_MIN_REPULSION_SQ_DIST = 1e-3  # umap-learn's epsilon in the repulsive gradient


@dataclass(frozen=True)
class TrainingIndex:
    """What ``transform(X, refine=True)`` keeps of the training data.

    Attributes
    ----------
    embedding : torch.Tensor
        ``(n, n_components)`` float32 embedding of the training points (the encoder's).
    points : torch.Tensor
        ``(n, s)`` float32 coordinates searched for neighbours: the centred data projected on
        its ``s`` leading principal axes (a sketch), or the centred data itself.
    mean : torch.Tensor
        ``(d,)`` float32 mean subtracted before the projection.
    axes : torch.Tensor or None
        ``(s, d)`` float32 principal axes, or ``None`` when ``points`` is the data itself.
    metric : str
        ``"euclidean"``, or ``"cosine"`` (rows are scaled to unit length first, and a squared
        euclidean distance ``e`` between unit rows is the cosine distance ``e / 2``), or
        another of `EXACT_METRICS`: then ``points`` are the training rows themselves (no
        sketch, ``mean`` is zero) searched exactly under that metric.
    """

    embedding: torch.Tensor
    points: torch.Tensor
    mean: torch.Tensor
    axes: torch.Tensor | None
    metric: str

    @classmethod
    def build(
        cls,
        x: torch.Tensor,
        embedding: torch.Tensor,
        metric: str,
        sketch_dims: int | None,
        generator: torch.Generator,
    ) -> TrainingIndex:
        """Index the training data ``x`` (as the k-NN graph saw it) and its ``embedding``.

        ``sketch_dims=None``, or at least the number of features, keeps the data itself;
        otherwise the axes come from PCA of at most `SKETCH_FIT_ROWS` rows drawn with
        ``generator`` (a CPU generator). Metrics other than euclidean and cosine keep the
        rows themselves whatever ``sketch_dims``: a sketch preserves euclidean geometry only.
        """
        if is_sparse(x):  # a sketch of scipy.sparse rows (euclidean, cosine), never densified
            seed = int(torch.randint(2**31 - 1, (1,), generator=generator))
            points, mean, axes = sparse_sketch(x, metric, sketch_dims, seed, SKETCH_FIT_ROWS)
            return cls(embedding.float().contiguous(), points, mean, axes, metric)
        if metric not in PRODUCT_METRICS:
            zero = torch.zeros(x.shape[1], dtype=torch.float32, device=x.device)
            # A copy: the caller's float32 array may share memory with x (a model owns its data).
            points = x.clone(memory_format=torch.contiguous_format)
            return cls(embedding.float().contiguous(), points, zero, None, metric)
        rows = _unit_rows(x) if metric == "cosine" else x
        if sketch_dims is None or sketch_dims >= x.shape[1]:
            mean = rows.mean(dim=0)
            points, axes = rows - mean, None
        else:
            fit_rows = rows
            if rows.shape[0] > SKETCH_FIT_ROWS:
                pick = torch.randperm(rows.shape[0], generator=generator)[:SKETCH_FIT_ROWS]
                fit_rows = rows.index_select(0, pick.to(rows.device))
            mean, axes = principal_axes(fit_rows.cpu(), sketch_dims, generator)
            mean, axes = mean.to(rows.device), axes.to(rows.device)
            points = torch.cat([(block - mean) @ axes.T for block in rows.split(REFINE_CHUNK)])
        return cls(embedding.float().contiguous(), points.contiguous(), mean, axes, metric)

    @property
    def n_samples(self) -> int:
        return int(self.points.shape[0])

    @property
    def nbytes(self) -> int:
        """Bytes of its tensors (what it adds to a saved model)."""
        tensors = [self.embedding, self.points, self.mean]
        if self.axes is not None:
            tensors.append(self.axes)
        return sum(t.numel() * t.element_size() for t in tensors)

    def to(self, device: torch.device | str) -> TrainingIndex:
        axes = None if self.axes is None else self.axes.to(device)
        return TrainingIndex(
            self.embedding.to(device), self.points.to(device), self.mean.to(device), axes,
            self.metric,
        )

    def project(self, x: torch.Tensor) -> torch.Tensor:
        """New rows ``(m, d)`` in the index's coordinates ``(m, s)``."""
        if is_sparse(x):
            if self.axes is not None:
                return project_rows(x, self.metric, self.mean, self.axes).to(self.points.device)
            x = _dense_chunk(x, self.points.device)
        rows = _unit_rows(x) if self.metric == "cosine" else x
        centred = rows - self.mean
        return centred if self.axes is None else centred @ self.axes.T

    def query(self, x: torch.Tensor, k: int) -> KnnGraph:
        """The ``k`` nearest training points of each row of ``x`` (distances in metric units)."""
        if self.metric not in PRODUCT_METRICS:
            if is_sparse(x):
                x = _dense_chunk(x, self.points.device)
            return query_knn(x, self.points, k, self.metric, _QUERY_BUDGET)
        graph = nearest_rows(self.project(x), self.points, k)
        if self.metric == "cosine":
            return KnnGraph(graph.indices, graph.distances.square() / 2)
        return graph

    def tensors(self) -> dict[str, torch.Tensor]:
        """Its tensors by file name (see docs/file-format.md)."""
        out = {"refine.embedding": self.embedding, "refine.points": self.points}
        out["refine.mean"] = self.mean
        if self.axes is not None:
            out["refine.axes"] = self.axes
        return out

    @classmethod
    def from_tensors(
        cls, tensors: dict[str, Any], metric: str, n_features: int, n_components: int
    ) -> TrainingIndex:
        """Rebuild from `tensors`' output (NumPy arrays or tensors), checking every shape.

        Raises
        ------
        ValueError
            Naming the tensor whose shape does not fit.
        """
        got = {k: torch.as_tensor(np.asarray(v, dtype=np.float32)) for k, v in tensors.items()}
        for name in ("refine.embedding", "refine.points", "refine.mean"):
            if name not in got:
                raise ValueError(f"tensor {name!r} is missing")
        embedding, points, mean = got["refine.embedding"], got["refine.points"], got["refine.mean"]
        axes = got.get("refine.axes")
        n = embedding.shape[0] if embedding.ndim == 2 else -1
        dims = axes.shape[0] if axes is not None and axes.ndim == 2 else n_features
        expected = {
            "refine.embedding": (n, n_components),
            "refine.points": (n, dims),
            "refine.mean": (n_features,),
        }
        if axes is not None:
            expected["refine.axes"] = (dims, n_features)
        for name, shape in expected.items():
            if tuple(got[name].shape) != shape or n < 1:
                raise ValueError(
                    f"tensor {name!r} has shape {tuple(got[name].shape)}, expected {shape}"
                )
        return cls(embedding, points, mean, axes, metric)


def default_refine_epochs(n_new: int) -> int:
    """Refinement epochs for a call with ``n_new`` new points (umap-learn's rule)."""
    return REFINE_EPOCHS_SMALL if n_new <= REFINE_SMALL_CALL else REFINE_EPOCHS_LARGE


def nearest_rows(queries: torch.Tensor, points: torch.Tensor, k: int) -> KnnGraph:
    """Exact euclidean ``k`` nearest rows of ``points`` for each row of ``queries``.

    Blocks of queries are scored with one matrix product each (``|p|^2 - 2 q.p``), ``k + 8``
    candidates per row are kept and their distances recomputed directly, then sorted by
    (distance, index). Working memory stays near `_QUERY_BUDGET` whatever the sizes.
    """
    n, s = points.shape
    k = min(k, n)
    kc = min(n, k + _CANDIDATE_MARGIN)
    norms = (points * points).sum(dim=1)
    rows = max(1, min(queries.shape[0], _QUERY_BUDGET // (4 * (n + kc * (s + 2)))))
    out_idx = torch.empty((queries.shape[0], k), dtype=torch.int64, device=points.device)
    out_dist = torch.empty((queries.shape[0], k), dtype=points.dtype, device=points.device)
    for start in range(0, queries.shape[0], rows):
        q = queries[start : start + rows]
        scores = torch.addmm(norms[None, :], q, points.T, alpha=-2.0)
        candidates = torch.topk(scores, kc, dim=1, largest=False, sorted=False)[1]
        diff = points[candidates] - q[:, None, :]
        dist = (diff * diff).sum(dim=2).sqrt()
        # Ties broken by index, so the order never depends on the candidates' order.
        order = torch.argsort(candidates, dim=1, stable=True)
        candidates, dist = candidates.gather(1, order), dist.gather(1, order)
        order = torch.argsort(dist, dim=1, stable=True)[:, :k]
        out_idx[start : start + rows] = candidates.gather(1, order)
        out_dist[start : start + rows] = dist.gather(1, order)
    return KnnGraph(out_idx, out_dist)


def transform_memberships(
    distances: torch.Tensor, local_connectivity: float = 1.0
) -> torch.Tensor:
    """Fuzzy memberships of new points to their nearest training points, as umap-learn's.

    ``distances`` is ``(m, K)``, ascending, to ``K = n_neighbors`` training points (a new
    point is not among them). As umap-learn's ``transform`` does, ``rho`` is the distance to
    the ``max(0, local_connectivity - 1)``-th nearest at non-zero distance (0 for the default
    1), the bandwidth ``sigma`` solves the fit's equation over the ``K - 1`` farther
    neighbours (umap-learn skips the first column, the fit's "self"), and every one of the
    ``K`` neighbours gets ``exp(-max(0, d - rho) / sigma)``.

    Returns
    -------
    torch.Tensor
        ``(m, K)`` float64 (float32 on MPS) memberships in ``(0, 1]``.
    """
    connectivity = max(0.0, float(local_connectivity) - 1.0)
    rho = nearest_nonzero_distance(distances, connectivity)
    sigma, rho = smooth_knn_dist(distances[:, 1:], local_connectivity=connectivity, rho=rho)
    return membership_strengths(distances, sigma, rho)


def refine_layout(
    init: torch.Tensor,
    neighbor_embedding: torch.Tensor,
    weights: torch.Tensor,
    reference: torch.Tensor,
    *,
    a: float,
    b: float,
    n_epochs: int,
    negative_sample_rate: int,
    generator: torch.Generator,
    initial_alpha: float = REFINE_ALPHA,
    repulsion_strength: float = 1.0,
) -> torch.Tensor:
    """Optimise new points under UMAP's loss against a fixed reference embedding.

    umap-learn's layout updates with the reference held still (its ``move_other=False``):
    an edge of weight ``w`` is applied every ``max(w) / w`` epochs (so one of weight
    ``max(w) / n_epochs`` or less never is), each application pulls the point towards its
    neighbour and pushes it from ``negative_sample_rate`` reference points drawn uniformly
    (the push scaled by ``repulsion_strength``, umap-learn's ``gamma``), every coordinate's
    update is clipped to ``[-4, 4]``, and the step size decays linearly
    from ``initial_alpha`` to 0. Where umap-learn applies a point's updates one after the
    other, an epoch here adds up all of them at the point's position at the start of the
    epoch (each still clipped alone): one set of tensor operations per epoch for all points.

    Parameters
    ----------
    init : torch.Tensor
        ``(m, c)`` starting positions (the encoder's output).
    neighbor_embedding : torch.Tensor
        ``(m, K, c)`` reference positions of each point's neighbours.
    weights : torch.Tensor
        ``(m, K)`` memberships.
    reference : torch.Tensor
        ``(n, c)`` the fixed embedding the negatives are drawn from.
    generator : torch.Generator
        On ``init``'s device; the draws of the negatives.

    Returns
    -------
    torch.Tensor
        ``(m, c)`` float32 positions.
    """
    y = init.float().clone()
    rate = edge_rates(weights)
    points = torch.arange(y.shape[0], device=y.device)
    for epoch in range(1, n_epochs):  # as in umap-learn, no edge is due in epoch 0
        alpha = initial_alpha * (1.0 - epoch / n_epochs)
        due = (torch.floor(epoch * rate) - torch.floor((epoch - 1) * rate)).to(y.dtype)
        pull = due[:, :, None] * _attraction(y[:, None, :], neighbor_embedding, a, b)
        update = pull.sum(dim=1)
        # negative_sample_rate negatives per applied edge, point after point: (owner, draw)
        counts = due.sum(dim=1).to(torch.int64) * negative_sample_rate
        owner = torch.repeat_interleave(points, counts)  # its size: one host read per epoch
        if owner.numel():
            picks = torch.randint(
                reference.shape[0], (owner.shape[0],), generator=generator, device=y.device
            )
            diff = y.index_select(0, owner) - reference.index_select(0, picks)
            push = _repulsion(diff, a, b, repulsion_strength)
            update.index_add_(0, owner, push)
        y = y + alpha * update
    return y


def edge_rates(weights: torch.Tensor) -> torch.Tensor:
    """Applications per epoch of each edge, ``w / max(w)``, as umap-learn schedules them.

    An edge of rate ``r`` has a period of ``1 / r`` epochs: it is applied in epoch ``e`` once
    for each multiple of the period in ``(e - 1, e]`` (umap-learn's ``epoch_of_next_sample
    <= e``), that is ``floor(e r) - floor((e - 1) r)`` times, never in epoch 0. Weights of 0
    are never applied, nor, over ``n_epochs``, weights below ``max(w) / n_epochs``.

    Returns
    -------
    torch.Tensor
        Float64 (float32 on MPS) rates in ``[0, 1]``, the shape of ``weights``.
    """
    dtype = torch.float32 if weights.device.type == "mps" else torch.float64
    w = weights.to(dtype)
    return w / w.max().clamp_min(torch.finfo(dtype).tiny)


def _attraction(y: torch.Tensor, other: torch.Tensor, a: float, b: float) -> torch.Tensor:
    """umap-learn's clipped attractive update of ``y`` towards ``other`` (broadcast, ``(..., c)``).

    ``-2ab d^(2(b-1)) / (1 + a d^(2b)) (y - other)``, 0 where ``y == other``.
    """
    diff = y - other
    sq = (diff * diff).sum(dim=-1, keepdim=True)
    safe = torch.where(sq > 0, sq, torch.ones_like(sq))
    coeff = (-2.0 * a * b) * safe.pow(b - 1.0) / (1.0 + a * safe.pow(b))
    coeff = torch.where(sq > 0, coeff, torch.zeros_like(coeff))
    return (coeff * diff).clamp_(-GRADIENT_CLIP, GRADIENT_CLIP)


def _repulsion(diff: torch.Tensor, a: float, b: float, gamma: float = 1.0) -> torch.Tensor:
    """umap-learn's clipped repulsive update for ``diff = y - other`` (``(..., c)``).

    ``2 gamma b / ((0.001 + d^2)(1 + a d^(2b))) (y - other)``, clipped after the scaling by
    ``gamma`` (the repulsion strength) as umap-learn does; 0 where the points coincide.
    """
    sq = (diff * diff).sum(dim=-1, keepdim=True)
    coeff = (2.0 * gamma * b) / ((_MIN_REPULSION_SQ_DIST + sq) * (1.0 + a * sq.pow(b)))
    return (coeff * diff).clamp_(-GRADIENT_CLIP, GRADIENT_CLIP)


def refine(
    index: TrainingIndex,
    x: torch.Tensor,
    init: torch.Tensor,
    *,
    n_neighbors: int,
    a: float,
    b: float,
    n_epochs: int,
    negative_sample_rate: int,
    generator: torch.Generator,
    repulsion_strength: float = 1.0,
    local_connectivity: float = 1.0,
) -> torch.Tensor:
    """Refined positions of the new rows ``x`` (as the k-NN graph saw data), from ``init``,
    with the fit's ``repulsion_strength`` and ``local_connectivity`` (as umap-learn's
    ``transform``: see `transform_memberships` and `refine_layout`).

    Works through `REFINE_CHUNK` rows at a time, so memory does not grow with ``len(x)``.
    """
    k = min(n_neighbors, index.n_samples)  # a new point is not in the index: k training points
    out = torch.empty_like(init, dtype=torch.float32)
    for start in range(0, x.shape[0], REFINE_CHUNK):
        stop = min(start + REFINE_CHUNK, x.shape[0])
        chunk = x[start:stop]
        graph = index.query(chunk if is_sparse(chunk) else chunk.to(index.points.device), k)
        weights = transform_memberships(graph.distances, local_connectivity)
        out[start:stop] = refine_layout(
            init[start:stop],
            index.embedding[graph.indices],
            weights,
            index.embedding,
            a=a,
            b=b,
            n_epochs=n_epochs,
            negative_sample_rate=negative_sample_rate,
            generator=generator,
            repulsion_strength=repulsion_strength,
        )
    return out


def _dense_chunk(x: Any, device: torch.device) -> torch.Tensor:
    """A chunk of scipy.sparse query rows (at most `REFINE_CHUNK`) as a float32 tensor."""
    return torch.from_numpy(x.toarray().astype(np.float32)).to(device)


def _unit_rows(x: torch.Tensor) -> torch.Tensor:
    """Rows scaled to unit length (zero rows stay zero)."""
    return x / x.norm(dim=1, keepdim=True).clamp_min(1e-12)
