"""The in-memory inverted index: hash → every reference frame that carries it.

Layout (compressed sparse rows):

    row(h) = (h * golden) >> (32 - row_bits)   a multiplicative hash of the 31-bit code
    offsets[r] .. offsets[r + 1]               the slice of `frames` holding row r
    frames                                     uint32 frame numbers on one global timeline
                                               where track k occupies
                                               [starts[k], starts[k] + lengths[k])

A look-up is two array reads, thousands of look-ups are one vectorised gather, and no
entry is ever dropped however full a row gets (audfprint's fixed-size buckets drop
them). Rows are sized to the catalog (one to two entries per row), so memory is about
6-8 bytes per entry at any scale; codes that share a row only add chance hits, which
the time alignment rejects. A sorted array with `searchsorted` was 20x slower.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from lib.fingerprint.config import DEFAULT, EngineConfig

_GOLDEN = np.uint64(0x9E3779B1)  # Knuth's multiplicative constant: spreads skewed codes evenly


def _rows(hashes: np.ndarray, row_bits: int) -> np.ndarray:
    mixed = (hashes.astype(np.uint64) * _GOLDEN) & np.uint64(0xFFFFFFFF)
    return (mixed >> np.uint64(32 - row_bits)).astype(np.int64)


class HashIndex(Protocol):
    """What the matcher needs of an index: this CSR, its live cache (live.py), or
    PostgreSQL's postings (lib/store/postings.py)."""

    @property
    def config(self) -> EngineConfig: ...

    @property
    def track_ids(self) -> Sequence[str]: ...

    def lookup(self, hashes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(probe index, global frame) for every entry matching any of `hashes`."""
        ...

    def locate(self, frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Global frames → (track number, frame within that track)."""
        ...


@dataclass(frozen=True)
class TrackPrint:
    """One track's reference fingerprint: its hashes and their anchor frames."""

    track_id: str
    hashes: np.ndarray  # uint32
    times: np.ndarray  # uint32 frame of each hash's anchor
    n_frames: int


@dataclass
class Index:
    config: EngineConfig
    row_bits: int
    offsets: np.ndarray
    frames: np.ndarray
    track_ids: list[str]
    starts: np.ndarray  # int64 global frame where each track begins
    lengths: np.ndarray  # int64 frames per track

    @classmethod
    def build(cls, prints: Iterable[TrackPrint], config: EngineConfig = DEFAULT) -> Index:
        prints = list(prints)
        lengths = np.array([p.n_frames for p in prints], dtype=np.int64)
        starts = np.cumsum(lengths) - lengths
        if lengths.sum() >= 2**32:
            raise OverflowError("catalog longer than the uint32 timeline (~38,000 hours)")
        hashes = np.concatenate([p.hashes for p in prints] or [np.empty(0, np.uint32)])
        frames = np.concatenate(
            [p.times.astype(np.uint32) + np.uint32(s) for p, s in zip(prints, starts, strict=True)]
            or [np.empty(0, np.uint32)]
        )
        row_bits = int(np.clip(np.ceil(np.log2(max(len(hashes), 1))) - 1, 16, 30))
        rows = _rows(hashes, row_bits)
        order = np.argsort(rows, kind="stable")
        offset_type = np.uint32 if len(hashes) < 2**32 else np.uint64
        offsets = np.zeros(2**row_bits + 1, dtype=offset_type)
        np.cumsum(np.bincount(rows, minlength=2**row_bits), out=offsets[1:])
        return cls(config, row_bits, offsets, frames[order], [p.track_id for p in prints], starts, lengths)

    @property
    def n_entries(self) -> int:
        return len(self.frames)

    @property
    def nbytes(self) -> int:
        return int(self.offsets.nbytes + self.frames.nbytes + self.starts.nbytes + self.lengths.nbytes)

    def lookup(self, hashes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Return (probe index, global frame) for every entry matching any of `hashes`."""
        rows = _rows(hashes, self.row_bits)
        lo = self.offsets[rows].astype(np.int64)
        counts = self.offsets[rows + 1].astype(np.int64) - lo
        total = int(counts.sum())
        probe = np.repeat(np.arange(len(hashes)), counts)
        first = np.repeat(lo - (np.cumsum(counts) - counts), counts)
        return probe, self.frames[first + np.arange(total)]

    def locate(self, frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Global frames → (track number, frame within that track)."""
        track = np.searchsorted(self.starts, frames, side="right") - 1
        return track, frames.astype(np.int64) - self.starts[track]
