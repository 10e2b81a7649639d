"""The encoder network: a plain MLP, described by a small JSON-able spec so it can be rebuilt."""

from __future__ import annotations

import itertools
from typing import Any

import torch
from torch import nn


class MLP(nn.Sequential):
    """``Linear -> ReLU`` per hidden layer, then a linear output layer.

    Parameters
    ----------
    n_features : int
        Input dimension.
    hidden_layers : sequence of int
        Width of each hidden layer.
    n_components : int
        Output (embedding) dimension.
    """

    def __init__(self, n_features: int, hidden_layers: tuple[int, ...], n_components: int) -> None:
        widths = [n_features, *hidden_layers]
        layers: list[nn.Module] = []
        for fan_in, fan_out in itertools.pairwise(widths):
            layers += [nn.Linear(fan_in, fan_out), nn.ReLU()]
        layers.append(nn.Linear(widths[-1], n_components))
        super().__init__(*layers)
        self.n_features = n_features
        self.hidden_layers = tuple(hidden_layers)
        self.n_components = n_components

    def forward(self, x: Any) -> torch.Tensor:
        """The MLP of ``x``: a dense tensor, a sparse CSR tensor or `pumap.data.sparse.SparseRows`
        (whose rows the first layer multiplies sparse: nothing is densified)."""
        if hasattr(x, "sparse_tensor"):
            x = x.sparse_tensor()
        if x.layout == torch.strided:
            return super().forward(x)
        first = self[0]
        out = torch.mm(x, first.weight.T) + first.bias
        for layer in list(self)[1:]:
            out = layer(out)
        return out

    def spec(self) -> dict[str, Any]:
        """JSON-able description from which `MLP.from_spec` rebuilds the same architecture."""
        return {
            "type": "mlp",
            "n_features": self.n_features,
            "hidden_layers": list(self.hidden_layers),
            "n_components": self.n_components,
            "activation": "relu",
        }

    @classmethod
    def from_spec(cls, spec: dict[str, Any]) -> MLP:
        if spec.get("type") != "mlp" or spec.get("activation", "relu") != "relu":
            raise ValueError(f"not an MLP spec: {spec!r}")
        return cls(
            int(spec["n_features"]),
            tuple(int(w) for w in spec["hidden_layers"]),
            int(spec["n_components"]),
        )


def build_encoder(
    n_features: int, hidden_layers: tuple[int, ...], n_components: int, generator: torch.Generator
) -> MLP:
    """An MLP whose initial weights come from ``generator`` (not the global RNG)."""
    encoder = MLP(n_features, hidden_layers, n_components)
    with torch.no_grad():
        for module in encoder.modules():
            if isinstance(module, nn.Linear):
                bound = 1.0 / module.in_features**0.5
                # Uniform with variance 1 / fan_in for weights; biases as nn.Linear's default.
                module.weight.uniform_(-bound * 3**0.5, bound * 3**0.5, generator=generator)
                module.bias.uniform_(-bound, bound, generator=generator)
    return encoder
