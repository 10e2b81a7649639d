"""Single-cell helpers: fit and apply pumap on `anndata.AnnData` objects, scanpy's way.

`fit` reads a representation (``adata.obsm["X_pca"]`` by default), writes the embedding to
``adata.obsm["X_pumap"]`` and records the options and the model itself in
``adata.uns["pumap"]`` (the model file's safetensors bytes as a ``uint8`` array, which
`anndata.AnnData.write_h5ad` keeps; nothing is pickled). `transform` embeds query cells with
a model read back from such an AnnData. Needs ``pip install "pumap[anndata]"``; ``import
pumap`` does not import anndata.
"""

from __future__ import annotations

import tempfile
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from .model.fitted import FittedUmap
from .umap import Umap

DEFAULT_REP = "X_pca"
DEFAULT_KEY = "X_pumap"


def fit(
    adata: Any,
    *,
    use_rep: str = DEFAULT_REP,
    key_added: str = DEFAULT_KEY,
    copy: bool = False,
    **options: Any,
) -> Any:
    """Fit pumap on the cells of ``adata`` and store the embedding and the model in it.

    Parameters
    ----------
    adata : anndata.AnnData
        The cells (rows) to embed.
    use_rep : str
        A key of ``adata.obsm``, or ``"X"`` for ``adata.X``. When the default ``"X_pca"`` is
        absent, ``adata.X`` is used with a warning. A sparse ``adata.X`` (scipy.sparse,
        in memory) is taken as `pumap.Umap.fit` takes it; a backed (on-disk) one must be
        loaded first (``adata.to_memory()``).
    key_added : str
        ``adata.obsm[key_added]`` receives the embedding; the record goes to
        ``adata.uns["pumap"]`` for the default key, ``adata.uns[key_added]`` otherwise.
    copy : bool
        Work on a copy of ``adata`` and return it, instead of changing ``adata``.
    **options
        `pumap.UmapConfig` options, e.g. ``n_neighbors=15, seed=0``.

    Returns
    -------
    anndata.AnnData or None
        The copy when ``copy=True``, else None.

    Raises
    ------
    ImportError
        If anndata is not installed.
    ValueError
        If ``use_rep`` names nothing in ``adata`` or the chosen matrix is a backed sparse
        dataset.
    """
    _require_anndata(adata)
    if copy:
        adata = adata.copy()
    x, used = _representation(adata, use_rep, fallback=use_rep == DEFAULT_REP)
    fitted = Umap(**options).fit(x)
    adata.obsm[key_added] = np.asarray(fitted.embedding, dtype=np.float32)
    params = {k: v for k, v in fitted.config.to_dict().items() if v is not None}
    adata.uns[_uns_key(key_added)] = {
        "params": {"use_rep": used, "key_added": key_added, **params},
        "model": _model_bytes(fitted),
    }
    return adata if copy else None


def load_model(adata: Any, key: str = DEFAULT_KEY, *, device: str = "cpu") -> FittedUmap:
    """The model `fit` stored in ``adata`` (under ``key_added=key``), as a `FittedUmap`."""
    _require_anndata(adata)
    record = _record(adata, key)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "model.safetensors"
        path.write_bytes(np.asarray(record["model"], dtype=np.uint8).tobytes())
        return FittedUmap.load(path, device=device)


def transform(
    adata: Any,
    *,
    model_from: Any,
    key: str = DEFAULT_KEY,
    use_rep: str | None = None,
    key_added: str | None = None,
    refine: bool = False,
    copy: bool = False,
) -> Any:
    """Embed the cells of ``adata`` (query cells) with the model stored in ``model_from``.

    Parameters
    ----------
    adata : anndata.AnnData
        The query cells; their ``use_rep`` must have the reference's features (for
        ``"X_pca"``: projected on the reference's principal axes, as ``scanpy.tl.ingest``
        does).
    model_from : anndata.AnnData
        The reference that `fit` wrote the model into.
    key : str
        The ``key_added`` of that fit.
    use_rep, key_added : str, optional
        By default those of the reference's fit.
    refine : bool
        As in `pumap.FittedUmap.transform`.
    copy : bool
        Work on a copy of ``adata`` and return it.

    Returns
    -------
    anndata.AnnData or None
        The copy when ``copy=True``, else None.
    """
    _require_anndata(adata)
    model = load_model(model_from, key)
    params = _record(model_from, key)["params"]
    use_rep = use_rep or str(params["use_rep"])
    if copy:
        adata = adata.copy()
    x, _ = _representation(adata, use_rep, fallback=False)
    adata.obsm[key_added or key] = model.transform(x, refine=refine)
    return adata if copy else None


def _require_anndata(adata: Any) -> None:
    try:
        import anndata
    except ImportError as err:
        raise ImportError(
            'pumap.anndata needs anndata: pip install "pumap[anndata]"'
        ) from err
    if not isinstance(adata, anndata.AnnData):
        raise TypeError(f"adata must be an anndata.AnnData, got {type(adata).__name__}")


def _representation(adata: Any, use_rep: str, *, fallback: bool) -> tuple[Any, str]:
    """The matrix to embed and the name of what was used."""
    if use_rep != "X" and use_rep in adata.obsm:
        matrix, used = adata.obsm[use_rep], use_rep
    elif use_rep == "X" or fallback:
        if use_rep != "X":
            warnings.warn(
                f"adata.obsm[{use_rep!r}] is absent; embedding adata.X "
                f"({adata.n_vars} features) instead. Run scanpy.pp.pca(adata) first, or pass "
                "use_rep='X' to silence this warning",
                UserWarning,
                stacklevel=3,
            )
        matrix, used = adata.X, "X"
    else:
        raise ValueError(
            f"use_rep={use_rep!r} is not in adata.obsm (it has {sorted(adata.obsm.keys())}); "
            "pass use_rep='X' for adata.X"
        )
    if _is_backed_sparse(matrix):
        raise ValueError(
            f"{'adata.X' if used == 'X' else f'adata.obsm[{used!r}]'} is a backed (on-disk) "
            "sparse dataset, which pumap cannot read in place: load it with "
            "adata.to_memory() (in-memory scipy.sparse matrices are taken), or run "
            "scanpy.pp.pca(adata) first and use_rep='X_pca'"
        )
    return matrix, used


def _is_backed_sparse(matrix: Any) -> bool:
    return type(matrix).__name__ in {"CSRDataset", "CSCDataset"}


def _uns_key(key_added: str) -> str:
    return "pumap" if key_added == DEFAULT_KEY else key_added


def _record(adata: Any, key: str) -> Any:
    uns_key = _uns_key(key)
    record = adata.uns.get(uns_key)
    if record is None or "model" not in record:
        raise ValueError(
            f"adata.uns[{uns_key!r}] holds no pumap model: run pumap.anndata.fit on it first "
            f"(with key_added={key!r})"
        )
    return record


def _model_bytes(fitted: FittedUmap) -> np.ndarray:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "model.safetensors"
        fitted.save(path)
        return np.frombuffer(path.read_bytes(), dtype=np.uint8).copy()
