"""The in-memory inverted index: hash → every reference frame that carries it.

Layout (compressed sparse rows):

    row(h) = (h * golden) >> (32 - row_bits)   a multiplicative hash of the 31-bit code
    offsets[r] .. offsets[r + 1]               the slice of `frames` holding row r
    frames                                     frame numbers on one global timeline
                                               where track k occupies
                                               [starts[k], starts[k] + lengths[k]);
                                               a row lists its tracks in track order

A look-up is two array reads, thousands of look-ups are one vectorised gather, and no
entry is ever dropped however full a row gets (audfprint's fixed-size buckets drop
them). Rows are sized to the catalog (one to two entries per row); both arrays are
packed (packed.py), so memory is about 4.5 bytes per entry up to 149 hours and 5.5
beyond; codes that share a row only add chance hits, which the time alignment rejects.
A sorted array with `searchsorted` was 20x slower.
"""

from __future__ import annotations

import json
import secrets
import shutil
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple, Protocol

import numpy as np

from lib.fingerprint.config import DEFAULT, EngineConfig
from lib.fingerprint.packed import Frames, Offsets

_GOLDEN = np.uint64(0x9E3779B1)  # Knuth's multiplicative constant: spreads skewed codes evenly


KEPT_PROBES = 0.75  # the share of a look-up's probes a cap never leaves out
CHUNK_ENTRIES = 1 << 24  # entries sorted at once by the build: about 1 GB of temporaries
# what `save` writes, one .npy each: (attribute, its array's field or None)
_ARRAYS = {
    "row_base": ("offsets", "base"),
    "row_within": ("offsets", "within"),
    "frames_low": ("frames", "low"),
    "frames_high": ("frames", "high"),
    "starts": ("starts", None),
    "lengths": ("lengths", None),
}


def _rows(hashes: np.ndarray, row_bits: int) -> np.ndarray:
    mixed = (hashes.astype(np.uint64) * _GOLDEN) & np.uint64(0xFFFFFFFF)
    return (mixed >> np.uint64(32 - row_bits)).astype(np.int64)


