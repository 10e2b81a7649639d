"""Training a wide input's encoder on its leading principal components, then folding them in.

On wide dense data (Fashion-MNIST's 784 pixels) the encoder's first layer is most of a training
step's cost. `fit_projection` finds the input's leading principal axes; the encoder is trained on
the scaled scores ``(x - mean) @ matrix`` instead of ``x``; `fold_projection` then multiplies the
projection into the first layer, so the fitted model is an ordinary MLP that reads ``x`` (the
same model file, the same ``transform``). Off by default (``input_pca=None``): a trade-off of
training time against the forward pass on some data, measured in docs/benchmarks.md.
"""

from __future__ import annotations

import copy
import warnings
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from ..data.pca import principal_axes

_BLOCK_ROWS = 16_384  # rows projected at a time: bounds the centred copy's memory


@dataclass(frozen=True)
class InputProjection:
    """``x -> (x - mean) @ matrix``: scores on the leading principal axes, scaled.

    Attributes
    ----------
    mean : torch.Tensor
        ``(d,)`` the input's column means.
    matrix : torch.Tensor
        ``(d, c)`` the principal axes as columns, divided by one common scale that gives the
        scores a mean variance of 1 per component (the average a z-scored feature has at
        most), so the encoder's initial weights suit them as they suit ``x``.
    """

    mean: torch.Tensor
    matrix: torch.Tensor

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([(block - self.mean) @ self.matrix for block in x.split(_BLOCK_ROWS)])

    @property
    def n_components(self) -> int:
        return self.matrix.shape[1]


def projection_components(
    n_components: int | None, x: Any, encoder: nn.Module | None, *, joint_decoder: bool,
    input_dropout: float,
) -> int | None:
    """The components to train on, or None where the projection does not apply.

    It applies to dense input with more features than ``n_components``, with pumap's own
    MLP (``encoder`` None: a given module need not start with a linear layer), no decoder
    trained jointly (its reconstruction target is ``x`` itself), and no input dropout
    (which drops input features, not components); where one of these stops it, a warning
    says which. Input no wider than ``n_components`` is trained on as it is.
    """
    if n_components is None:
        return None
    dense = isinstance(x, torch.Tensor) and x.layout == torch.strided
    why = (
        "X is sparse" if not dense
        else "a given encoder need not start with a linear layer" if encoder is not None
        else "the jointly trained decoder reconstructs X itself" if joint_decoder
        else "input_dropout drops features, not components" if input_dropout > 0
        else None
    )
    if why is not None:
        warnings.warn(f"input_pca={n_components} is not applied: {why}", stacklevel=3)
        return None
    return n_components if x.shape[1] > n_components else None


def fit_projection(
    x: torch.Tensor, n_components: int, generator: torch.Generator
) -> tuple[InputProjection, torch.Tensor]:
    """The projection of ``x`` onto its ``n_components`` leading principal axes (seeded), and
    ``x`` projected (computed once: the scale needs the scores).

    Parameters
    ----------
    x : torch.Tensor
        ``(n, d)`` the encoder's input (standardised data).
    n_components : int
        Axes kept (at most ``min(n, d)``).
    generator : torch.Generator
        On ``x``'s device; the randomised range finder's probe.
    """
    mean, axes = principal_axes(x, n_components, generator)
    scores = InputProjection(mean, axes.T.contiguous())(x)
    scale = max(float(scores.pow(2).mean()) ** 0.5, 1e-12)
    return InputProjection(mean, axes.T / scale), scores / scale


def fold_projection(encoder: nn.Module, projection: InputProjection) -> nn.Module:
    """A copy of ``encoder`` (trained on ``projection(x)``) that reads ``x`` itself.

    The first linear layer ``h = W p + c`` of ``p = (x - mean) @ M`` becomes
    ``h = (W M^T) x + (c - W M^T mean)``, computed in float64 and stored in the layer's dtype.
    The encoder must be a sequence whose first module is `torch.nn.Linear` (pumap's MLP).
    """
    first = encoder[0]  # type: ignore[index]
    if not isinstance(first, nn.Linear):
        raise TypeError(f"the encoder's first module must be nn.Linear, got {type(first).__name__}")
    weight = first.weight.detach().double() @ projection.matrix.T.double()
    bias = first.bias.detach().double() - weight @ projection.mean.double()
    folded = copy.deepcopy(encoder)
    wide = nn.Linear(weight.shape[1], weight.shape[0], device=first.weight.device)
    with torch.no_grad():
        wide.weight.copy_(weight.to(first.weight.dtype))
        wide.bias.copy_(bias.to(first.bias.dtype))
    folded[0] = wide  # type: ignore[index]
    if hasattr(folded, "n_features"):
        folded.n_features = weight.shape[1]
    return folded
