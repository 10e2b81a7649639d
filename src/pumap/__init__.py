"""pumap: parametric UMAP in PyTorch.

The stages, in the order `Umap.fit` runs them: `data` (checks, standardisation), `knn` and
`graph` (neighbours, fuzzy graph), `training` (encoder, loop, checkpoints) and `model`
(`FittedUmap`, files); `umap` orders them, `config` holds every option, and `sklearn`, `cli`,
`plot`, `dask`, `anndata` and `datasets` are the front ends.
"""

from . import distributed  # noqa: F401 - `pumap.distributed` after `import pumap`, as before
from ._version import __version__
from .config import UmapConfig
from .io import ModelFormatError
from .knn import KnnGraph
from .model.fitted import FittedUmap
from .training.checkpoint import CheckpointError
from .training.trainer import EpochProgress, TrainingDiverged, TrainingInterrupted
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
