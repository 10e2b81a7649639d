"""The two-stage top-k of wide rows selects the same columns as one `torch.topk`."""

from __future__ import annotations

import pytest
import torch

from pumap.knn.topk import TOPK_CHUNK, smallest_or_largest


@pytest.mark.parametrize("largest", [False, True])
@pytest.mark.parametrize("n", [TOPK_CHUNK, 3 * TOPK_CHUNK + 17])
def test_two_stage_selects_the_same_columns(n: int, largest: bool) -> None:
    scores = torch.randn(7, n, generator=torch.Generator().manual_seed(n))
    scores[0, :100] = 1e3 if largest else -1e3  # a row whose 100 best share one chunk
    scores[1, -5:] = 1e3 if largest else -1e3  # best ones in the padded last chunk
    want = torch.topk(scores, 23, dim=1, largest=largest).indices.sort(dim=1).values
    got = smallest_or_largest(scores, 23, largest=largest, two_stage=True)
    assert torch.equal(got.sort(dim=1).values, want)


def test_the_cpu_uses_one_topk_and_large_k_falls_back() -> None:
    scores = torch.randn(3, 2 * TOPK_CHUNK, generator=torch.Generator().manual_seed(0))
    want = torch.topk(scores, 5, dim=1, largest=False).indices.sort(dim=1).values
    assert torch.equal(smallest_or_largest(scores, 5, largest=False).sort(dim=1).values, want)
    big = TOPK_CHUNK + 1
    want = torch.topk(scores, big, dim=1).indices.sort(dim=1).values
    got = smallest_or_largest(scores, big, largest=True, two_stage=True)
    assert torch.equal(got.sort(dim=1).values, want)