def _row_counts(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct rows of `rows` and how often each occurs (sorted rows: no sort)."""
    if len(rows) and not np.all(rows[1:] >= rows[:-1]):
        rows = np.sort(rows)
    edge = np.flatnonzero(np.diff(rows)) + 1
    first = np.concatenate([[0], edge]) if len(rows) else np.empty(0, np.int64)
    return rows[first], np.diff(np.append(first, len(rows)))


def _chunks(
    prints: Iterable[TrackPrint],
    size: int,
    track_ids: list[str],
    n_frames: list[int],
    starts: np.ndarray | None = None,
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(hashes, global frames) of consecutive prints, about `size` entries at a time;
    records each print's id and length on the way. Frames are computed only when the
    tracks' `starts` are known (the second pass)."""
    hashes: list[np.ndarray] = []
    frames: list[np.ndarray] = []
    held = 0
    for k, p in enumerate(prints):
        track_ids.append(p.track_id)
        n_frames.append(p.n_frames)
        hashes.append(p.hashes)
        if starts is not None:
            frames.append(p.times.astype(np.uint32) + np.uint32(starts[k]))
        held += len(p.hashes)
        if held >= size:
            yield _joined(hashes), _joined(frames)
            hashes, frames, held = [], [], 0
    if held:
        yield _joined(hashes), _joined(frames)


def _joined(parts: list[np.ndarray]) -> np.ndarray:
    return np.concatenate(parts) if parts else np.empty(0, np.uint32)


class Hits(NamedTuple):
    """Index entries met by a look-up: the probe (index into the hashes looked up) that
    met each one, and its global frame."""

    probe: np.ndarray
    frames: np.ndarray
    complete: bool = True  # False when crowded hashes were left out (`cap`)


class HashIndex(Protocol):
    """What the matcher needs of an index: this CSR, its live cache (live.py), or
    PostgreSQL's postings (lib/store/postings.py)."""

    @property
    def config(self) -> EngineConfig: ...

    @property
    def track_ids(self) -> Sequence[str]: ...

    @property
    def span(self) -> int:
        """Frames on its timeline: where its last track ends."""
        ...

    def lookup(self, hashes: np.ndarray, cap: int | None = None) -> Hits:
        """Every entry matching any of `hashes`; given a `cap`, the index may leave out the
        hashes with more than `cap` entries (a big catalog's crowded hashes: most of its
        hits, nearly all chance), and `complete` says whether it did."""
        ...

    def lookup_in(self, hashes: np.ndarray, tracks: np.ndarray) -> Hits:
        """The entries of `hashes[i]` that lie in track `tracks[i]`, for every i (`probe` is i)."""
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
    offsets: Offsets
    frames: Frames
    track_ids: list[str]
    starts: np.ndarray  # int64 global frame where each track begins
    lengths: np.ndarray  # int64 frames per track

    @classmethod
    def build(cls, prints: Iterable[TrackPrint], config: EngineConfig = DEFAULT) -> Index:
        """The index of `prints` (held as a list: a catalog's prints are in memory anyway)."""
        prints = list(prints)
        return cls.streamed(lambda: prints, config, entries=sum(len(p.hashes) for p in prints))

    @classmethod
    def streamed(
        cls,
        make_prints: Callable[[], Iterable[TrackPrint]],
        config: EngineConfig = DEFAULT,
        entries: int | None = None,
        chunk: int = CHUNK_ENTRIES,
    ) -> Index:
        """The index of the prints `make_prints()` yields, built in two passes over them
        (each call must yield the same prints in the same order), in about the memory of
        the index itself.

        Why: the straightforward build concatenated every hash and frame and argsorted
        the int64 rows, about 28 bytes per entry at its peak where the index keeps about
        6; at 10,000 hours (2.3e9 entries) that is over 60 GB. A counting sort needs no
        global sort: pass 1 counts the entries of each row, which gives every row's
        start; pass 2 writes each chunk's frames at its row's start plus that row's
        running cursor. Within a chunk, entries are placed in (row, position) order, so
        a row keeps the prints' order, exactly as the stable argsort did. The cursors
        live in the offsets array itself: row r's cursor is offsets[r + 1], set to the
        row's start and advanced past each entry placed, so it ends as the row's end,
        which is what offsets[r + 1] must hold; it is packed (packed.py) at the end.
        The only arrays of catalog size are thus the index's own (temporaries: about
        1 GB per `chunk` of 16M entries). The prints need not be held: a caller can regenerate them for the
        second pass (bench/scale.py does).

        `entries` (the total, when the caller knows it) sizes the rows; without it a
        first pass only counts entries, so the prints are read three times.
        """
        if entries is None:
            entries = sum(len(p.hashes) for p in make_prints())
        row_bits = int(np.clip(np.ceil(np.log2(max(entries, 1))) - 1, 16, 30))
        n_rows = 2**row_bits
        # pass 1: tracks' lengths, and each row's count in cursor[r + 2], so that the
        # prefix sum below leaves row r's start in cursor[r + 1]
        track_ids: list[str] = []
        n_frames: list[int] = []
        total = 0
        offset_type = np.uint32 if entries < 2**32 else np.uint64
        cursor = np.zeros(n_rows + 2, dtype=offset_type)
        for hashes, _ in _chunks(make_prints(), chunk, track_ids, n_frames):
            rows, counts = _row_counts(_rows(hashes, row_bits))
            cursor[rows + 2] += counts.astype(offset_type)
            total += len(hashes)
        lengths = np.array(n_frames, dtype=np.int64)
        starts = np.cumsum(lengths) - lengths
        if lengths.sum() >= 2**32:
            raise OverflowError("catalog longer than the uint32 timeline (~38,000 hours)")
        if total >= 2**32 and offset_type == np.uint32:  # `entries` was far off
            offset_type, cursor = np.uint64, cursor.astype(np.uint64)
        # cursor[r + 1] = start of row r: the sum of the counts of the rows before it
        np.cumsum(cursor[1 : n_rows + 1], out=cursor[1 : n_rows + 1], dtype=offset_type)
        # pass 2: place each chunk's frames at their rows' cursors, advancing them
        frames = Frames.empty(total, int(lengths.sum()))
        track_ids, n_frames = [], []
        for hashes, times in _chunks(make_prints(), chunk, track_ids, n_frames, starts):
            packed = (_rows(hashes, row_bits).astype(np.uint64) << np.uint64(32)) | np.arange(
                len(hashes), dtype=np.uint64
            )
            packed.sort()  # by row, then by position: stable
            rows = (packed >> np.uint64(32)).astype(np.int64)
            where = (packed & np.uint64(0xFFFFFFFF)).astype(np.int64)
            unique, counts = _row_counts(rows)
            first = np.repeat(np.cumsum(counts) - counts, counts)
            position = cursor[rows + 1].astype(np.int64) + np.arange(len(rows)) - first
            frames.put(position, times[where])
            cursor[unique + 1] += counts.astype(offset_type)
        if n_frames != lengths.tolist() or int(cursor[n_rows]) != total:
            raise ValueError("make_prints() yielded other prints the second time")
        # now cursor[r + 1] is row r's end, which is offsets[r + 1]; cursor[0] is 0
        return cls(config, row_bits, Offsets.packed(cursor[: n_rows + 1]), frames, track_ids, starts, lengths)

    @property
    def n_entries(self) -> int:
        return len(self.frames)

    @property
    def span(self) -> int:
        return int(self.lengths.sum())

    @property
    def nbytes(self) -> int:
        return int(self.offsets.nbytes + self.frames.nbytes + self.starts.nbytes + self.lengths.nbytes)

    def save(self, folder: Path, stamp: Mapping[str, object]) -> None:
        """Write the index to `folder` as .npy arrays (memory-mappable) and a JSON list of
        its tracks with `stamp` (what the caller needs to know it is still current).
        Written beside `folder` and then renamed over it, so a reader sees the old
        snapshot or the new one, never half of one; concurrent writers each leave a whole one."""
        folder = Path(folder)
        partial = folder.with_name(f".{folder.name}.{secrets.token_hex(6)}")
        partial.mkdir()  # with the umask's permissions: the service's other processes read it
        try:
            for name, (attribute, part) in _ARRAYS.items():
                value = getattr(self, attribute)
                np.save(partial / f"{name}.npy", value if part is None else getattr(value, part))
            meta = {
                "layout": self.config.layout_key(),
                "row_bits": self.row_bits,
                "row_shift": self.offsets.shift,
                "track_ids": self.track_ids,
            }
            (partial / "index.json").write_text(json.dumps({**meta, "stamp": dict(stamp)}))
            old = folder.with_name(f".{folder.name}.old.{partial.name}")
            if folder.exists():
                folder.rename(old)
            partial.rename(folder)
            shutil.rmtree(old, ignore_errors=True)
        finally:
            shutil.rmtree(partial, ignore_errors=True)

    @classmethod
    def mapped(cls, folder: Path, config: EngineConfig = DEFAULT) -> tuple[Index, dict[str, object]] | None:
        """The index `save` wrote to `folder` and its stamp, its arrays memory-mapped:
        opening reads no entries, and a query reads only the pages its probes touch (a
        one-clip command-line identify need not load the catalog). None when there is
        none, or it was made with another hash layout."""
        try:
            meta = json.loads((Path(folder) / "index.json").read_text())
            arrays = {name: np.load(Path(folder) / f"{name}.npy", mmap_mode="r") for name in _ARRAYS}
        except (OSError, ValueError):  # none, or one of an older layout (plain arrays)
            return None
        if meta.get("layout") != config.layout_key():
            return None
        index = cls(
            config,
            int(meta["row_bits"]),
            Offsets(arrays["row_base"], arrays["row_within"], int(meta["row_shift"])),
            Frames(arrays["frames_low"], arrays["frames_high"]),
            list(meta["track_ids"]),
            arrays["starts"],
            arrays["lengths"],
        )
        return index, meta["stamp"]

    def lookup(self, hashes: np.ndarray, cap: int | None = None) -> Hits:
        """Rows stand in for hashes here: a row holding more than `cap` entries is left out,
        but only when the probes meet more than `cap` entries each on average. A small
        catalog's few crowded rows cost little, and leaving them out would cost the
        matcher a second pass for nothing."""
        rows = _rows(hashes, self.row_bits)
        lo = self.offsets[rows]
        counts = self.offsets[rows + 1] - lo
        complete = cap is None or counts.sum() <= cap * len(counts)
        if not complete:
            # never more than the most crowded quarter of the probes: past 1,000 hours a
            # fixed cap left out most of a true match's hashes too (docs/engine.md)
            counts[counts > max(cap, np.quantile(counts, KEPT_PROBES))] = 0
        return Hits(*gather_runs(self.frames, lo, counts), complete)

    def lookup_in(self, hashes: np.ndarray, tracks: np.ndarray) -> Hits:
        """A row holds its tracks' entries in track order, so each track's are one run of
        it, found by binary search: the cost is a search per pair, not the row's length."""
        rows = _rows(hashes, self.row_bits)
        lo, hi = self.offsets[rows], self.offsets[rows + 1]
        first = _lower_bound(self.frames, lo, hi, self.starts[tracks])
        end = _lower_bound(self.frames, first, hi, self.starts[tracks] + self.lengths[tracks])
        return Hits(*gather_runs(self.frames, first, end - first))

    def locate(self, frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Global frames → (track number, frame within that track)."""
        track = np.searchsorted(self.starts, frames, side="right") - 1
        return track, frames.astype(np.int64) - self.starts[track]


def gather_runs(frames: np.ndarray | Frames, lo: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(i, frames[lo[i] + j]) for every i and every j < counts[i]: slices gathered in one go."""
    probe = np.repeat(np.arange(len(lo)), counts)
    at = (lo - (np.cumsum(counts) - counts))[probe]  # a gather: a third faster than a second repeat
    at += np.arange(len(probe))
    return probe, frames[at]


def _lower_bound(values: np.ndarray | Frames, lo: np.ndarray, hi: np.ndarray, target: np.ndarray) -> np.ndarray:
    """For each i, the first position in values[lo[i]:hi[i]] not below target[i] (hi[i]
    if none), for slices ordered as far as the comparison goes: a binary search of
    every slice at once, one vectorised step per halving."""
    lo, hi = lo.copy(), hi.copy()
    while True:
        open_ = np.flatnonzero(lo < hi)
        if len(open_) == 0:
            return lo
        mid = (lo[open_] + hi[open_]) // 2
        below = values[mid] < target[open_]
        lo[open_[below]] = mid[below] + 1
        hi[open_[~below]] = mid[~below]
