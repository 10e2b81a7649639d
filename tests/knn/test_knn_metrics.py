"""The parity metrics of benchmarks/_metrics.py on known cases, and NN-Descent's recall on MNIST."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from _metrics import histogram_l1, knn_recall, mean_distance_error, pairwise_max_abs_error


def test_pairwise_max_abs_error_known_case() -> None:
    got = np.array([[0.0, 1.0], [2.0, 3.5]], dtype=np.float32)
    ref = np.array([[0.0, 1.25], [2.0, 3.0]])
    assert pairwise_max_abs_error(got, ref) == pytest.approx(0.5)
    assert pairwise_max_abs_error(ref, ref) == 0.0


def test_pairwise_max_abs_error_accepts_tensors_and_flags_non_finite() -> None:
    ref = torch.tensor([[0.0, np.inf], [1.0, 2.0]])
    assert pairwise_max_abs_error(ref.clone().requires_grad_(True), ref) == 0.0  # equal infinities
    assert pairwise_max_abs_error(torch.tensor([[0.0, 1.0], [np.nan, 2.0]]), ref) == np.inf
    with pytest.raises(ValueError, match="shapes differ"):
        pairwise_max_abs_error(np.zeros((2, 2)), np.zeros((2, 3)))


def test_knn_recall_known_case() -> None:
    ref = np.array([[1, 2, 3], [0, 2, 3]])
    got = np.array([[3, 1, 9], [0, 2, 3]])  # row 0: 2 of 3 in another order; row 1: all
    assert knn_recall(got, ref) == pytest.approx(5 / 6)
    assert knn_recall(torch.from_numpy(ref), ref) == 1.0
    assert knn_recall(np.array([[1, 1, 1]]), np.array([[1, 2, 3]])) == pytest.approx(1 / 3)


def test_knn_recall_counts_ties_at_the_boundary_when_given_distances() -> None:
    ref_idx = np.array([[1, 2]])
    ref_dist = np.array([[1.0, 2.0]])
    tied = np.array([[1, 5]])  # point 5 is as far as point 2
    assert knn_recall(tied, ref_idx) == 0.5
    assert knn_recall(tied, ref_idx, np.array([[1.0, 2.0]]), ref_dist) == 1.0
    assert knn_recall(tied, ref_idx, np.array([[1.0, 2.1]]), ref_dist) == 0.5
    assert knn_recall(tied, ref_idx, np.array([[1.0, 2.1]]), ref_dist, tie_tol=0.2) == 1.0
    with pytest.raises(ValueError, match="both"):
        knn_recall(tied, ref_idx, np.array([[1.0, 2.0]]))


def test_mean_distance_error_known_case_ignores_tie_order() -> None:
    ref = np.array([[1.0, 2.0], [3.0, 4.0]])
    assert mean_distance_error(np.array([[2.0, 1.0], [3.0, 4.0]]), ref) == 0.0
    assert mean_distance_error(np.array([[1.0, 2.5], [3.0, 3.5]]), ref) == pytest.approx(0.25)


def test_histogram_l1_known_cases() -> None:
    a = np.array([0.0, 0.0, 1.0, 1.0])
    assert histogram_l1(a, a[::-1]) == 0.0
    assert histogram_l1(np.zeros(3), np.ones(5), bins=2) == pytest.approx(2.0)  # disjoint
    # Half the mass moves from the first to the second of two bins: |0.5| + |0.5| = 1.
    assert histogram_l1([0.0, 0.0], [0.0, 1.0], bins=2) == pytest.approx(1.0)
    assert histogram_l1([3.0, 3.0], [3.0]) == 0.0  # one value everywhere
    assert histogram_l1([0.0, 5.0], [0.0, 0.5], bins=2, value_range=(0.0, 1.0)) == 1.0
    with pytest.raises(ValueError, match="bins"):
        histogram_l1(a, a, bins=0)


@pytest.mark.slow
def test_nndescent_recall_on_mnist_test_set(mnist_dir) -> None:
    """NN-Descent finds >= 95% of the exact 15 neighbours on the 10k MNIST test images.

    Slow in a fresh process: pynndescent compiles its NN-Descent loop with numba (~30 s).
    """
    from pumap.datasets import load_mnist
    from pumap.knn import exact_knn, nndescent_knn

    x, _ = load_mnist(mnist_dir, "test")
    exact = exact_knn(x, 15)
    approx = nndescent_knn(x, 15, seed=0)
    assert approx.indices.shape == (10_000, 15)
    recall = knn_recall(approx.indices, exact.indices, approx.distances, exact.distances,
                        tie_tol=1e-4)
    assert recall >= 0.95
    assert mean_distance_error(approx.distances, exact.distances) < 0.05
