"""Several indexes searched as one: their timelines laid end to end, their tracks
numbered one after another.

The matcher searches one `HashIndex`. A query that may match more than one set of
tracks (the reference catalog and a customer's own collection; an index and the delta
of tracks added since it was built, live.py) searches their join: each part answers
for its own tracks, and only the frame and track numbers are shifted. The parts stay
what they are (in memory, memory-mapped, or PostgreSQL's postings), and each is shared
by every join it is part of, so joining costs nothing to build.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from lib.fingerprint.config import EngineConfig
from lib.fingerprint.index import HashIndex, Hits


@dataclass(frozen=True)
class Joined:
    parts: tuple[HashIndex, ...]

    @property
    def config(self) -> EngineConfig:
        return self.parts[0].config

    @cached_property
    def track_ids(self) -> Sequence[str]:
        return [track_id for part in self.parts for track_id in part.track_ids]

    @cached_property
    def _frame_offsets(self) -> np.ndarray:
        """int64 global frame where each part's timeline begins."""
        spans = np.array([part.span for part in self.parts], dtype=np.int64)
        return np.cumsum(spans) - spans

    @cached_property
    def _track_offsets(self) -> np.ndarray:
        """int64 number of each part's first track."""
        counts = np.array([len(part.track_ids) for part in self.parts], dtype=np.int64)
        return np.cumsum(counts) - counts

    @property
    def span(self) -> int:
        return int(sum(part.span for part in self.parts))

    def lookup(self, hashes: np.ndarray, cap: int | None = None) -> Hits:
        """Every part's entries; `cap` applies to each part alone (a part's crowded hashes
        are its own)."""
        found = [part.lookup(hashes, cap) for part in self.parts]
        return Hits(
            np.concatenate([hits.probe for hits in found]),
            np.concatenate(
                [hits.frames.astype(np.int64) + at for hits, at in zip(found, self._frame_offsets, strict=True)]
            ),
            all(hits.complete for hits in found),
        )

    def lookup_in(self, hashes: np.ndarray, tracks: np.ndarray) -> Hits:
        """Each pair asks the part that holds its track."""
        part_of = np.searchsorted(self._track_offsets, tracks, side="right") - 1
        probes, frames = [np.empty(0, np.int64)], [np.empty(0, np.int64)]
        for number, part in enumerate(self.parts):
            pairs = np.flatnonzero(part_of == number)
            if len(pairs):
                hits = part.lookup_in(hashes[pairs], tracks[pairs] - self._track_offsets[number])
                probes.append(pairs[hits.probe])
                frames.append(hits.frames.astype(np.int64) + self._frame_offsets[number])
        return Hits(np.concatenate(probes), np.concatenate(frames))

    def locate(self, frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        frames = frames.astype(np.int64)
        part_of = np.searchsorted(self._frame_offsets, frames, side="right") - 1
        track, within = np.empty(len(frames), np.int64), np.empty(len(frames), np.int64)
        for number, part in enumerate(self.parts):
            here = part_of == number
            if here.any():
                part_track, within[here] = part.locate(frames[here] - self._frame_offsets[number])
                track[here] = part_track + self._track_offsets[number]
        return track, within
