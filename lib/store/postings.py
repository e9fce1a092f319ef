"""Fingerprint look-ups answered by PostgreSQL itself (`CLEARED_INDEX=database`).

One row per stored hash, `(hash, track_no, frame)`, with a covering B-tree on `hash`
that includes the other two columns: a query's thousands of hashes go to the server as
one array (`hash = ANY(?)`), which walks the index once per distinct hash in order
and answers from the index alone (an index-only scan), never reading the table. Rows
are written with binary COPY, built by NumPy in one buffer (a Python loop per row was
most of an add). A track's rows are found for deletion through a BRIN index on
`track_no`: rows arrive a track at a time, so its ranges are narrow and it is a few
pages where a B-tree would double the table's indexes.

`PostingsIndex` offers the matcher the same `lookup` and `locate` as the in-memory
index, over the tracks' numbers kept in memory (a few bytes per track).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from lib.fingerprint.config import EngineConfig
from lib.fingerprint.index import Hits, TrackPrint, gather_runs
from lib.store.db import Connection, Database
from lib.store.postgres import Translated

_COPY_HEADER = b"PGCOPY\n\xff\r\n\x00" + bytes(8)  # signature, flags, no header extension
_COPY_TRAILER = b"\xff\xff"
# a binary COPY tuple of three int4 columns: field count, then (length, value) per field
_ROW = np.dtype([("n", ">i2"), ("l0", ">i4"), ("hash", ">i4"), ("l1", ">i4"), ("track", ">i4"), ("l2", ">i4"),
                 ("frame", ">i4")])  # fmt: skip


def copy_buffer(track_no: int, fingerprint: TrackPrint) -> bytes:
    rows = np.empty(len(fingerprint.hashes), _ROW)
    rows["n"] = 3
    rows["l0"] = rows["l1"] = rows["l2"] = 4
    rows["hash"] = fingerprint.hashes.astype(np.int64)  # 31-bit codes: always a valid int4
    rows["track"] = track_no
    rows["frame"] = fingerprint.times.astype(np.int64)
    return _COPY_HEADER + rows.tobytes() + _COPY_TRAILER


def write(db: Connection, track_id: str, fingerprint: TrackPrint) -> None:
    """Post a newly stored fingerprint's hashes (in the transaction that stored it)."""
    assert isinstance(db, Translated)
    row = db.execute("SELECT track_no FROM fingerprints WHERE track_id = ?", (track_id,)).fetchone()
    with db.raw.cursor().copy("COPY postings (hash, track_no, frame) FROM STDIN (FORMAT BINARY)") as copy:
        copy.write(copy_buffer(int(row[0]), fingerprint))


def delete(db: Connection, track_id: str) -> None:
    db.execute(
        "DELETE FROM postings WHERE track_no = (SELECT track_no FROM fingerprints WHERE track_id = ?)", (track_id,)
    )


