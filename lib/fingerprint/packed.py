"""The index's two big arrays in fewer bytes: row offsets and frame numbers.

Why: the engine issue caps the in-memory index at 1.2 MB per audio hour. Plain, a CSR
index costs 4 bytes per row offset and 4 per frame (7.05 bytes per entry on the dev
catalog, 1.65 MB/h). Both arrays hold far less information than their width:

- Offsets grow by one or two entries per row, so a block of 4,096 rows spans a few
  thousand entries: each row keeps a uint16 offset within its block and each block one
  full-width base (2 bytes per row instead of 4).
- A frame number needs only as many bits as the catalog's timeline: its low 16 bits are
  one uint16 array and its high bits a uint8 array while the timeline is under 2**24
  frames (149 hours), uint16 beyond (3 bytes per entry instead of 4, 4 at scale).

Both are read with the same fancy indexing as the arrays they replace (`packed[at]`),
at the cost of a second gather: one look-up's few hundred thousand reads.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

BLOCK_SHIFT = 12  # rows per offset block: 4,096, about 5,600 entries on a catalog of any size


@dataclass(frozen=True)
class Offsets:
    """Row r's first entry is `base[r >> shift] + within[r]`."""

    base: np.ndarray  # uint32 or uint64, one per block of 2**shift rows
    within: np.ndarray  # uint16, one per row and one past the last
    shift: int

    @classmethod
    def packed(cls, offsets: np.ndarray) -> Offsets:
        """`offsets` (non-decreasing) with the widest blocks whose entries fit a uint16:
        a block holding 65,536 entries or more (a pathological catalog) halves the block
        size, down to one row per block if a single row is that crowded."""
        shift = BLOCK_SHIFT
        while True:
            base = offsets[:: 1 << shift]
            within = offsets - np.repeat(base, 1 << shift)[: len(offsets)]
            if shift == 0 or len(within) == 0 or int(within.max()) <= np.iinfo(np.uint16).max:
                return cls(base, within.astype(np.uint16), shift)
            shift -= 1

    def __getitem__(self, rows: np.ndarray) -> np.ndarray:
        return self.base[rows >> self.shift].astype(np.int64) + self.within[rows]

    def __len__(self) -> int:
        return len(self.within)

    @property
    def nbytes(self) -> int:
        return int(self.base.nbytes + self.within.nbytes)

    def unpacked(self) -> np.ndarray:
        return self[np.arange(len(self))]


@dataclass(frozen=True)
class Frames:
    """Frame numbers as their low 16 bits and their high bits, in the fewest bytes the
    timeline needs."""

    low: np.ndarray  # uint16
    high: np.ndarray  # uint8 (timeline under 2**24 frames) or uint16

    @classmethod
    def empty(cls, n: int, span: int) -> Frames:
        """Room for `n` frames on a timeline of `span` frames (filled with `put`)."""
        high_type = np.uint8 if span <= 1 << 24 else np.uint16
        return cls(np.empty(n, np.uint16), np.empty(n, high_type))

    def put(self, at: np.ndarray, frames: np.ndarray) -> None:
        self.low[at] = frames & 0xFFFF
        self.high[at] = frames >> 16

    def __getitem__(self, at: np.ndarray) -> np.ndarray:
        return (self.high[at].astype(np.uint32) << np.uint32(16)) | self.low[at]

    def __len__(self) -> int:
        return len(self.low)

    @property
    def nbytes(self) -> int:
        return int(self.low.nbytes + self.high.nbytes)

    def unpacked(self) -> np.ndarray:
        return self[np.arange(len(self))]
