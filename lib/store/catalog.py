"""The catalog: tracks, their fingerprints and art, in SQLite or PostgreSQL.

Fingerprints are stored one row per track, as two little-endian uint32 blobs (hashes
and anchor frames), not one row per hash: Dejavu's row-per-hash table makes ingest and
loading orders of magnitude slower. (On PostgreSQL the hashes are also posted one row
each, for look-ups the server answers: lib/store/postings.py.) Each track is written in
one transaction with its fingerprint, so an interrupted ingest leaves only whole tracks
and simply resumes (files already present, by content hash, are skipped).

Every add and remove also appends to `catalog_changes`, which in-memory indexes replay
(lib/core/recognizer.py). Those transactions take the `_CHANGES` lock in turn, so change
numbers are committed in order and a reader that has seen change n has seen every
change before it (PostgreSQL hands out sequence numbers before commit, not in it).
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from lib.fingerprint.config import DEFAULT, EngineConfig
from lib.fingerprint.index import TrackPrint
from lib.store import postings
from lib.store.connection import connect
from lib.store.database import Connection, Database, only_owner
from lib.store.models import FIELD_TYPES, Cover, Track

_FIELDS = list(FIELD_TYPES)
_CHANGES = "cleared:catalog-changes"
REFERENCE = ""  # the owner of the operator's reference catalog; any other owner's tracks are its collection


class LayoutMismatch(RuntimeError):
    """The catalog's fingerprints were made with another hash layout: re-ingest."""


def _track(row: Sequence[Any]) -> Track:
    """A stored row as a track (SQLite keeps the flags as 0 and 1)."""
    values = dict(zip(_FIELDS, row, strict=True))
    return Track(**values | {"content_id": bool(values["content_id"]), "exclusive": bool(values["exclusive"])})


