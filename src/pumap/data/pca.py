"""Principal axes by a seeded randomised range finder, for the warm start and the refine sketch."""

from __future__ import annotations

import torch

POWER_ITERATIONS = 4  # sharpen the leading subspace of the range finder
OVERSAMPLING = 10  # extra probe columns beyond the axes wanted


def principal_axes(
    x: torch.Tensor, n_axes: int, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and leading principal axes of the rows of ``x``.

    Parameters
    ----------
    x : torch.Tensor
        ``(n, d)`` floating-point data.
    n_axes : int
        Axes wanted; at most ``min(n, d)`` are returned.
    generator : torch.Generator
        On ``x``'s device; seeds the random probe, so the result is reproducible.

    Returns
    -------
    mean : torch.Tensor
        ``(d,)`` column means.
    axes : torch.Tensor
        ``(c, d)`` orthonormal rows, ``c = min(n_axes, n, d)``, by decreasing variance.
    """
    mean = x.mean(dim=0)
    xc = x - mean
    n, d = xc.shape
    c = min(n_axes, n, d)
    width = min(c + OVERSAMPLING, n, d)
    probe = torch.randn(d, width, generator=generator, device=x.device, dtype=x.dtype)
    basis = _orthonormal(xc @ probe)
    for _ in range(POWER_ITERATIONS):
        basis = _orthonormal(xc @ (xc.T @ basis))
    _, _, vh = torch.linalg.svd((basis.T @ xc).cpu(), full_matrices=False)
    return mean, vh[:c].to(x.device)


def _orthonormal(a: torch.Tensor) -> torch.Tensor:
    """An orthonormal basis of the columns of the tall, thin ``a``, on ``a``'s device.

    The factorisation runs on the CPU: ``a`` has a few columns, so its copies are small,
    while the first QR on a GPU loads the device's solver library (cuSOLVER), a one-off
    stall of seconds per process that the products around it do not pay.
    """
    return torch.linalg.qr(a.cpu()).Q.to(a.device)
