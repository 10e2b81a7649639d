"""pumap: parametric UMAP in PyTorch."""

from ._version import __version__
from .checkpoint import CheckpointError
from .config import UmapConfig
from .fitted import FittedUmap
from .io import ModelFormatError
from .knn import KnnGraph
from .trainer import EpochProgress, TrainingDiverged, TrainingInterrupted
from .umap import Umap

__all__ = [
    "CheckpointError",
    "EpochProgress",
    "FittedUmap",
    "KnnGraph",
    "ModelFormatError",
    "TrainingDiverged",
    "TrainingInterrupted",
    "Umap",
    "UmapConfig",
    "__version__",
]


def __getattr__(name: str) -> object:
    # scikit-learn is optional: `ParametricUMAP` (and so sklearn) is imported on first use only.
    # pumap.sklearn raises an ImportError saying how to install scikit-learn when it is missing.
    if name == "ParametricUMAP":
        from .sklearn import ParametricUMAP

        return ParametricUMAP
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
