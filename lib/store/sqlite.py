"""The embedded catalog: one SQLite file in WAL mode.

Fingerprints are stored one row per track, as two little-endian uint32 blobs (hashes
and anchor frames), not one row per hash: Dejavu's row-per-hash table makes ingest and
loading orders of magnitude slower. Each track is written in one transaction with its
fingerprint, so an interrupted ingest leaves only whole tracks and simply resumes
(files already present, by content hash, are skipped).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from lib.fingerprint.config import DEFAULT, EngineConfig
from lib.fingerprint.index import TrackPrint
from lib.store.db import Database
from lib.store.models import Cover, Track

_SCHEMA = """
CREATE TABLE IF NOT EXISTS tracks (
    track_id TEXT PRIMARY KEY,
    title TEXT NOT NULL DEFAULT '', artist TEXT NOT NULL DEFAULT '', album TEXT NOT NULL DEFAULT '',
    release_date TEXT NOT NULL DEFAULT '', isrc TEXT NOT NULL DEFAULT '', label TEXT NOT NULL DEFAULT '',
    song_link TEXT NOT NULL DEFAULT '', cover_url TEXT NOT NULL DEFAULT '',
    duration REAL NOT NULL DEFAULT 0,
    content_id INTEGER NOT NULL DEFAULT 0, exclusive INTEGER NOT NULL DEFAULT 0,
    audio_sha1 TEXT UNIQUE,
    added_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS fingerprints (
    track_id TEXT PRIMARY KEY REFERENCES tracks(track_id) ON DELETE CASCADE,
    n_frames INTEGER NOT NULL,
    hashes BLOB NOT NULL,
    times BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS covers (
    track_id TEXT PRIMARY KEY REFERENCES tracks(track_id) ON DELETE CASCADE,
    mime TEXT NOT NULL,
    data BLOB NOT NULL
);
"""

_FIELDS = list(Track.model_fields)


class LayoutMismatch(RuntimeError):
    """The catalog's fingerprints were made with another hash layout: re-ingest."""


class Catalog:
    """Tracks and fingerprints in one SQLite file.

    >>> with Catalog("data/cleared.db") as catalog:
    ...     catalog.count()
    """

    def __init__(self, path: str | Path, config: EngineConfig = DEFAULT) -> None:
        self.database = Database(path, _SCHEMA)
        self.path = self.database.path
        self.config = config
        self._check_layout()

    @property
    def _db(self) -> sqlite3.Connection:
        return self.database.conn

    def _check_layout(self) -> None:
        layout = self.config.layout_key()
        row = self._db.execute("SELECT value FROM meta WHERE key = 'layout'").fetchone()
        if row is None:
            self._db.execute("INSERT INTO meta (key, value) VALUES ('layout', ?)", (layout,))
        elif row[0] != layout:
            if self.count():
                raise LayoutMismatch(
                    f"{self.path} holds fingerprints made with another engine layout; "
                    "ingest the music again into a new database"
                )
            self._db.execute("UPDATE meta SET value = ? WHERE key = 'layout'", (layout,))

    def close(self) -> None:
        self.database.close()

    def __enter__(self) -> Catalog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def generation(self) -> int:
        """A number that changes whenever fingerprints are added or removed, by any process:
        an engine compares it to rebuild an index that another process made stale."""
        row = self._db.execute("SELECT value FROM meta WHERE key = 'generation'").fetchone()
        return int(row[0]) if row else 0

    @staticmethod
    def _bump(conn: sqlite3.Connection) -> None:
        conn.execute(
            "INSERT INTO meta (key, value) VALUES ('generation', '1')"
            " ON CONFLICT (key) DO UPDATE SET value = CAST(value AS INTEGER) + 1"
        )

    def add(
        self, track: Track, fingerprint: TrackPrint, audio_sha1: str | None = None, cover: Cover | None = None
    ) -> bool:
        """Store a track with its fingerprint (and its file's art); False if its id or its
        audio is already there."""
        values = track.model_dump()
        columns = [*_FIELDS, "audio_sha1", "added_at"]
        params = [values[f] for f in _FIELDS] + [audio_sha1, datetime.now(UTC).isoformat(timespec="seconds")]
        try:
            with self.database.transaction() as db:
                placeholders = ", ".join("?" * len(columns))
                db.execute(f"INSERT INTO tracks ({', '.join(columns)}) VALUES ({placeholders})", params)
                db.execute(
                    "INSERT INTO fingerprints (track_id, n_frames, hashes, times) VALUES (?, ?, ?, ?)",
                    (
                        track.track_id,
                        fingerprint.n_frames,
                        fingerprint.hashes.astype("<u4").tobytes(),
                        fingerprint.times.astype("<u4").tobytes(),
                    ),
                )
                if cover is not None:
                    db.execute("INSERT INTO covers (track_id, mime, data) VALUES (?, ?, ?)", (track.track_id, *cover))
                self._bump(db)
        except sqlite3.IntegrityError as error:
            if "UNIQUE" in str(error):  # same track_id or same audio: already there
                return False
            raise
        return True

    def cover(self, track_id: str) -> Cover | None:
        row = self._db.execute("SELECT mime, data FROM covers WHERE track_id = ?", (track_id,)).fetchone()
        return Cover(row[0], bytes(row[1])) if row else None

    def with_cover(self, track_ids: list[str]) -> set[str]:
        """Those of `track_ids` that have kept art (without reading it)."""
        marks = ", ".join("?" * len(track_ids))
        return {
            row[0] for row in self._db.execute(f"SELECT track_id FROM covers WHERE track_id IN ({marks})", track_ids)
        }

    def known_sha1s(self) -> set[str]:
        return {row[0] for row in self._db.execute("SELECT audio_sha1 FROM tracks WHERE audio_sha1 IS NOT NULL")}

    def with_audio(self, audio_sha1: str) -> Track | None:
        """The track whose audio file has this SHA-1, if any."""
        row = self._db.execute("SELECT track_id FROM tracks WHERE audio_sha1 = ?", (audio_sha1,)).fetchone()
        return self.get(row[0]) if row else None

    def remove(self, track_id: str) -> bool:
        """Delete a track and (by cascade) its fingerprint."""
        with self.database.transaction() as db:
            removed = db.execute("DELETE FROM tracks WHERE track_id = ?", (track_id,)).rowcount > 0
            if removed:
                self._bump(db)
        return removed

    def update(self, track_id: str, changes: dict[str, object]) -> Track | None:
        """Change a track's metadata (not its id or fingerprint); None if there is no such track."""
        with self.database.transaction():
            track = self.get(track_id)
            if track is None:
                return None
            updated = Track.model_validate({**track.model_dump(), **changes, "track_id": track_id})
            values = updated.model_dump()
            fields = [f for f in _FIELDS if f != "track_id"]
            self._db.execute(
                f"UPDATE tracks SET {', '.join(f'{f} = ?' for f in fields)} WHERE track_id = ?",
                [values[f] for f in fields] + [track_id],
            )
        return updated

    def page(self, offset: int, limit: int, filters: dict[str, str]) -> tuple[list[Track], int]:
        """Tracks in track_id order whose fields contain the given texts (any case), and the total."""
        unknown = set(filters) - set(_FIELDS)
        if unknown:
            raise ValueError(f"cannot filter on {', '.join(sorted(unknown))}")
        where = " AND ".join(f"{f} LIKE ? ESCAPE '\\'" for f in filters) or "1"
        args = [f"%{_escape_like(v)}%" for v in filters.values()]
        total = int(self._db.execute(f"SELECT COUNT(*) FROM tracks WHERE {where}", args).fetchone()[0])
        rows = self._db.execute(
            f"SELECT {', '.join(_FIELDS)} FROM tracks WHERE {where} ORDER BY track_id LIMIT ? OFFSET ?",
            [*args, limit, offset],
        ).fetchall()
        return [Track(**dict(zip(_FIELDS, row, strict=True))) for row in rows], total

    def get(self, track_id: str) -> Track | None:
        with closing(
            self._db.execute(f"SELECT {', '.join(_FIELDS)} FROM tracks WHERE track_id = ?", (track_id,))
        ) as cur:
            row = cur.fetchone()
        return Track(**dict(zip(_FIELDS, row, strict=True))) if row else None

    def tracks(self) -> list[Track]:
        rows = self._db.execute(f"SELECT {', '.join(_FIELDS)} FROM tracks ORDER BY track_id").fetchall()
        return [Track(**dict(zip(_FIELDS, row, strict=True))) for row in rows]

    def count(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM tracks").fetchone()[0])

    def prints(self) -> Iterator[TrackPrint]:
        """Every stored fingerprint, in track_id order (the index's track numbering)."""
        cursor = self._db.execute("SELECT track_id, n_frames, hashes, times FROM fingerprints ORDER BY track_id")
        for track_id, n_frames, hashes, times in cursor:
            yield TrackPrint(track_id, np.frombuffer(hashes, "<u4"), np.frombuffer(times, "<u4"), int(n_frames))

    def stats(self) -> dict[str, float]:
        tracks, seconds = self._db.execute("SELECT COUNT(*), COALESCE(SUM(duration), 0) FROM tracks").fetchone()
        entries, blob_bytes = self._db.execute(
            "SELECT COALESCE(SUM(LENGTH(hashes)) / 4, 0), COALESCE(SUM(LENGTH(hashes) + LENGTH(times)), 0)"
            " FROM fingerprints"
        ).fetchone()
        return {
            "tracks": tracks,
            "hours": round(seconds / 3600, 3),
            "hashes": entries,
            "fingerprint_bytes": blob_bytes,
            "file_bytes": self.path.stat().st_size,
        }


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
