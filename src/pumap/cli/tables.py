"""Tables the command line reads and writes: features and labels from CSV / NPY / NPZ files.

`load_table` reads a feature matrix and optional labels (a CSV column, an ``.npz`` array or a
file of one label per line), detecting a text file's delimiter and header, and names the
file, line and column of anything it cannot use (messages speak of the ``pumap`` options,
``--labels``, ``--key``, since the command line is their user). `write_embedding` writes an
embedding as ``.npy`` or ``.csv``.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["Dataset", "load_table", "write_embedding"]


@dataclass
class Dataset:
    """Features, optional labels and where they came from (for messages)."""

    x: np.ndarray
    labels: np.ndarray | None
    source: str


def load_table(
    path: str | Path,
    *,
    key: str | None = None,
    labels: str | None = None,
    delimiter: str | None = None,
    header: bool | None = None,
) -> Dataset:
    """Read a feature matrix (and optional labels) from a ``.csv``/text, ``.npy`` or ``.npz`` file.

    Parameters
    ----------
    path : str or Path
        The data file; ``.npy`` and ``.npz`` by suffix, anything else is read as delimited text.
    key : str, optional
        Array of an ``.npz`` file to use; by default its first array.
    labels : str, optional
        A CSV column (by header name, or by 0-based index, negative from the end) or an
        ``.npz`` array holding the labels, removed from the features; otherwise a file with
        one label per line (or a ``.npy`` array).
    delimiter : str, optional
        Field separator of a text file; by default detected from its first line (comma, tab,
        semicolon, else whitespace).
    header : bool, optional
        Whether a text file's first row holds column names; by default detected (a first row
        with a non-numeric field is a header).

    Returns
    -------
    Dataset

    Raises
    ------
    FileNotFoundError, ValueError
        With a message naming the file and the problem.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file")
    if path.is_dir():
        raise ValueError(f"{path} is a directory, not a data file")
    suffix = path.suffix.lower()
    if key is not None and suffix != ".npz":
        raise ValueError(f"--key only applies to .npz files, not {path.name}")
    if suffix == ".npy":
        x = _load_npy(path)
        y = _read_label_file(labels, x.shape[0]) if labels is not None else None
    elif suffix == ".npz":
        x, y = _load_npz(path, key, labels)
    else:
        x, y = _load_text(path, labels, delimiter, header)
    _check_features(x, path)
    return Dataset(x, y, str(path))


def _load_npy(path: Path) -> np.ndarray:
    try:
        return np.load(path, allow_pickle=False)
    except ValueError as err:
        raise ValueError(f"{path} is not a readable .npy array: {err}") from None


def _load_npz(path: Path, key: str | None, labels: str | None) -> tuple[np.ndarray, Any]:
    try:
        archive = np.load(path, allow_pickle=False)
    except (ValueError, OSError) as err:
        raise ValueError(f"{path} is not a readable .npz archive: {err}") from None
    with archive:
        names = list(archive.files)
        if not names:
            raise ValueError(f"{path} holds no arrays")
        if key is None:
            key = names[0]
        elif key not in names:
            raise ValueError(f"{path} has no array {key!r}; it has: {', '.join(names)}")
        x = archive[key]
        if labels is not None and labels in names:
            return x, _check_labels(archive[labels], x.shape[0], f"{path}[{labels}]")
    y = _read_label_file(labels, x.shape[0]) if labels is not None else None
    return x, y


def _detect_delimiter(line: str) -> str | None:
    for candidate in (",", "\t", ";"):
        if candidate in line:
            return candidate
    return None  # whitespace


def _split(line: str, delimiter: str | None) -> list[str]:
    if delimiter is None:
        return line.split()
    return [field.strip() for field in next(csv.reader([line], delimiter=delimiter))]


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _load_text(
    path: Path, labels: str | None, delimiter: str | None, header: bool | None
) -> tuple[np.ndarray, np.ndarray | None]:
    try:
        with path.open(encoding="utf-8-sig", newline="") as fh:
            lines = [(i + 1, line) for i, line in enumerate(fh) if line.strip()]
    except UnicodeDecodeError:
        raise ValueError(
            f"{path} is not a text (CSV) file; data files must be .csv, .npy or .npz"
        ) from None
    if not lines:
        raise ValueError(f"{path} is empty")
    if delimiter is None:
        delimiter = _detect_delimiter(lines[0][1])
    first = _split(lines[0][1], delimiter)
    if header is None:
        header = not all(_is_number(field) for field in first)
    columns = first if header else None
    if header:
        lines = lines[1:]
        if not lines:
            raise ValueError(f"{path} has a header but no data rows")
    width = len(columns) if columns is not None else len(_split(lines[0][1], delimiter))

    label_column = None
    if labels is not None:
        label_column = _find_column(labels, columns, width)
        if label_column is None and not Path(labels).is_file():
            where = (
                f"(columns: {', '.join(columns[:10])}{', ...' if width > 10 else ''})"
                if columns is not None
                else f"(it has {width} columns and no header)"
            )
            raise ValueError(
                f"--labels {labels!r} is neither a column of {path} {where} nor an existing file"
            )
    keep = [j for j in range(width) if j != label_column]
    if not keep:
        raise ValueError(f"{path} has no feature columns besides the labels")

    body = [line for _, line in lines]
    read = {"delimiter": delimiter, "comments": None, "quotechar": '"'}
    try:  # NumPy's C parser; on failure the slow loop below says exactly where and why
        x = np.loadtxt(body, usecols=keep, dtype=np.float32, ndmin=2, **read)
        y = None
        if label_column is not None:
            y = np.loadtxt(body, usecols=[label_column], dtype=str, ndmin=1, **read)
    except ValueError as err:
        _diagnose_text(path, lines, delimiter, columns, width, keep)
        raise ValueError(f"{path}: {err}") from None
    _check_finite_text(path, x, lines, delimiter, columns, keep)
    if y is not None:
        return x, _tidy_labels(np.char.strip(y))
    if labels is not None:
        return x, _read_label_file(labels, x.shape[0])
    return x, None


