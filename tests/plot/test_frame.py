"""pumap.plot.to_frame / to_parquet: the hand-off table, its neighbours against brute force."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from pumap import Umap
from pumap.plot import to_frame, to_parquet
from pumap.plot.frame import nearest_training_rows

pd = pytest.importorskip("pandas")


def _brute_force(train: np.ndarray, points: np.ndarray, k: int, exclude_self: bool):
    """Float64 reference: all distances, sorted, own row removed."""
    d = np.sqrt(((points[:, None, :].astype(np.float64) - train[None]) ** 2).sum(-1))
    if exclude_self:
        np.fill_diagonal(d, np.inf)
    ids = np.argsort(d, axis=1, kind="stable")[:, :k]
    return ids, np.take_along_axis(d, ids, axis=1)


@pytest.mark.parametrize("exclude_self", [True, False])
def test_nearest_training_rows_match_brute_force(exclude_self) -> None:
    rng = np.random.default_rng(0)
    train = rng.normal(size=(300, 2))
    points = train if exclude_self else rng.normal(size=(40, 2))
    ids, dist = nearest_training_rows(train, points, 5, exclude_self=exclude_self)
    ref_ids, ref_dist = _brute_force(train, points, 5, exclude_self)
    np.testing.assert_array_equal(ids, ref_ids)
    np.testing.assert_allclose(dist, ref_dist, rtol=1e-12)


def test_own_row_is_left_out_even_behind_a_duplicate() -> None:
    train = np.array([[0.0, 0.0], [0.0, 0.0], [1.0, 0.0], [5.0, 5.0]])
    ids, dist = nearest_training_rows(train, train, 2, exclude_self=True)
    assert ids[0].tolist() == [1, 2] and ids[1].tolist() == [0, 2]
    assert dist[0].tolist() == [0.0, 1.0]


def test_frame_columns_rows_and_neighbours() -> None:
    rng = np.random.default_rng(1)
    xy, new = rng.normal(size=(60, 2)), rng.normal(size=(5, 2))
    labels = np.array(["a", "b", "c"])[np.arange(60) % 3]
    frame = to_frame(xy, labels, new, new_labels=["b"] * 5, neighbors=4)
    assert list(frame.columns) == ["x", "y", "label", "is_new", "neighbors"]
    assert len(frame) == 65 and frame["x"].dtype == np.float32
    np.testing.assert_allclose(frame[["x", "y"]].to_numpy(), np.concatenate([xy, new]),
                               rtol=1e-6)
    assert frame["is_new"].tolist() == [False] * 60 + [True] * 5
    assert frame["label"].tolist() == labels.tolist() + ["b"] * 5
    ref_ids, ref_dist = _brute_force(xy, new, 4, exclude_self=False)
    for i in range(5):
        cell = frame["neighbors"].iloc[60 + i]
        assert cell["ids"] == ref_ids[i].tolist()
        np.testing.assert_allclose(cell["distances"], ref_dist[i], rtol=1e-12)
    assert 0 not in frame["neighbors"].iloc[0]["ids"]


def test_frame_of_a_model_transforms_new_rows() -> None:
    rng = np.random.default_rng(2)
    x = rng.normal(size=(80, 4)).astype(np.float32)
    fitted = Umap(n_neighbors=5, n_epochs=1, seed=0, verbose=False).fit(x)
    frame = to_frame(fitted, new=x[:3] + 1)
    assert "label" not in frame.columns and "neighbors" not in frame.columns
    np.testing.assert_allclose(frame[["x", "y"]].to_numpy()[80:], fitted.transform(x[:3] + 1),
                               rtol=1e-6)


def test_missing_new_labels_are_empty() -> None:
    frame = to_frame(np.zeros((3, 2)), [1, 2, 3], np.ones((2, 2)))
    assert frame["label"].iloc[:3].tolist() == [1, 2, 3]
    assert frame["label"].iloc[3:].isna().all()


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"neighbors": -1}, r"neighbors must be an integer in \[0, 4\)"),
        ({"neighbors": 4}, r"neighbors must be an integer in \[0, 4\)"),
        ({"neighbors": 1.5}, r"neighbors must be an integer"),
        ({"new_labels": [1]}, r"new_labels were given without new"),
        ({"labels": [1, 2]}, r"labels must be 1-D with one entry per point"),
    ],
)
def test_bad_input_names_the_argument(kwargs, match) -> None:
    with pytest.raises(ValueError, match=match):
        to_frame(np.random.default_rng(0).normal(size=(4, 2)), **kwargs)


def test_parquet_round_trip_in_embedding_atlas_layout(tmp_path: Path) -> None:
    pytest.importorskip("pyarrow")
    xy = np.random.default_rng(3).normal(size=(20, 2))
    path = to_parquet(tmp_path / "points.parquet", xy, np.arange(20) % 2, neighbors=3)
    back = pd.read_parquet(path)
    assert list(back.columns) == ["x", "y", "label", "is_new", "neighbors"]
    cell = back["neighbors"].iloc[0]
    assert set(cell) == {"ids", "distances"} and len(cell["ids"]) == 3
    assert list(tmp_path.iterdir()) == [path]


def test_failed_parquet_write_keeps_the_old_file(tmp_path: Path, monkeypatch) -> None:
    pytest.importorskip("pyarrow")
    path = tmp_path / "points.parquet"
    path.write_text("old")

    def broken(self, *args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(pd.DataFrame, "to_parquet", broken)
    with pytest.raises(OSError, match="disk full"):
        to_parquet(path, np.zeros((3, 2)))
    assert path.read_text() == "old" and list(tmp_path.iterdir()) == [path]


def test_missing_pandas_names_the_extra(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "pandas", None)
    with pytest.raises(ImportError, match=r'pip install "pumap\[interactive\]"'):
        to_frame(np.zeros((3, 2)))
