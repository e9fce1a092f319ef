"""The in-memory index as a cache of a changing catalog: a base index, a small delta of
the tracks added since it was built, and the tracks removed since (hidden, not yet
dropped from memory).

An add rebuilds only the delta, a remove only flips a flag, so an instance keeps up
with a catalog that other instances change without reloading it (lib/core/recognizer.py replays
the catalog's change log). When the delta outgrows a tenth of the base, or a tenth of
the base's tracks are gone, the owner rebuilds the whole index instead (`changed`
returns None): a delta rebuild costs time in proportion to the delta, and hidden
tracks cost memory and look-up time.

A `LiveIndex` never changes: a change makes a new one, so a query under way keeps a
consistent index while another thread applies changes.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from lib.fingerprint.config import EngineConfig
from lib.fingerprint.index import Hits, Index, TrackPrint
from lib.fingerprint.joined import Joined

COMPACT_SHARE = 0.1  # delta entries, or hidden base tracks, past this share of the base: rebuild


@dataclass(frozen=True)
class LiveIndex:
    base: Index
    delta: Index
    delta_prints: tuple[TrackPrint, ...]
    hidden: np.ndarray  # bool per track number (the base's, then the delta's): removed since
    track_ids: Sequence[str]
    starts: np.ndarray  # int64 global frame of each track; the delta's follow the base's

    @classmethod
    def build(cls, prints: Iterable[TrackPrint], config: EngineConfig) -> LiveIndex:
        return cls.joined(Index.build(prints, config), (), np.zeros(0, bool))

    @classmethod
    def joined(cls, base: Index, delta_prints: Sequence[TrackPrint], base_hidden: np.ndarray) -> LiveIndex:
        delta = Index.build(delta_prints, base.config)
        hidden = np.zeros(len(base.track_ids) + len(delta.track_ids), bool)
        hidden[: len(base_hidden)] = base_hidden
        end = base.lengths.sum()
        return cls(
            base, delta, tuple(delta_prints), hidden, [*base.track_ids, *delta.track_ids],
            np.concatenate([base.starts, delta.starts + end]),
        )  # fmt: skip

    @property
    def config(self) -> EngineConfig:
        return self.base.config

    @property
    def nbytes(self) -> int:
        return self.base.nbytes + self.delta.nbytes

    def changed(self, added: Sequence[TrackPrint], removed: Collection[str]) -> LiveIndex | None:
        """This index with `added` tracks (replacing any of the same id) and without
        `removed` ones; None when it is time to rebuild the whole index instead."""
        gone = set(removed) | {p.track_id for p in added}
        base_hidden = self.hidden[: len(self.base.track_ids)] | np.isin(self.base.track_ids, list(gone))
        delta_prints = [p for p in self.delta_prints if p.track_id not in gone] + list(added)
        delta_entries = sum(len(p.hashes) for p in delta_prints)
        if delta_entries > COMPACT_SHARE * max(self.base.n_entries, 1) or base_hidden.sum() > COMPACT_SHARE * len(
            self.base.track_ids
        ):
            return None
        return LiveIndex.joined(self.base, delta_prints, base_hidden)

    @property
    def span(self) -> int:
        return self.base.span + self.delta.span

    @cached_property
    def _parts(self) -> Joined:
        return Joined((self.base, self.delta))

    def lookup(self, hashes: np.ndarray, cap: int | None = None) -> Hits:
        """The base's and the delta's entries of `hashes`, less those of hidden tracks."""
        probe, frames, complete = self._parts.lookup(hashes, cap)
        if self.hidden.any():
            shown = ~self.hidden[self.locate(frames)[0]]
            probe, frames = probe[shown], frames[shown]
        return Hits(probe, frames, complete)

    def lookup_in(self, hashes: np.ndarray, tracks: np.ndarray) -> Hits:
        """Each pair asks the part (base or delta) that holds its track; hidden tracks have none."""
        probe, frames, _ = self._parts.lookup_in(hashes, tracks)
        shown = ~self.hidden[tracks[probe]]
        return Hits(probe[shown], frames[shown])

    def locate(self, frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        track = np.searchsorted(self.starts, frames, side="right") - 1
        return track, frames.astype(np.int64) - self.starts[track]
