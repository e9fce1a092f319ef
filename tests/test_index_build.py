"""The two-pass (counting-sort) index build gives exactly the arrays of the
straightforward one: concatenate, stable-argsort the rows, cumulate their counts."""

from __future__ import annotations

import numpy as np

from lib.fingerprint.index import Index, TrackPrint, _rows


def _straightforward(prints: list[TrackPrint]) -> tuple[int, np.ndarray, np.ndarray]:
    lengths = np.array([p.n_frames for p in prints], dtype=np.int64)
    starts = np.cumsum(lengths) - lengths
    hashes = np.concatenate([p.hashes for p in prints] or [np.empty(0, np.uint32)])
    frames = np.concatenate(
        [p.times.astype(np.uint32) + np.uint32(s) for p, s in zip(prints, starts, strict=True)]
        or [np.empty(0, np.uint32)]
    )
    row_bits = int(np.clip(np.ceil(np.log2(max(len(hashes), 1))) - 1, 16, 30))
    rows = _rows(hashes, row_bits)
    offsets = np.zeros(2**row_bits + 1, dtype=np.uint32)
    np.cumsum(np.bincount(rows, minlength=2**row_bits), out=offsets[1:])
    return row_bits, offsets, frames[np.argsort(rows, kind="stable")]


def _random_prints(seed: int, n_tracks: int) -> list[TrackPrint]:
    rng = np.random.default_rng(seed)
    prints = []
    for k in range(n_tracks):
        n = int(rng.integers(0, 400))
        # a few dozen distinct codes: most rows hold many entries, from many tracks
        hashes = rng.choice(rng.integers(0, 2**31, 40), n).astype(np.uint32)
        times = np.sort(rng.integers(0, 2000, n)).astype(np.uint32)
        prints.append(TrackPrint(f"T{k}", hashes, times, 2000 + int(rng.integers(0, 50))))
    return prints


def test_two_pass_build_matches_straightforward() -> None:
    prints = _random_prints(7, 30)
    assert sum(len(p.hashes) for p in prints) > 3000
    row_bits, offsets, frames = _straightforward(prints)
    for index in (
        Index.build(prints),
        Index.streamed(lambda: iter(prints), chunk=500),  # many chunks, sizing pass
        Index.streamed(lambda: prints, entries=sum(len(p.hashes) for p in prints), chunk=1),
    ):
        assert index.row_bits == row_bits
        np.testing.assert_array_equal(index.offsets.unpacked(), offsets)
        np.testing.assert_array_equal(index.frames.unpacked(), frames)
        assert index.track_ids == [p.track_id for p in prints]
        found = index.lookup(prints[3].hashes[:5]).frames
        assert len(found) >= 5


def test_empty_catalog() -> None:
    row_bits, offsets, frames = _straightforward([])
    index = Index.build([])
    assert index.row_bits == row_bits and index.n_entries == 0 and index.track_ids == []
    np.testing.assert_array_equal(index.offsets.unpacked(), offsets)
    np.testing.assert_array_equal(index.frames.unpacked(), frames)
    probe, found, _ = index.lookup(np.array([1, 2, 3], np.uint32))
    assert len(probe) == len(found) == 0