def _diagnose_text(
    path: Path,
    lines: list[tuple[int, str]],
    delimiter: str | None,
    columns: list[str] | None,
    width: int,
    keep: list[int],
) -> None:
    """Raise a `ValueError` naming the first bad line and field of a text table."""
    for number, line in lines:
        fields = _split(line, delimiter)
        if len(fields) != width:
            raise ValueError(f"{path}, line {number}: {len(fields)} fields, expected {width}")
        for j in keep:
            if not _is_number(fields[j]):
                name = _column_name(columns, j)
                if fields[j] == "":
                    hint = " (missing value)"
                else:
                    column = repr(columns[j]) if columns is not None else str(j)
                    hint = f"; if that column holds labels, pass --labels {column}"
                raise ValueError(
                    f"{path}, line {number}, {name}: {fields[j]!r} is not a number{hint}"
                )


def _column_name(columns: list[str] | None, j: int) -> str:
    """A text table's column by its header name, else by its 0-based index (as --labels)."""
    return f"column {columns[j]!r}" if columns is not None else f"column {j} (0-based)"


def _check_finite_text(
    path: Path,
    x: np.ndarray,
    lines: list[tuple[int, str]],
    delimiter: str | None,
    columns: list[str] | None,
    keep: list[int],
) -> None:
    """Name the file's line of the first NaN, infinity or float32 overflow in a text table."""
    if np.isfinite(x).all():
        return
    row, col = (int(i) for i in np.argwhere(~np.isfinite(x))[0])
    number, line = lines[row]
    j = keep[col]
    text = _split(line, delimiter)[j]
    finite = np.isfinite(float(text))
    what = "beyond float32's range (about 3.4e38)" if finite else "NaN or infinity"
    raise ValueError(
        f"{path}, line {number}, {_column_name(columns, j)}: {text!r} is {what}; "
        "remove or impute it"
    )


def _find_column(name: str, columns: list[str] | None, width: int) -> int | None:
    if columns is not None and name in columns:
        return columns.index(name)
    try:
        index = int(name)
    except ValueError:
        return None
    if not -width <= index < width:
        raise ValueError(f"--labels column index {index} is out of range for {width} columns")
    return index % width


def _read_label_file(source: str, n: int) -> np.ndarray:
    path = Path(source)
    if not path.is_file():
        raise FileNotFoundError(f"--labels {source}: no such file")
    if path.suffix.lower() == ".npy":
        return _check_labels(_load_npy(path), n, str(path))
    with path.open(encoding="utf-8-sig") as fh:
        values = [line.strip() for line in fh]
    while values and values[-1] == "":
        values.pop()
    if len(values) == n + 1:  # a header line
        values = values[1:]
    return _check_labels(_tidy_labels(np.array(values)), n, str(path))


def _check_labels(labels: np.ndarray, n: int, source: str) -> np.ndarray:
    labels = np.asarray(labels)
    if labels.ndim == 2 and 1 in labels.shape:
        labels = labels.reshape(-1)
    if labels.ndim != 1:
        raise ValueError(f"labels in {source} must be 1-D, got shape {labels.shape}")
    if labels.shape[0] != n:
        raise ValueError(f"{source} has {labels.shape[0]} labels but the data has {n} rows")
    return labels


def _tidy_labels(labels: np.ndarray) -> np.ndarray:
    """Integer labels when every text label is a whole number (``3``, ``3.0``), else the text."""
    try:
        as_float = labels.astype(np.float64)
    except ValueError:
        return labels
    if np.isfinite(as_float).all() and (as_float == np.round(as_float)).all():
        return as_float.astype(np.int64)
    return labels


def _check_features(x: np.ndarray, path: Path) -> None:
    if x.dtype.kind not in "fiu" or x.dtype.kind == "b":
        raise ValueError(f"{path}: data must be numbers, got dtype {x.dtype}")
    if x.ndim != 2:
        raise ValueError(f"{path}: data must be a 2-D table (rows, features), got shape {x.shape}")
    if x.shape[0] == 0 or x.shape[1] == 0:
        raise ValueError(f"{path}: data is empty (shape {x.shape})")
    if x.dtype.kind == "f" and not np.isfinite(x).all():
        row, col = (int(i) for i in np.argwhere(~np.isfinite(x))[0])
        raise ValueError(
            f"{path}: NaN or infinity at row {row}, column {col} (0-based): {x[row, col]}; "
            "remove or impute those values"
        )


def write_embedding(path: Path, embedding: np.ndarray, labels: np.ndarray | None) -> None:
    """``.npy``: the float32 array; ``.csv``: columns ``emb_0, emb_1, ...`` (+ ``label``)."""
    embedding = np.asarray(embedding, dtype=np.float32)
    if path.suffix.lower() == ".npy":
        np.save(path, embedding)
        return
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        names = [f"emb_{j}" for j in range(embedding.shape[1])]
        writer.writerow([*names, "label"] if labels is not None else names)
        for i, row in enumerate(embedding):
            fields = [f"{v:.7g}" for v in row]
            writer.writerow([*fields, labels[i]] if labels is not None else fields)
