"""ONNX export of a fitted model's encoder (or decoder), the standardisation folded in.

The encoder's file maps raw float32 features ``(batch, n_features)``, input ``"features"``,
to the embedding ``(batch, n_components)``, output ``"embedding"``: exactly
`FittedUmap.transform` without refinement. The decoder's file maps ``"embedding"`` to
``"features"`` in the original units, as `FittedUmap.inverse_transform`. The batch axis is
dynamic in both.

The export uses torch's TorchScript-based exporter (``torch.onnx.export(..., dynamo=False)``),
which needs nothing beyond the ``onnx`` package; the ``torch.export``-based exporter, torch's
default since 2.9, would also need ``onnxscript``. The file is checked with
``onnx.checker`` and written atomically (`pumap.model.formats.atomic_write`).
"""

from __future__ import annotations

import copy
import os
import warnings
from pathlib import Path

import torch
from torch import nn

from .formats import atomic_write
from .model_file import ModelParts

OPSET = 17
PARTS = ("encoder", "decoder")


class StandardizedEncoder(nn.Module):
    """``encoder((x - mean) / std)``: the encoder with the training standardisation in front."""

    def __init__(self, encoder: nn.Module, mean: torch.Tensor, std: torch.Tensor) -> None:
        super().__init__()
        self.encoder = encoder
        self.register_buffer("mean", mean.detach().to(torch.float32).clone())
        self.register_buffer("std", std.detach().to(torch.float32).clone())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder((x - self.mean) / self.std)


class DestandardizedDecoder(nn.Module):
    """``decoder(y) * std + mean``: the decoder's output in the original units."""

    def __init__(self, decoder: nn.Module, mean: torch.Tensor, std: torch.Tensor) -> None:
        super().__init__()
        self.decoder = decoder
        self.register_buffer("mean", mean.detach().to(torch.float32).clone())
        self.register_buffer("std", std.detach().to(torch.float32).clone())

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        return self.decoder(y) * self.std + self.mean


def export_onnx(
    fitted: ModelParts, path: str | os.PathLike[str], *, part: str = "encoder", opset: int = OPSET
) -> Path:
    """Write ``fitted``'s encoder (or decoder) to ``path`` as ONNX, atomically.

    Parameters
    ----------
    fitted : FittedUmap or ModelParts
        The model, or its parts (``FittedUmap.export_onnx`` passes those); it is not changed
        (a CPU copy of the network is exported).
    path : str or os.PathLike
        Destination ``.onnx`` file.
    part : {"encoder", "decoder"}
        ``"encoder"``: raw features in, embedding out. ``"decoder"``: embedding in, features
        (original units) out; the model must have a decoder.
    opset : int
        ONNX opset version.

    Returns
    -------
    pathlib.Path
        The path written.

    Raises
    ------
    ImportError
        If ``onnx`` is not installed (``pip install "pumap[onnx]"``).
    ValueError
        For an unknown ``part``, or ``part="decoder"`` of a model without one.
    """
    if part not in PARTS:
        raise ValueError(f"part must be 'encoder' or 'decoder', got {part!r}")
    try:
        import onnx
    except ImportError as err:
        raise ImportError(
            'export_onnx needs the onnx package: pip install "pumap[onnx]" (onnx and, to run '
            "the file, onnxruntime)"
        ) from err
    mean, std = fitted.standardizer.mean.cpu(), fitted.standardizer.std.cpu()
    if part == "encoder":
        module: nn.Module = StandardizedEncoder(_cpu_copy(fitted.encoder), mean, std)
        names, width = ("features", "embedding"), fitted.standardizer.n_features
    else:
        if fitted.decoder is None:
            raise ValueError(
                "part='decoder' but this model has no decoder: fit with Umap(decoder=True)"
            )
        module = DestandardizedDecoder(_cpu_copy(fitted.decoder), mean, std)
        names, width = ("embedding", "features"), fitted.config.n_components
    example = torch.zeros((2, width), dtype=torch.float32)
    path = Path(path)

    def write(tmp: Path) -> None:
        with warnings.catch_warnings():
            # torch says the TorchScript-based exporter is legacy; it is the one that needs no
            # onnxscript, and its output is checked below.
            warnings.filterwarnings("ignore", category=DeprecationWarning)
            warnings.filterwarnings("ignore", category=FutureWarning)
            warnings.filterwarnings("ignore", message=".*legacy TorchScript-based ONNX export.*")
            torch.onnx.export(
                module,
                (example,),
                str(tmp),
                input_names=[names[0]],
                output_names=[names[1]],
                dynamic_axes={names[0]: {0: "batch"}, names[1]: {0: "batch"}},
                opset_version=opset,
                dynamo=False,
            )
        onnx.checker.check_model(str(tmp))

    atomic_write(path, write)
    return path


def _cpu_copy(module: nn.Module) -> nn.Module:
    return copy.deepcopy(module).to("cpu").eval()
