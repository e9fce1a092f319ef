"""The in-process "upstream fingerprint provider": identify, add, remove.

It joins the catalog (metadata and stored fingerprints) with the index the matcher
reads, and keeps that index in step with the catalog, which other processes and
instances change too: before each look-up it reads the catalog's last change number
and replays the changes it has not seen (lib/fingerprint/live.py), so a remove anywhere
hides the track at once and an add costs its own fingerprint, not a reload.

The index is held in memory (`lookups="memory"`: fastest, memory grows with the
catalog) or read from PostgreSQL for each query (`lookups="database"`: no memory and no
load at start, for many short-lived instances; lib/store/postings.py).

Each customer's own collection has an index of its own, built from the store on first
use and held in memory (they are small; the most recently used few hundred are kept),
so one customer's tracks never reach another's look-ups, scores or time. A query that
asks for both searches the reference's and its owner's joined (lib/fingerprint/joined.py).
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Literal

import numpy as np

from lib.analysis import OWN, REFERENCE_COLLECTION, Analysis, Cut, Identified
from lib.fingerprint import audio
from lib.fingerprint.allocator import keep_freed_memory
from lib.fingerprint.config import DEFAULT, EngineConfig
from lib.fingerprint.index import HashIndex, Index, TrackPrint
from lib.fingerprint.joined import Joined
from lib.fingerprint.live import LiveIndex
from lib.fingerprint.match import Match
from lib.fingerprint.pipeline import identify, segments
from lib.store import Catalog, connect, schema
from lib.store.catalog import REFERENCE
from lib.store.postings import PostingsIndex
from lib.store.settings import StoreSettings

Lookups = Literal["memory", "database"]
Held = LiveIndex | PostingsIndex
_log = logging.getLogger(__name__)
COLLECTIONS_HELD = 256  # customers' collection indexes kept in memory, the most recently used


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
        self._held: OrderedDict[str, tuple[Held, int]] = OrderedDict()  # owner: (index, last change it holds)
        self._building = threading.Lock()
        keep_freed_memory()

    @classmethod
    def from_settings(cls, settings: StoreSettings) -> Recognizer:
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
        """The reference catalog's index as it is now."""
        return self.collection(REFERENCE)

    def searched(self, owners: Sequence[str]) -> tuple[HashIndex, set[str]]:
        """The index a query of these owners' collections searches, and the track ids in
        it that are a customer's own (not the reference catalog's)."""
        indexes = {owner: self.collection(owner) for owner in owners}
        own = {t for owner, index in indexes.items() if owner != REFERENCE for t in index.track_ids}
        parts = tuple(indexes.values())
        return (parts[0] if len(parts) == 1 else Joined(parts)), own

    def collection(self, owner: str) -> Held:
        """The index of `owner`'s collection as it is now; one refresh even when many
        request threads ask at once."""
        with self._building:
            version = self.catalog.version()  # read first: a change made while loading is replayed
            held = self._held.get(owner)
            if held is None:
                held = self._opened(owner, version)
            if version != held[1]:
                changes = self.catalog.changes_since(held[1], owner)
                index = self._refreshed(owner, held[0], changes, version) if changes else held[0]
                held = index, max([version, *(seq for seq, _, _ in changes)])
            self._held[owner] = held
            self._held.move_to_end(owner)
            if len(self._held) > COLLECTIONS_HELD:
                self._held.pop(next(o for o in self._held if o != REFERENCE))
            return held[0]

    def _opened(self, owner: str, version: int) -> tuple[Held, int]:
        """The index at start and the catalog version it holds: for the reference catalog,
        the snapshot when there is a current one (changes since it are then replayed like
        any others), else a fresh build from `version`."""
        if owner != REFERENCE:
            return LiveIndex.build(self.catalog.prints(owner=owner), self.config), version
        if self.lookups == "memory" and self.snapshot is not None:
            found = Index.mapped(self.snapshot, self.config)
            if found is not None:
                index, stamp = found
                held = stamp.get("version")
                if stamp.get("catalog") == self.catalog.identity and isinstance(held, int) and held <= version:
                    return LiveIndex.joined(index, (), np.zeros(0, bool)), held
        return self._load(version), version

    def _load(self, version: int) -> Held:
        """A fresh build of the reference catalog at `version` (or later), saved as the
        snapshot if there is one."""
        if self.lookups == "database":
            return PostingsIndex.load(self.catalog.database, self.config)
        index = LiveIndex.build(self.catalog.prints(), self.config)
        if self.snapshot is not None:
            try:
                index.base.save(self.snapshot, {"catalog": self.catalog.identity, "version": version})
            except OSError as error:  # a read-only folder: the next start builds again, that is all
                _log.warning("index snapshot not saved to %s: %s", self.snapshot, error)
        return index

    def _refreshed(self, owner: str, index: Held, changes: list[tuple[int, str, str]], version: int) -> Held:
        if isinstance(index, PostingsIndex):
            # the look-ups are the database's: the track list is reloaded, the crowded hashes read since
            return PostingsIndex.load(self.catalog.database, self.config, index)
        last = {track_id: op for _, op, track_id in changes}  # a track's last change is what counts
        added = list(self.catalog.prints([t for t, op in last.items() if op == "add"]))
        removed = {t for t, op in last.items() if op == "remove"}
        rebuilt = index.changed(added, removed)
        if rebuilt is not None:
            return rebuilt
        return self._load(version) if owner == REFERENCE else self._opened(owner, version)[0]

    def identify(
        self, query: str | Path | np.ndarray, limit: int = 5, max_seconds: float | None = None,
        owners: Sequence[str] = (REFERENCE,),
    ) -> list[Identified]:  # fmt: skip
        """Match a file (or decoded samples) against these owners' collections, best first."""
        samples = query if isinstance(query, np.ndarray) else audio.load(query, self.config, max_seconds)
        index, own = self.searched(owners)
        return self.with_tracks(identify(samples, index, self.config, limit, self.stored_print), own)

    def scan(self, chunks: Iterable[np.ndarray], owners: Sequence[str] = (REFERENCE,)) -> Analysis:
        """Every segment of these owners' collections in media of any length, given as
        consecutive sample chunks (a decoder's stream), in bounded memory."""
        seen = 0

        def counted() -> Iterator[np.ndarray]:
            nonlocal seen
            for chunk in chunks:
                seen += len(chunk)
                yield chunk

        index, own = self.searched(owners)
        found = self.with_tracks(segments(counted(), index, self.stored_print, self.config), own)
        return Analysis(found, round(seen / self.config.sample_rate, 3))

    def scan_file(
        self, path: str | Path, max_seconds: float | None = None, tap: Callable[[np.ndarray], None] | None = None,
        owners: Sequence[str] = (REFERENCE,),
    ) -> Analysis:  # fmt: skip
        """`scan` of a file as it decodes; after `max_seconds` the rest is ignored. `tap`
        sees each decoded chunk too (a waveform drawn from the same single decode)."""
        limit = None if max_seconds is None else int(max_seconds * self.config.sample_rate)
        report = audio.Report()
        chunks = audio.Limited(audio.stream(path, self.config, report), limit)
        analysis = self.scan(chunks if tap is None else _tapped(chunks, tap), owners)
        return with_gaps(analysis, path, report, max_seconds if chunks.cut else None)

    def stored_print(self, track_id: str) -> TrackPrint | None:
        """A track's fingerprint as stored (None once removed): segment edges and weak
        candidates are checked against it (edges.py, verify.py)."""
        stored = list(self.catalog.prints([track_id]))  # read to the end: a cursor left open holds a connection
        return stored[0] if stored else None

    def with_tracks(self, matches: list[Match], own: set[str]) -> list[Identified]:
        """The matches with their tracks, each saying its collection (`own`: the track ids
        that are the caller's, from `searched`); a track removed meanwhile is left out."""
        found = []
        for match in matches:
            track = self.catalog.get(match.track_id)
            if track is not None:  # removed since the index was built
                found.append(Identified(match, track, OWN if match.track_id in own else REFERENCE_COLLECTION))
        return found


def with_gaps(analysis: Analysis, path: str | Path, report: audio.Report, limit: float | None) -> Analysis:
    """`analysis` of the file at `path`, saying what of it was not heard: past the `limit`
    (seconds; None: it was not reached), or past where decoding failed (the `report`).
    An answer must not clear what it never heard (lib/products/rules.py)."""
    if limit is None and report.lost_after is None:
        return analysis
    stated = audio.duration(path)
    heard = f"only {analysis.seconds:.0f} s{f' of {stated:.0f} s' if stated else ''} were analysed"
    if limit is not None:
        cut = Cut("time_limit", f"{heard} (the limit per media is {limit:g} s): not cleared")
    else:
        cut = Cut("decode_error", f"{heard}: the rest could not be decoded; not cleared")
    return replace(analysis, cut=cut, stated_seconds=stated)


def _tapped(chunks: Iterable[np.ndarray], tap: Callable[[np.ndarray], None]) -> Iterator[np.ndarray]:
    for chunk in chunks:
        tap(chunk)
        yield chunk
