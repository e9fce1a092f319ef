"""The index's packed arrays read back exactly what was packed, whatever the catalog."""

from __future__ import annotations

import numpy as np

from lib.fingerprint.index import Index, TrackPrint
from lib.fingerprint.packed import BLOCK_SHIFT, Frames, Offsets


def test_offsets_round_trip_in_two_bytes_a_row() -> None:
    rng = np.random.default_rng(1)
    offsets = np.concatenate([[0], np.cumsum(rng.integers(0, 4, 50_000))]).astype(np.uint32)
    packed = Offsets.packed(offsets)
    assert packed.shift == BLOCK_SHIFT and packed.within.dtype == np.uint16
    np.testing.assert_array_equal(packed.unpacked(), offsets)
    rows = rng.integers(0, len(offsets), 1000)
    np.testing.assert_array_equal(packed[rows], offsets[rows])
    assert packed.nbytes < 0.55 * offsets.nbytes


def test_a_crowded_block_narrows_the_blocks() -> None:
    counts = np.ones(20_000, np.int64)
    counts[5_000] = 70_000  # one row holds more than a uint16 counts
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.uint32)
    packed = Offsets.packed(offsets)
    assert packed.shift < BLOCK_SHIFT
    np.testing.assert_array_equal(packed.unpacked(), offsets)


def test_frames_take_three_bytes_until_the_timeline_needs_four() -> None:
    for span, high in ((1 << 24, np.uint8), ((1 << 24) + 1, np.uint16)):
        values = np.array([0, 1, 65_535, 65_536, span - 1], np.uint32)
        frames = Frames.empty(len(values), span)
        frames.put(np.arange(len(values)), values)
        assert frames.high.dtype == high
        np.testing.assert_array_equal(frames.unpacked(), values)


def test_a_long_timeline_keeps_its_frames() -> None:
    """Tracks past 2**24 frames (149 hours) are found at their true frames."""
    n = 100
    prints = [
        TrackPrint("long", np.arange(n, dtype=np.uint32), np.arange(n, dtype=np.uint32), (1 << 24) + 10),
        TrackPrint("after", np.arange(n, dtype=np.uint32) + 7_000, np.arange(n, dtype=np.uint32) * 3, 400),
    ]
    index = Index.build(prints)
    assert index.frames.high.dtype == np.uint16
    hits = index.lookup(np.array([7_042], np.uint32))
    track, frame = index.locate(hits.frames)
    assert track.tolist() == [1] and frame.tolist() == [126]
