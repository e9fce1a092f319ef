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
index, over the tracks' numbers kept in memory (a few bytes per track). The matcher's
first pass leaves out crowded hashes (more postings than `query_hash_cap`), so
`crowded_hashes` lists them as adds make them, and each instance keeps the list in
memory (4.7 million hashes, 38 MB, at 1,000 hours) to leave them out without asking.
Its second pass, within a few candidate tracks, reads their fingerprint blobs instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, cast

import numpy as np

from lib.fingerprint.config import EngineConfig
from lib.fingerprint.index import Hits, TrackPrint, gather_runs
from lib.store.database import Connection, Database

if TYPE_CHECKING:  # the driver is loaded only with a PostgreSQL store (lib/store/connection.py)
    from lib.store.postgres import Translated

_COPY_HEADER = b"PGCOPY\n\xff\r\n\x00" + bytes(8)  # signature, flags, no header extension
_COPY_TRAILER = b"\xff\xff"
# a binary COPY tuple of three int4 columns: field count, then (length, value) per field
_ROW = np.dtype([("n", ">i2"), ("l0", ">i4"), ("hash", ">i4"), ("l1", ">i4"), ("track", ">i4"), ("l2", ">i4"),
                 ("frame", ">i4")])  # fmt: skip


def _array(values: np.ndarray) -> str:
    """An array parameter as PostgreSQL's text literal, for a `?::int4[]` cast: psycopg's
    own dumping of a list of ints was a sixth of a look-up (a regex per element)."""
    return "{" + ",".join(map(str, values.tolist())) + "}"


def copy_buffer(track_no: int, fingerprint: TrackPrint) -> bytes:
    rows = np.empty(len(fingerprint.hashes), _ROW)
    rows["n"] = 3
    rows["l0"] = rows["l1"] = rows["l2"] = 4
    rows["hash"] = fingerprint.hashes.astype(np.int64)  # 31-bit codes: always a valid int4
    rows["track"] = track_no
    rows["frame"] = fingerprint.times.astype(np.int64)
    return _COPY_HEADER + rows.tobytes() + _COPY_TRAILER


def write(db: Connection, track_id: str, fingerprint: TrackPrint, cap: int) -> None:
    """Post a newly stored fingerprint's hashes (in the transaction that stored it), and
    list those of its hashes that now have more than `cap` postings as crowded."""
    row = db.execute("SELECT track_no FROM fingerprints WHERE track_id = ?", (track_id,)).fetchone()
    raw = cast("Translated", db).raw  # postings exist only in PostgreSQL
    with raw.cursor().copy("COPY postings (hash, track_no, frame) FROM STDIN (FORMAT BINARY)") as copy:
        copy.write(copy_buffer(int(row[0]), fingerprint))
    db.execute(_NEWLY_CROWDED, (_array(np.unique(fingerprint.hashes)), cap + 1, cap))


