"""The in-process "upstream fingerprint provider": identify, add, remove.

It joins the catalog (metadata and stored fingerprints) with the index the matcher
reads, and keeps that index in step with the catalog, which other processes and
instances change too: before each look-up it reads the catalog's last change number
and replays the changes it has not seen (lib/fingerprint/live.py), so a remove anywhere
hides the track at once and an add costs its own fingerprint, not a reload.

The index is held in memory (`lookups="memory"`: fastest, memory grows with the
catalog) or read from PostgreSQL for each query (`lookups="database"`: no memory and no
load at start, for many short-lived instances; lib/store/postings.py).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Literal

import numpy as np

from lib.analysis import Analysis, Identified
from lib.fingerprint import audio
from lib.fingerprint.allocator import keep_freed_memory
from lib.fingerprint.config import DEFAULT, EngineConfig
from lib.fingerprint.index import HashIndex, Index, TrackPrint
from lib.fingerprint.live import LiveIndex
from lib.fingerprint.match import Match
from lib.fingerprint.pipeline import identify, segments
from lib.settings import Settings
from lib.store import Catalog, Track, connect, schema
from lib.store.models import Cover
from lib.store.postings import PostingsIndex

Lookups = Literal["memory", "database"]
_log = logging.getLogger(__name__)


class Recognizer:
    def __init__(
        self,
        catalog: Catalog,
        config: EngineConfig = DEFAULT,
        lookups: Lookups = "memory",
        snapshot: Path | None = None,
    ) -> None:
        if lookups == "database" and catalog.database.dialect != "postgresql":
            raise ValueError("look-ups in the database need PostgreSQL (CLEARED_DATABASE_URL)")
        self.catalog = catalog
        self.config = config
        self.lookups = lookups
        self.snapshot = snapshot
        self._index: LiveIndex | PostingsIndex | None = None
        self._version = -1  # the last catalog change the index holds
        self._building = threading.Lock()
        keep_freed_memory()

    @classmethod
    def from_settings(cls, settings: Settings) -> Recognizer:
        """The store `settings` name (its schema brought up to date, or refused when
        migrations are off and some are pending) and its index, as the service opens them
        and the command line's identify alone does."""
        database = connect(settings.store, settings.database_pool_size, migrate=settings.database_migrate)
        if not settings.database_migrate and schema.pending(database):
            database.close()
            raise RuntimeError("the store's schema is behind this version: run `python -m lib migrate`")
        return cls(Catalog(database), lookups=settings.index, snapshot=settings.snapshot)

    @property
    def index(self) -> HashIndex:
        """The index of the catalog as it is now; one refresh even when many request
        threads ask at once."""
        with self._building:
            version = self.catalog.version()  # read first: a change made while loading is replayed
            if self._index is None:
                self._index, self._version = self._opened(version)
            if version != self._version:
                changes = self.catalog.changes_since(self._version)
                self._index = self._refreshed(self._index, changes, version)
                self._version = max([version, *(seq for seq, _, _ in changes)])
            return self._index

    def _opened(self, version: int) -> tuple[LiveIndex | PostingsIndex, int]:
        """The index at start and the catalog version it holds: the snapshot when there
        is a current one (changes since it are then replayed like any others), else a
        fresh build from `version`."""
        if self.lookups == "memory" and self.snapshot is not None:
            found = Index.mapped(self.snapshot, self.config)
            if found is not None:
                index, stamp = found
                held = stamp.get("version")
                if stamp.get("catalog") == self.catalog.identity and isinstance(held, int) and held <= version:
                    return LiveIndex.joined(index, (), np.zeros(0, bool)), held
        return self._load(version), version

    def _load(self, version: int) -> LiveIndex | PostingsIndex:
        """A fresh build of the catalog at `version` (or later), saved as the snapshot if there is one."""
        if self.lookups == "database":
            return PostingsIndex.load(self.catalog.database, self.config)
        index = LiveIndex.build(self.catalog.prints(), self.config)
        if self.snapshot is not None:
            try:
                index.base.save(self.snapshot, {"catalog": self.catalog.identity, "version": version})
            except OSError as error:  # a read-only folder: the next start builds again, that is all
                _log.warning("index snapshot not saved to %s: %s", self.snapshot, error)
        return index

    def _refreshed(
        self, index: LiveIndex | PostingsIndex, changes: list[tuple[int, str, str]], version: int
    ) -> LiveIndex | PostingsIndex:
        if isinstance(index, PostingsIndex):
            # the look-ups are the database's: the track list is reloaded, the crowded hashes read since
            return PostingsIndex.load(self.catalog.database, self.config, index)
        last = {track_id: op for _, op, track_id in changes}  # a track's last change is what counts
        added = list(self.catalog.prints([t for t, op in last.items() if op == "add"]))
        removed = {t for t, op in last.items() if op == "remove"}
        return index.changed(added, removed) or self._load(version)

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
        return self._with_tracks(identify(samples, self.index, self.config, limit, self.stored_print))

    def scan(self, chunks: Iterable[np.ndarray]) -> Analysis:
        """Every catalog segment in media of any length, given as consecutive sample
        chunks (a decoder's stream), in bounded memory."""
        seen = 0

        def counted() -> Iterator[np.ndarray]:
            nonlocal seen
            for chunk in chunks:
                seen += len(chunk)
                yield chunk

        found = self._with_tracks(segments(counted(), self.index, self.stored_print, self.config))
        return Analysis(found, round(seen / self.config.sample_rate, 3))

    def scan_file(
        self, path: str | Path, max_seconds: float | None = None, tap: Callable[[np.ndarray], None] | None = None
    ) -> Analysis:
        """`scan` of a file as it decodes; after `max_seconds` the rest is ignored. `tap`
        sees each decoded chunk too (a waveform drawn from the same single decode)."""
        limit = None if max_seconds is None else int(max_seconds * self.config.sample_rate)
        chunks = audio.head(audio.stream(path, self.config), limit)
        return self.scan(chunks if tap is None else _tapped(chunks, tap))

    def stored_print(self, track_id: str) -> TrackPrint | None:
        """A track's fingerprint as stored (None once removed): segment edges and weak
        candidates are checked against it (edges.py, verify.py)."""
        stored = list(self.catalog.prints([track_id]))  # read to the end: a cursor left open holds a connection
        return stored[0] if stored else None

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
