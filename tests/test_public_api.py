"""Every public import path works: what users import by name, whatever the package's layout.

The internal modules (`pumap.data`, `pumap.graph`, `pumap.training`, `pumap.model`, ...) may
move; these may not.
"""

from __future__ import annotations

import importlib
import subprocess
import sys
from pathlib import Path

import pytest

import pumap

ROOT = Path(__file__).resolve().parents[1]

TOP_LEVEL = [
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

# module -> names the docs (docs/api.md, the how-tos, README) tell users to import from it
PUBLIC = {
    "pumap.config": ["UmapConfig", "option_table", "OptionInfo"],
    "pumap.io": [
        "FORMAT_VERSION", "ModelFormatError", "ModelParts", "detect_format", "load_weights",
        "read_metadata", "read_model", "save_model", "save_weights",
    ],
    "pumap.knn": [
        "APPROXIMATE_METHODS", "COSINE_EPS", "DEFAULT_MEMORY_BUDGET", "KnnGraph", "TopK",
        "build_knn", "choose_method", "default_memory_budget", "estimate_recall", "exact_knn",
        "exact_search", "gpu_memory_budget", "ivf_search", "knn_topk", "nndescent_knn",
        "nndescent_search", "pairwise_distances",
    ],
    "pumap.knn.exact": ["exact_knn", "pairwise_distances", "TopK"],
    "pumap.knn.budget": ["default_memory_budget", "gpu_memory_budget"],
    "pumap.knn.nndescent": ["nndescent_knn"],
    "pumap.knn.ivf": ["ivf_search", "estimate_recall"],
    "pumap.knn.recall": ["estimate_recall", "RECALL_BLOCK_BYTES"],
    "pumap.knn.topk": ["smallest_or_largest"],
    "pumap.knn.choose": ["choose_method", "build_knn"],
    "pumap.knn.metrics": ["block_distances", "generic_search", "query_knn"],
    "pumap.knn.sparse": ["sparse_knn"],
    "pumap.knn.precomputed": ["precomputed_knn_graph", "distance_matrix_knn"],
    "pumap.plot": ["points", "save_points", "PLOT_SUFFIXES", "RASTERIZE_ABOVE", "interactive",
                   "to_frame", "to_parquet", "HTML_SUFFIXES", "MAX_INTERACTIVE_POINTS"],
    "pumap.dask": ["transform", "model_bytes", "cache_info", "clear_cache"],
    "pumap.anndata": ["fit", "transform", "load_model"],
    "pumap.datasets": ["make_clusters", "load_digits", "load_mnist", "fetch_mnist", "read_idx"],
    "pumap.device": ["available_devices", "resolve_device"],
    "pumap.distributed": ["rank", "shutdown"],
    "pumap.compat": ["UMAP_LEARN_PARAMETERS"],
    "pumap.cli": ["main"],
}


def test_the_top_level_names():
    namespace: dict = {}
    exec(f"from pumap import {', '.join(TOP_LEVEL)}", namespace)
    assert set(TOP_LEVEL) <= set(namespace)
    assert set(pumap.__all__) == set(TOP_LEVEL)


def test_parametric_umap_from_the_top_and_from_pumap_sklearn():
    pytest.importorskip("sklearn")
    import pumap.sklearn

    assert pumap.ParametricUMAP is pumap.sklearn.ParametricUMAP


@pytest.mark.parametrize("module", PUBLIC)
def test_public_module_has_its_names(module):
    imported = importlib.import_module(module)
    missing = [name for name in PUBLIC[module] if not hasattr(imported, name)]
    assert not missing, f"{module} lacks {missing}"


def test_import_pumap_alone_sets_its_modules():
    """`import pumap` alone gives these, as it always did (in a fresh interpreter: here the
    other tests have imported everything)."""
    code = "import pumap; print(pumap.config, pumap.io, pumap.knn, pumap.distributed, pumap.umap)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr


def test_console_script_target_resolves():
    tomllib = pytest.importorskip("tomllib")
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    module, _, attr = scripts["pumap"].partition(":")
    assert callable(getattr(importlib.import_module(module), attr))


def test_python_dash_m_pumap():
    done = subprocess.run(
        [sys.executable, "-m", "pumap", "--help"], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    assert "fit" in done.stdout and "transform" in done.stdout