def list_crowded(db: Connection, cap: int) -> None:
    """List every hash with more than `cap` postings as crowded, after a bulk load that
    bypassed `write` (bench/scale.py)."""
    db.execute(
        "INSERT INTO crowded_hashes (hash) SELECT hash FROM postings GROUP BY hash HAVING count(*) > ? ORDER BY hash"
        " ON CONFLICT (hash) DO NOTHING",
        (cap,),
    )


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
    span: int  # frames on the timeline
    crowded: np.ndarray  # int64 hashes listed in crowded_hashes, ascending
    crowded_seq: int  # the last row of crowded_hashes read

    @classmethod
    def load(cls, database: Database, config: EngineConfig, previous: PostingsIndex | None = None) -> PostingsIndex:
        """The catalog's track list now; the crowded hashes read only since `previous`
        (a few million at 1,000 hours: read whole, it would be seconds per change)."""
        rows = database.execute(  # the reference catalog's: only its tracks are posted (catalog.py)
            "SELECT f.track_no, f.track_id, f.n_frames FROM fingerprints f JOIN tracks t USING (track_id)"
            " WHERE t.owner = '' ORDER BY f.track_no"
        ).rows
        lengths = np.array([r[2] for r in rows], dtype=np.int64)
        numbers = np.array([r[0] for r in rows], dtype=np.int64)
        crowded, seq = (previous.crowded, previous.crowded_seq) if previous else (np.empty(0, np.int64), 0)
        last, packed = database.execute(
            "SELECT max(seq), string_agg(int4send(hash), ''::bytea) FROM crowded_hashes WHERE seq > ?", (seq,)
        ).rows[0]
        if last is not None:
            crowded, seq = np.union1d(crowded, np.frombuffer(packed, ">i4").astype(np.int64)), int(last)
        starts = np.cumsum(lengths) - lengths
        return cls(database, config, numbers, [r[1] for r in rows], starts, int(lengths.sum()), crowded, seq)

    def lookup(self, hashes: np.ndarray, cap: int | None = None) -> Hits:
        """Given a `cap`, the hashes listed as crowded are not asked at all, whatever the
        average (counting first would take another round trip), and any other hash that
        answers with more than `cap` postings (crowded since the list was read) is left
        out here. The list is only a saving: it is written with the catalog's cap, and a
        hash stays listed when removals bring it back under the cap, which can only thin
        this first pass, never a candidate's evidence (`lookup_in` reads it whole).

        Why not ask the server to cap: a capped read (`LIMIT cap + 1` per hash, in a
        `LATERAL` join) costs a B-tree descent per hash asked, crowded or not, and its
        per-hash join more than the plain `= ANY` scan; at 1,000 hours leaving the
        crowded quarter out on this side took the first pass from 86 to 38 ms
        (docs/engine.md)."""
        unique, inverse = np.unique(hashes.astype(np.int64), return_inverse=True)
        listed = _find(self.crowded, unique)[1] if cap is not None else np.zeros(len(unique), bool)
        asked = unique[~listed]

        rows = self.database.execute(
            "SELECT hash, track_no, frame FROM postings WHERE hash = ANY(?::int4[])", (_array(asked),)
        ).rows
        found = np.array(rows, np.int64).reshape(-1, 3)
        crowded_now = 0
        if cap is not None:
            _, posting_of, counts = np.unique(found[:, 0], return_inverse=True, return_counts=True)
            over = counts[posting_of] > cap
            found, crowded_now = found[~over], int(np.count_nonzero(counts > cap))
        probe, found = self._joined(found, unique, inverse)
        return Hits(probe, self.starts[found[:, 1]] + found[:, 2], complete=not listed.any() and not crowded_now)

    def lookup_in(self, hashes: np.ndarray, tracks: np.ndarray) -> Hits:
        """Answered from the tracks' fingerprint blobs, not the postings: the pairs' tracks
        are a search's few candidates, and one read of their blobs (about 100 kB a track)
        costs less than a B-tree descent per distinct hash, which made the postings'
        answer a fifth of a query's time at 1,000 hours (docs/engine.md). Exact, as the
        postings are: a binary search of each track's sorted hashes. A track removed
        since this snapshot has no blob, so no hits."""
        rows = self.database.execute(
            "SELECT track_no, hashes, times FROM fingerprints WHERE track_no = ANY(?::int8[])",
            (self.numbers[np.unique(tracks)].tolist(),),
        ).rows
        probes, frames = [np.empty(0, np.int64)], [np.empty(0, np.int64)]
        for number, blob_hashes, blob_times in rows:
            codes, times = np.frombuffer(blob_hashes, "<u4"), np.frombuffer(blob_times, "<u4")
            order = np.argsort(codes, kind="stable")  # stored prints are sorted already: a linear pass
            codes, times = codes[order], times[order]
            track = int(np.searchsorted(self.numbers, number))
            pairs = np.flatnonzero(tracks == track)
            lo = np.searchsorted(codes, hashes[pairs], "left")
            probe, found = gather_runs(times, lo, np.searchsorted(codes, hashes[pairs], "right") - lo)
            probes.append(pairs[probe])
            frames.append(found.astype(np.int64) + self.starts[track])
        return Hits(np.concatenate(probes), np.concatenate(frames))

    def _joined(self, found: np.ndarray, unique: np.ndarray, inverse: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Each posting (hash, track_no, frame) of `found`, once for every i whose hashes[i]
        is its hash, given the look-up's distinct hashes and `inverse` (hashes[i] ==
        unique[inverse[i]], np.unique's): (those i, the postings as int64 (hash, track
        number, frame)). Postings of tracks added after this snapshot wait for the next one."""
        known, kept = _find(self.numbers, found[:, 1])
        found = found[kept]
        found[:, 1] = known[kept]
        slot, _ = _find(unique, found[:, 0])  # every posting's hash was asked
        by_slot = np.argsort(inverse, kind="stable")
        first = np.searchsorted(inverse[by_slot], np.arange(len(unique) + 1))
        counts = (first[1:] - first[:-1])[slot]
        _, probe = gather_runs(by_slot, first[slot], counts)
        return probe, np.repeat(found, counts, axis=0)

    def locate(self, frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        track = np.searchsorted(self.starts, frames, side="right") - 1
        return track, frames.astype(np.int64) - self.starts[track]


def _find(ascending: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(where each of `values` is in `ascending`, whether it is there): a binary search
    each, where np.isin would sort the millions of crowded hashes again on every call."""
    if len(ascending) == 0:
        return np.zeros(len(values), np.int64), np.zeros(len(values), bool)
    where = np.searchsorted(ascending, values).clip(max=len(ascending) - 1)
    return where, ascending[where] == values


# the hashes of a new track's that now have more than the cap's postings, listed once.
# Parameters: the track's distinct hashes, cap + 1, the cap.
_NEWLY_CROWDED = """
INSERT INTO crowded_hashes (hash)
SELECT q.hash FROM unnest(?::int4[]) AS q(hash)
WHERE (SELECT count(*) FROM (SELECT 1 FROM postings WHERE postings.hash = q.hash LIMIT ?) AS p) > ?
ON CONFLICT (hash) DO NOTHING
"""