class Catalog:
    """Tracks and fingerprints in a store (a file path, a postgresql:// URL or an open `Database`).

    >>> with Catalog("data/cleared.db") as catalog:
    ...     catalog.count()
    """

    def __init__(self, location: str | Path | Database, config: EngineConfig = DEFAULT) -> None:
        self.database = location if isinstance(location, Database) else connect(location)
        self.config = config
        self._posts = self.database.dialect == "postgresql"
        try:
            self._check_layout()
        except LayoutMismatch:
            if not isinstance(location, Database):
                self.database.close()
            raise

    def _check_layout(self) -> None:
        layout = self.config.layout_key()
        stored = self.database.setting("layout", lambda: layout)
        if stored != layout:
            if self.count():
                raise LayoutMismatch(
                    "the store holds fingerprints made with another engine layout; "
                    "ingest the music again into a new database"
                )
            self.database.execute("UPDATE meta SET value = ? WHERE key = 'layout'", (layout,))

    def close(self) -> None:
        self.database.close()

    def __enter__(self) -> Catalog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # changes -----------------------------------------------------------------

    @cached_property
    def identity(self) -> str:
        """A random id this store was given when first opened: an index snapshot of
        another store (a file replaced by another) is never mistaken for this one's."""
        return self.database.setting("catalog_id", lambda: secrets.token_hex(8))

    def version(self) -> int:
        """The number of the last add or remove, by any process (0: none yet)."""
        row = self.database.execute("SELECT COALESCE(MAX(seq), 0) FROM catalog_changes").fetchone()
        return int(row[0]) if row else 0

    def changes_since(self, version: int, owner: str = REFERENCE) -> list[tuple[int, str, str]]:
        """(number, "add" | "remove", track_id) of every change to `owner`'s tracks after
        `version`, in order."""
        rows = self.database.execute(
            "SELECT seq, op, track_id FROM catalog_changes WHERE seq > ? AND owner = ? ORDER BY seq", (version, owner)
        ).rows
        return [(int(seq), op, track_id) for seq, op, track_id in rows]

    @staticmethod
    def _log(db: Connection, op: str, track_id: str, owner: str) -> None:
        db.execute("INSERT INTO catalog_changes (op, track_id, owner) VALUES (?, ?, ?)", (op, track_id, owner))

    # writes ------------------------------------------------------------------

    def add(
        self, track: Track, fingerprint: TrackPrint, audio_sha1: str | None = None, cover: Cover | None = None,
        owner: str = REFERENCE,
    ) -> bool:  # fmt: skip
        """Store a track with its fingerprint (and its file's art) in `owner`'s collection;
        False if its id, or its audio in that collection, is already there."""
        values = track.as_dict()
        columns = [*_FIELDS, "audio_sha1", "added_at", "owner"]
        params = [int(v) if isinstance(v, bool) else v for v in (values[f] for f in _FIELDS)]
        params += [audio_sha1, datetime.now(UTC).isoformat(timespec="seconds"), owner]
        marks = ", ".join("?" * len(columns))
        with self.database.transaction(lock=_CHANGES) as db:
            inserted = db.execute(
                f"INSERT INTO tracks ({', '.join(columns)}) VALUES ({marks}) ON CONFLICT DO NOTHING", params
            ).rowcount
            if not inserted:  # same track_id or same audio: already there
                return False
            db.execute(
                "INSERT INTO fingerprints (track_id, n_frames, hashes, times) VALUES (?, ?, ?, ?)",
                (
                    track.track_id,
                    fingerprint.n_frames,
                    fingerprint.hashes.astype("<u4").tobytes(),
                    fingerprint.times.astype("<u4").tobytes(),
                ),
            )
            if self._posts and owner == REFERENCE:  # collections are small: indexed in memory (docs/tenancy.md)
                postings.write(db, track.track_id, fingerprint, self.config.query_hash_cap)
            if cover is not None:
                db.execute("INSERT INTO covers (track_id, mime, data) VALUES (?, ?, ?)", (track.track_id, *cover))
            self._log(db, "add", track.track_id, owner)
        return True

    def remove(self, track_id: str, owner: str | None = None) -> bool:
        """Delete a track (only from `owner`'s collection, if given) and, by cascade, its
        fingerprint and art."""
        with self.database.transaction(lock=_CHANGES) as db:
            where, args = only_owner(owner)
            row = db.execute(f"SELECT owner FROM tracks WHERE track_id = ?{where}", (track_id, *args)).fetchone()
            if row is None:
                return False
            if self._posts and row[0] == REFERENCE:
                postings.delete(db, track_id)
            db.execute("DELETE FROM tracks WHERE track_id = ?", (track_id,))
            self._log(db, "remove", track_id, row[0])
        return True

    def update(self, track_id: str, changes: dict[str, object], owner: str | None = None) -> Track | None:
        """Change a track's metadata (not its id or fingerprint); None if there is no such
        track (in `owner`'s collection, if given)."""
        fields = [f for f in _FIELDS if f != "track_id"]
        where, args = only_owner(owner)
        with self.database.transaction() as db:
            row = db.execute(
                f"SELECT {', '.join(_FIELDS)} FROM tracks WHERE track_id = ?{where}", (track_id, *args)
            ).fetchone()
            if row is None:
                return None
            updated = Track.validated({**_track(row).as_dict(), **changes, "track_id": track_id})
            values = updated.as_dict()
            db.execute(
                f"UPDATE tracks SET {', '.join(f'{f} = ?' for f in fields)} WHERE track_id = ?",
                [int(v) if isinstance(v, bool) else v for v in (values[f] for f in fields)] + [track_id],
            )
        return updated

    # reads -------------------------------------------------------------------

    def cover(self, track_id: str) -> Cover | None:
        row = self.database.execute("SELECT mime, data FROM covers WHERE track_id = ?", (track_id,)).fetchone()
        return Cover(row[0], bytes(row[1])) if row else None

    def with_cover(self, track_ids: list[str]) -> set[str]:
        """Those of `track_ids` that have kept art (without reading it)."""
        if not track_ids:
            return set()
        marks = ", ".join("?" * len(track_ids))
        rows = self.database.execute(f"SELECT track_id FROM covers WHERE track_id IN ({marks})", track_ids)
        return {row[0] for row in rows}

    def known_sha1s(self, owner: str = REFERENCE) -> set[str]:
        rows = self.database.execute(
            "SELECT audio_sha1 FROM tracks WHERE audio_sha1 IS NOT NULL AND owner = ?", (owner,)
        )
        return {row[0] for row in rows}

    def with_audio(self, audio_sha1: str, owner: str = REFERENCE) -> Track | None:
        """The track of `owner`'s collection whose audio file has this SHA-1, if any."""
        row = self.database.execute(
            f"SELECT {', '.join(_FIELDS)} FROM tracks WHERE audio_sha1 = ? AND owner = ?", (audio_sha1, owner)
        ).fetchone()
        return _track(row) if row else None

    def page(self, offset: int, limit: int, filters: dict[str, str], owner: str = REFERENCE) -> tuple[list[Track], int]:
        """`owner`'s tracks in track_id order whose fields contain the given texts (any case), and the total."""
        unknown = set(filters) - set(_FIELDS)
        if unknown:
            raise ValueError(f"cannot filter on {', '.join(sorted(unknown))}")
        like = self.database.like
        where = " AND ".join(["owner = ?", *(f"{f} {like} ? ESCAPE '\\'" for f in filters)])
        args = [owner, *(f"%{_escape_like(v)}%" for v in filters.values())]
        total = self.database.execute(f"SELECT COUNT(*) FROM tracks WHERE {where}", args).rows[0][0]
        rows = self.database.execute(
            f"SELECT {', '.join(_FIELDS)} FROM tracks WHERE {where} ORDER BY track_id LIMIT ? OFFSET ?",
            [*args, limit, offset],
        )
        return [_track(row) for row in rows], int(total)

    def get(self, track_id: str, owner: str | None = None) -> Track | None:
        """The track (only if it is in `owner`'s collection, when given)."""
        where, args = only_owner(owner)
        row = self.database.execute(
            f"SELECT {', '.join(_FIELDS)} FROM tracks WHERE track_id = ?{where}", (track_id, *args)
        ).fetchone()
        return _track(row) if row else None

    def tracks(self) -> list[Track]:
        return [
            _track(row) for row in self.database.execute(f"SELECT {', '.join(_FIELDS)} FROM tracks ORDER BY track_id")
        ]

    def count(self) -> int:
        return int(self.database.execute("SELECT COUNT(*) FROM tracks").rows[0][0])

    def prints(self, track_ids: Sequence[str] | None = None, owner: str = REFERENCE) -> Iterator[TrackPrint]:
        """The stored fingerprints (of `track_ids`, or all of `owner`'s collection), in
        track_id order, read a few at a time."""
        if track_ids is not None:
            if not track_ids:
                return
            where, params = f"f.track_id IN ({', '.join('?' * len(track_ids))})", list(track_ids)
        else:
            where, params = "t.owner = ?", [owner]
        for track_id, n_frames, hashes, times in self.database.stream(
            "SELECT f.track_id, f.n_frames, f.hashes, f.times FROM fingerprints f JOIN tracks t USING (track_id)"
            f" WHERE {where} ORDER BY f.track_id",
            params,
        ):
            yield TrackPrint(track_id, np.frombuffer(hashes, "<u4"), np.frombuffer(times, "<u4"), int(n_frames))

    def stats(self) -> dict[str, float]:
        tracks, seconds = self.database.execute("SELECT COUNT(*), COALESCE(SUM(duration), 0) FROM tracks").rows[0]
        entries, blob_bytes = self.database.execute(
            "SELECT COALESCE(SUM(LENGTH(hashes)) / 4, 0), COALESCE(SUM(LENGTH(hashes) + LENGTH(times)), 0)"
            " FROM fingerprints"
        ).rows[0]
        return {
            "tracks": int(tracks),
            "hours": round(float(seconds) / 3600, 3),
            "hashes": int(entries),
            "fingerprint_bytes": int(blob_bytes),
            "store_bytes": self.database.size_bytes(),
        }


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
