"""The in-process "upstream fingerprint provider": identify, add, remove.

It joins the catalog (metadata and stored fingerprints) with the in-memory index the
matcher needs, and keeps the index in step with the catalog: an add or a remove
invalidates it, and the next identify rebuilds it from the stored fingerprints.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lib.fingerprint import audio
from lib.fingerprint.allocator import keep_freed_memory
from lib.fingerprint.config import DEFAULT, EngineConfig
from lib.fingerprint.index import Index, TrackPrint
from lib.fingerprint.match import Match
from lib.fingerprint.pipeline import identify, segments
from lib.store import Catalog, Track
from lib.store.models import Cover


@dataclass(frozen=True)
class Identified:
    match: Match
    track: Track


@dataclass(frozen=True)
class Analysis:
    """The catalog segments heard in one media, in media order."""

    found: list[Identified]
    seconds: float  # of media analysed


class Engine:
    def __init__(self, catalog: Catalog, config: EngineConfig = DEFAULT) -> None:
        self.catalog = catalog
        self.config = config
        self._index: Index | None = None
        self._generation = -1  # the catalog generation the index was built from
        self._building = threading.Lock()
        keep_freed_memory()

    @property
    def index(self) -> Index:
        """The index of the catalog as it is now: rebuilt when any process (a separate
        worker, another server process) has added or removed tracks since it was built;
        one build even when many request threads ask at once."""
        with self._building:
            generation = self.catalog.generation()
            if self._index is None or generation != self._generation:
                self._index = Index.build(self.catalog.prints(), self.config)
                self._generation = generation
            return self._index

    def add(
        self, track: Track, fingerprint: TrackPrint, audio_sha1: str | None = None, cover: Cover | None = None
    ) -> bool:
        return self.catalog.add(track, fingerprint, audio_sha1, cover)

    def remove(self, track_id: str) -> bool:
        return self.catalog.remove(track_id)

    def identify(
        self, query: str | Path | np.ndarray, limit: int = 5, max_seconds: float | None = None
    ) -> list[Identified]:
        """Match a file (or decoded samples) against the catalog, best first."""
        samples = query if isinstance(query, np.ndarray) else audio.load(query, self.config, max_seconds)
        return self._with_tracks(identify(samples, self.index, self.config, limit))

    def scan(self, chunks: Iterable[np.ndarray]) -> Analysis:
        """Every catalog segment in media of any length, given as consecutive sample
        chunks (a decoder's stream), in bounded memory."""
        seen = 0

        def counted() -> Iterator[np.ndarray]:
            nonlocal seen
            for chunk in chunks:
                seen += len(chunk)
                yield chunk

        found = self._with_tracks(segments(counted(), self.index, self.config))
        return Analysis(found, round(seen / self.config.sample_rate, 3))

    def scan_file(
        self, path: str | Path, max_seconds: float | None = None, tap: Callable[[np.ndarray], None] | None = None
    ) -> Analysis:
        """`scan` of a file as it decodes; after `max_seconds` the rest is ignored. `tap`
        sees each decoded chunk too (a waveform drawn from the same single decode)."""
        limit = None if max_seconds is None else int(max_seconds * self.config.sample_rate)
        chunks = audio.head(audio.stream(path, self.config), limit)
        return self.scan(chunks if tap is None else _tapped(chunks, tap))

    def _with_tracks(self, matches: list[Match]) -> list[Identified]:
        found = []
        for match in matches:
            track = self.catalog.get(match.track_id)
            if track is not None:  # removed since the index was built
                found.append(Identified(match, track))
        return found


def _tapped(chunks: Iterable[np.ndarray], tap: Callable[[np.ndarray], None]) -> Iterator[np.ndarray]:
    for chunk in chunks:
        tap(chunk)
        yield chunk