@dataclass(frozen=True)
class PostingsIndex:
    """The matcher's index interface over the `postings` table.

    Tracks lie on one timeline in `track_no` order, as the in-memory index lays them
    out. The timeline is a snapshot: a catalog change loads a new one (`load`), and a
    query under way keeps the one it started with.
    """

    database: Database
    config: EngineConfig
    numbers: np.ndarray  # int64 track_no of each track, ascending
    track_ids: Sequence[str]
    starts: np.ndarray  # int64 global frame where each track begins

    @classmethod
    def load(cls, database: Database, config: EngineConfig) -> PostingsIndex:
        rows = database.execute("SELECT track_no, track_id, n_frames FROM fingerprints ORDER BY track_no").rows
        lengths = np.array([r[2] for r in rows], dtype=np.int64)
        numbers = np.array([r[0] for r in rows], dtype=np.int64)
        return cls(database, config, numbers, [r[1] for r in rows], np.cumsum(lengths) - lengths)

    def lookup(self, hashes: np.ndarray, cap: int | None = None) -> Hits:
        """The server reads at most `cap` + 1 postings of a hash and sends none of a
        crowded one, only a row (hash, NULL, NULL) saying it was left out. Unlike the
        in-memory index, it leaves them out whatever the average: it would take another
        round trip to count first."""
        unique = np.unique(hashes)
        if cap is None:
            rows = self.database.execute(
                "SELECT hash, track_no, frame FROM postings WHERE hash = ANY(?::int4[])", (unique.tolist(),)
            ).rows
        else:
            rows = self.database.execute(_CAPPED, (cap, cap, unique.tolist(), cap + 1, cap)).rows
        posted = [r for r in rows if r[1] is not None]
        probe, found = self._joined(posted, hashes)
        return Hits(probe, self.starts[found[:, 1]] + found[:, 2], complete=len(posted) == len(rows))

    def lookup_in(self, hashes: np.ndarray, tracks: np.ndarray) -> Hits:
        """One query for all pairs (their distinct hashes and tracks), matched to the
        pairs here: the server scans each hash's postings once, and sends only those
        of the tracks asked for."""
        if len(hashes) == 0:
            return Hits(np.empty(0, np.int64), np.empty(0, np.int64))
        rows = self.database.execute(
            "SELECT hash, track_no, frame FROM postings WHERE hash = ANY(?::int4[]) AND track_no = ANY(?::int8[])",
            (np.unique(hashes).tolist(), self.numbers[np.unique(tracks)].tolist()),
        ).rows
        probe, found = self._joined(rows, hashes, tracks)
        return Hits(probe, self.starts[found[:, 1]] + found[:, 2])

    def _joined(
        self, rows: list[tuple[Any, ...]], hashes: np.ndarray, tracks: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Each posting (hash, track_no, frame) of `rows`, once for every i whose hashes[i]
        is its hash (and tracks[i] its track, when given): (those i, the postings as
        int64 (hash, track number, frame)). Postings of tracks added after this snapshot
        wait for the next one."""
        found = np.array(rows, dtype=np.int64).reshape(-1, 3)
        known = np.searchsorted(self.numbers, found[:, 1]).clip(max=max(len(self.numbers) - 1, 0))
        kept = self.numbers[known] == found[:, 1] if len(self.numbers) else np.zeros(len(found), bool)
        found = found[kept]
        found[:, 1] = known[kept]
        keys, found_keys = hashes.astype(np.int64), found[:, 0]
        if tracks is not None:
            keys, found_keys = (keys << 32) | tracks, (found_keys << 32) | found[:, 1]
        unique, inverse = np.unique(keys, return_inverse=True)
        slot = np.searchsorted(unique, found_keys).clip(max=max(len(unique) - 1, 0))
        asked = unique[slot] == found_keys if len(unique) else np.zeros(len(found), bool)
        found, slot = found[asked], slot[asked]
        by_slot = np.argsort(inverse, kind="stable")
        first = np.searchsorted(inverse[by_slot], np.arange(len(unique) + 1))
        counts = (first[1:] - first[:-1])[slot]
        _, probe = gather_runs(by_slot, first[slot], counts)
        return probe, np.repeat(found, counts, axis=0)

    def locate(self, frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        track = np.searchsorted(self.starts, frames, side="right") - 1
        return track, frames.astype(np.int64) - self.starts[track]


# each hash's postings, read up to cap + 1 of them and sent only when they are no more
# than the cap; a crowded hash sends one row without a posting instead. Parameters: the
# cap twice, the hashes, cap + 1, the cap.
_CAPPED = """
SELECT hash, CASE WHEN n <= ? THEN track_no END, CASE WHEN n <= ? THEN frame END FROM (
    SELECT q.hash, p.track_no, p.frame, count(*) OVER (PARTITION BY q.hash) AS n,
           row_number() OVER (PARTITION BY q.hash) AS k
    FROM unnest(?::int4[]) AS q(hash)
    CROSS JOIN LATERAL (SELECT track_no, frame FROM postings WHERE postings.hash = q.hash LIMIT ?) AS p
) AS found WHERE n <= ? OR k = 1
"""
