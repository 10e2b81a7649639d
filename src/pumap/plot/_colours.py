"""Colours of `pumap.plot.points`: classes or a continuous scale, shared by both point sets.

Private helper of pumap.plot; imported only after matplotlib was found.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

MAX_AUTO_CLASSES = 30
"""Integer labels with at most this many distinct values are classes; more are a quantity."""

UNLABELLED = "C0"
UNLABELLED_HELD_OUT = "C1"
HELD_OUT_EDGE = "0.25"


@dataclass
class Colours:
    """How to colour the points (indices ``0..n-1``) and held-out points (``0..m-1``)."""

    continuous: bool = False
    names: list[str] = field(default_factory=list)
    palette: np.ndarray | None = None  # (k, 4) RGBA per class
    codes: np.ndarray | None = None  # class index per point
    held_codes: np.ndarray | None = None
    values: np.ndarray | None = None  # continuous labels per point
    held_values: np.ndarray | None = None
    cmap: Any = None
    norm: Any = None
    unlabelled: bool = True
    held_unlabelled: bool = True  # held-out points without labels get one neutral colour

    @classmethod
    def of(
        cls,
        labels: np.ndarray | None,
        held_labels: np.ndarray | None,
        kind: str,
        class_names: Mapping[Any, str] | Sequence[str] | None,
        cmap: str | None,
    ) -> Colours:
        """Pick classes or a scale from the labels of both point sets."""
        import matplotlib

        if labels is None:
            return cls()
        both = labels if held_labels is None else np.concatenate([labels, held_labels])
        n = labels.shape[0]
        if _is_categorical(both, kind, class_names):
            if both.dtype.kind == "f" and _integral(both):
                both = both.astype(np.int64)
            classes, codes = np.unique(both, return_inverse=True)
            codes = codes.reshape(-1)
            names = [_class_name(c, class_names) for c in classes]
            return cls(
                names=names, palette=_palette(len(classes), cmap), codes=codes[:n],
                held_codes=codes[n:], unlabelled=False, held_unlabelled=held_labels is None,
            )
        if both.dtype.kind not in "iuf":
            raise ValueError(
                f"continuous labels must be numbers, got {both.dtype} values such as {both[0]!r}"
            )
        values = both.astype(np.float64)
        finite = values[np.isfinite(values)]
        lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
        return cls(
            continuous=True, values=values[:n], held_values=values[n:],
            cmap=matplotlib.colormaps[cmap or "viridis"],
            norm=matplotlib.colors.Normalize(lo, hi), unlabelled=False,
            held_unlabelled=held_labels is None,
        )

    def style(self, index: np.ndarray, *, held: bool) -> dict[str, Any]:
        """Keyword arguments of ``Axes.scatter`` for the points `index` of one point set."""
        if self.unlabelled:
            return {"edgecolors": UNLABELLED_HELD_OUT} if held else {"color": UNLABELLED}
        if held and self.held_unlabelled:
            return {"edgecolors": HELD_OUT_EDGE}
        if self.continuous:
            values = (self.held_values if held else self.values)[index]
            if held:
                return {"edgecolors": self.cmap(self.norm(values))}
            return {"c": values, "cmap": self.cmap, "norm": self.norm}
        codes = (self.held_codes if held else self.codes)[index]
        rgba = self.palette[codes]
        return {"edgecolors": rgba} if held else {"c": rgba}

    def legend_handles(self) -> list[Any]:
        """One legend marker per class (none for unlabelled or continuous points)."""
        from matplotlib.lines import Line2D

        if self.palette is None:
            return []
        return [
            Line2D([], [], linestyle="", marker="o", markersize=6, markeredgewidth=0,
                   markerfacecolor=self.palette[i], label=name)
            for i, name in enumerate(self.names)
        ]

    @property
    def held_out_edge(self) -> str:
        """Colour of the held-out legend marker."""
        return UNLABELLED_HELD_OUT if self.unlabelled else HELD_OUT_EDGE


def _is_categorical(labels: np.ndarray, kind: str, class_names: Any) -> bool:
    if kind != "auto":
        return kind == "categorical"
    if class_names is not None or labels.dtype.kind not in "iuf":
        return True
    if labels.dtype.kind == "f" and not _integral(labels):
        return False
    return len(np.unique(labels)) <= MAX_AUTO_CLASSES


def _integral(values: np.ndarray) -> bool:
    return bool(np.isfinite(values).all() and np.array_equal(values, np.round(values)))


def _palette(k: int, cmap: str | None) -> np.ndarray:
    """``(k, 4)`` RGBA colours that stay apart: a qualitative map's colours, else samples."""
    import matplotlib
    from matplotlib.colors import ListedColormap, to_rgba_array

    name = cmap or ("tab10" if k <= 10 else "tab20" if k <= 20 else "turbo")
    colour_map = matplotlib.colormaps[name]
    if isinstance(colour_map, ListedColormap) and k <= colour_map.N:
        return to_rgba_array(colour_map.colors[:k])
    return colour_map(np.linspace(0.0, 1.0, k))


def _class_name(label: Any, class_names: Mapping[Any, str] | Sequence[str] | None) -> str:
    """Legend text of one class."""
    key = label.item() if isinstance(label, np.generic) else label
    if class_names is None:
        return str(key)
    if isinstance(class_names, Mapping):
        if key not in class_names:
            raise ValueError(f"class_names has no entry for label {key!r}")
        return str(class_names[key])
    is_int = np.issubdtype(np.asarray(label).dtype, np.integer)
    if not is_int or not 0 <= int(label) < len(class_names):
        raise ValueError(
            f"a sequence of class_names needs integer labels in [0, {len(class_names)}), "
            f"got {label!r}; pass a mapping instead"
        )
    return str(class_names[int(label)])
