"""pumap: parametric UMAP in PyTorch."""

from ._version import __version__
from .config import UmapConfig
from .fitted import FittedUmap
from .knn import KnnGraph
from .trainer import EpochProgress, TrainingDiverged
from .umap import Umap

__all__ = [
    "EpochProgress",
    "FittedUmap",
    "KnnGraph",
    "TrainingDiverged",
    "Umap",
    "UmapConfig",
    "__version__",
]
