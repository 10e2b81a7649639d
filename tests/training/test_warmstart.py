"""The PCA warm start: principal axes against a float64 reference, and the row sample."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from pumap.data.pca import principal_axes
from pumap.training.encoder import build_encoder
from pumap.training.warmstart import fit_to_target, pca_init_target, pca_projection, warm_start


def _data(n: int = 1000, d: int = 12, seed: int = 0) -> torch.Tensor:
    rng = np.random.default_rng(seed)
    scales = np.linspace(5.0, 0.5, d)  # distinct variances: the axes are well defined
    x = rng.normal(size=(n, d)) * scales @ np.linalg.qr(rng.normal(size=(d, d)))[0] + 3.0
    return torch.from_numpy(x.astype(np.float32))


def test_principal_axes_match_a_float64_eigendecomposition() -> None:
    x = _data()
    mean, axes = principal_axes(x, 4, torch.Generator().manual_seed(0))
    x64 = x.double().numpy()
    _, vectors = np.linalg.eigh(np.cov(x64, rowvar=False))
    want = vectors[:, ::-1][:, :4].T
    np.testing.assert_allclose(mean.numpy(), x64.mean(axis=0), atol=1e-4)
    cosines = np.abs(np.sum(axes.double().numpy() * want, axis=1))
    np.testing.assert_allclose(cosines, 1.0, atol=1e-4)


class _Recorder(nn.Module):
    """Wraps an encoder and records which input rows it was shown."""

    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.inner = inner
        self.seen: list[torch.Tensor] = []

    def forward(self, rows: torch.Tensor) -> torch.Tensor:
        self.seen.append(rows.detach().clone())
        return self.inner(rows)


def test_warm_start_regresses_on_a_sample_of_rows_only() -> None:
    x = _data(n=20_000)
    encoder = _Recorder(build_encoder(12, (32,), 2, torch.Generator().manual_seed(0)))
    warm_start(encoder, x, 2, 1e-2, torch.Generator().manual_seed(0), max_rows=4096)
    seen = torch.unique(torch.cat(encoder.seen), dim=0)
    assert seen.shape[0] == 4096  # every sampled row, and no other
    # the sampled fit still gives the global shape: the output follows all rows' PCA scores
    with torch.no_grad():
        out = encoder.inner(x).numpy()
    scores = pca_projection(x, 2, torch.Generator().manual_seed(0)).numpy()
    corr = abs(np.corrcoef(out[:, 0], scores[:, 0])[0, 1])
    assert corr > 0.9


def test_warm_start_without_sampling_is_the_plain_regression() -> None:
    x = _data(n=400)
    a = build_encoder(12, (32,), 2, torch.Generator().manual_seed(0))
    b = build_encoder(12, (32,), 2, torch.Generator().manual_seed(0))
    warm_start(a, x, 2, 1e-2, torch.Generator().manual_seed(1), max_rows=400)
    generator = torch.Generator().manual_seed(1)
    fit_to_target(b, x, pca_init_target(x, 2, generator), 1e-2, generator)
    for p, q in zip(a.parameters(), b.parameters(), strict=True):
        assert torch.equal(p, q)
