"""The NumPy filters and median against their definitions (cell by cell) and NumPy's own."""

from __future__ import annotations

import numpy as np
import pytest

from lib.fingerprint.filters import box_mean_at, dilated, maximum_2d, median


@pytest.fixture
def grid() -> np.ndarray:
    return np.random.default_rng(7).normal(size=(23, 17)).astype(np.float32)


def _clamped(a: np.ndarray, r: int, c: int) -> float:
    return float(a[min(max(r, 0), a.shape[0] - 1), min(max(c, 0), a.shape[1] - 1)])


@pytest.mark.parametrize("size", [(1, 1), (3, 3), (7, 7), (5, 3)])
def test_maximum_2d_is_the_box_maximum_with_edges_extended(grid: np.ndarray, size: tuple[int, int]) -> None:
    h, w = size[0] // 2, size[1] // 2
    expected = np.array(
        [
            [max(_clamped(grid, r + i, c + j) for i in range(-h, h + 1) for j in range(-w, w + 1)) for c in range(17)]
            for r in range(23)
        ]
    )
    assert np.array_equal(maximum_2d(grid, size), expected)


def test_box_mean_at_is_the_mean_of_the_row_window(grid: np.ndarray) -> None:
    rows, cols = np.array([0, 5, 22, 10]), np.array([0, 16, 8, 2])
    expected = [np.mean([_clamped(grid, r, c + j) for j in range(-4, 5)]) for r, c in zip(rows, cols, strict=True)]
    assert box_mean_at(grid, rows, cols, 9) == pytest.approx(expected, abs=1e-6)


def test_dilated_grows_each_true_cell_to_its_box() -> None:
    mask = np.zeros((9, 9), bool)
    mask[4, 4] = True
    mask[0, 8] = True
    grown = dilated(mask, (5, 3))
    assert grown[2:7, 3:6].all() and grown[0:3, 7:9].all()
    assert grown.sum() == 15 + 6


@pytest.mark.parametrize("n", [1, 2, 7, 10, 1001])
def test_median_is_numpys(n: int) -> None:
    values = np.random.default_rng(n).normal(size=n).astype(np.float32)
    assert median(values) == float(np.median(values))
    assert median(values.astype(np.float64)) == float(np.median(values.astype(np.float64)))
