"""Row-wise top-k of wide score matrices in two stages, for the exact search's blocks.

``torch.topk`` over a row of a million scores is slow on a GPU (one selection per row over
all of it). Splitting each row into chunks, keeping each chunk's best ``k`` and then the best
``k`` of those gives the same set: any of the row's ``k`` best is among its chunk's ``k``
best. Both stages are batched selections over short rows, which GPUs do at memory speed.
"""

from __future__ import annotations

import math

import torch

TOPK_CHUNK = 4096  # columns per first-stage chunk
# Rows at least this wide take the two-stage path on CUDA; elsewhere `torch.topk` is used as
# it is (on the CPU one `torch.topk` was 3x faster: 64 x 1e6 scores, k = 23, one thread).
TWO_STAGE_MIN_COLUMNS = 131_072


def smallest_or_largest(
    scores: torch.Tensor, k: int, *, largest: bool, two_stage: bool | None = None
) -> torch.Tensor:
    """Column indices of the ``k`` largest (or smallest) entries of each row, unordered.

    ``two_stage=None`` decides by device and width (`TWO_STAGE_MIN_COLUMNS`, CUDA only).
    Ties at the ``k``-th value may be broken differently from one `torch.topk` (the exact
    search recomputes and re-sorts its candidates' distances, so only the candidate set
    matters, and it keeps a margin beyond ``k``).
    """
    rows, n = scores.shape
    if two_stage is None:
        two_stage = scores.device.type == "cuda" and n >= TWO_STAGE_MIN_COLUMNS
    if not two_stage or k >= TOPK_CHUNK:
        return torch.topk(scores, k, dim=1, largest=largest, sorted=False).indices
    chunks = math.ceil(n / TOPK_CHUNK)
    pad = chunks * TOPK_CHUNK - n
    if pad:
        fill = -math.inf if largest else math.inf
        scores = torch.nn.functional.pad(scores, (0, pad), value=fill)
    kept = min(k, TOPK_CHUNK)
    values, local = torch.topk(
        scores.view(rows, chunks, TOPK_CHUNK), kept, dim=2, largest=largest, sorted=False
    )
    columns = local + (torch.arange(chunks, device=scores.device) * TOPK_CHUNK)[None, :, None]
    best = torch.topk(values.reshape(rows, -1), k, dim=1, largest=largest, sorted=False).indices
    return columns.reshape(rows, -1).gather(1, best)
