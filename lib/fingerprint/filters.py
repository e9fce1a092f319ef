"""Sliding maximum and mean over a spectrogram, and a median, in NumPy alone.

scipy.ndimage did this before, but importing it took 0.3 s, more than the whole rest of
answering one clip from the command line (`python -m lib identify`). The neighbourhoods
here are small (a few frames or bins), so a running maximum is a handful of shifted
`np.maximum` calls, and a box mean is taken only at the peaks that need it.
"""

from __future__ import annotations

import numpy as np


def _edge_padded(a: np.ndarray, before: int, after: int, axis: int) -> np.ndarray:
    pad = [(0, 0)] * a.ndim
    pad[axis] = (before, after)
    return np.pad(a, pad, mode="edge")


def running_max(a: np.ndarray, radius: int, axis: int) -> np.ndarray:
    """Maximum over [i - radius, i + radius] along `axis`, edges extended (ndimage's "nearest")."""
    if radius <= 0 or a.shape[axis] == 0:
        return a.copy()
    padded = _edge_padded(a, radius, radius, axis)
    n = a.shape[axis]
    moved = np.moveaxis(padded, axis, 0)
    out = moved[:n].copy()
    for shift in range(1, 2 * radius + 1):
        np.maximum(out, moved[shift : shift + n], out=out)
    return np.moveaxis(out, 0, axis)


def maximum_2d(a: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Maximum over a (rows, columns) box of odd `size` centred on each cell."""
    return running_max(running_max(a, size[0] // 2, 0), size[1] // 2, 1)


def box_mean_at(a: np.ndarray, rows: np.ndarray, columns: np.ndarray, size: int) -> np.ndarray:
    """Mean of `a[row, column - size // 2 : column + size // 2 + 1]` at each (row, column),
    edges extended: only where it is asked, a few per cent of the cells for peaks."""
    half = size // 2
    padded = _edge_padded(a, half, half, 1)
    return np.lib.stride_tricks.sliding_window_view(padded, size, axis=1)[rows, columns].mean(axis=1, dtype=np.float64)


def dilated(mask: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Boolean dilation by a (rows, columns) box of odd `size`, as the running maximum of the mask."""
    return maximum_2d(mask.view(np.uint8), size).view(bool)


def median(values: np.ndarray) -> float:
    """`np.median` of a 1-D array without NaNs, the same value: np.median checks for NaNs
    through numpy.ma, whose first import took 18 ms of a one-clip identify's 70."""
    n = len(values)
    if n == 0:
        raise ValueError("median of nothing")
    middle = n // 2
    part = np.partition(values, [middle - 1, middle] if n % 2 == 0 else middle)
    return float(part[middle] if n % 2 else np.mean(part[middle - 1 : middle + 1]))
