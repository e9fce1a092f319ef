"""The store on both backends: no duplicates, cascading removal, layout guard, crash
safety, forks and threads, migrations, and indexes that keep up with other processes."""

from __future__ import annotations

import gc
import os
import threading
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from lib.core.recognizer import Recognizer
from lib.fingerprint import live
from lib.fingerprint.config import DEFAULT
from lib.fingerprint.index import TrackPrint
from lib.fingerprint.live import LiveIndex
from lib.store import Catalog, LayoutMismatch, Track, connect, schema
from lib.store.database import store_errors
from lib.store.keys import KeyStore
from lib.store.postings import PostingsIndex
from tests.support.stores import TEST_DATABASE_URL, copy_catalog, postgres_schema


def _print(track_id: str, n: int = 100) -> TrackPrint:
    rng = np.random.default_rng(len(track_id))
    return TrackPrint(track_id, rng.integers(0, 2**31, n).astype(np.uint32), np.arange(n, dtype=np.uint32), n)


def test_add_get_and_fingerprints_round_trip(empty_store: str) -> None:
    with Catalog(empty_store) as catalog:
        fp = _print("a")
        assert catalog.add(
            Track.validated({"track_id": "a", "title": "A", "duration": 201.37, "content_id": "yes", "exclusive": "0"}),
            fp,
            "s",
        )
        track = catalog.get("a")
        assert track is not None and track.title == "A" and track.content_id and not track.exclusive
        assert track.duration == 201.37
        (stored,) = list(catalog.prints())
        assert np.array_equal(stored.hashes, fp.hashes) and np.array_equal(stored.times, fp.times)
        assert catalog.with_audio("s") == track and catalog.with_audio("t") is None


def test_same_audio_or_id_is_not_added_twice(empty_store: str) -> None:
    with Catalog(empty_store) as catalog:
        assert catalog.add(Track(track_id="a"), _print("a"), "sha")
        assert not catalog.add(Track(track_id="b"), _print("b"), "sha")
        assert not catalog.add(Track(track_id="a"), _print("a"), "other")
        assert catalog.count() == 1 and len(list(catalog.prints())) == 1
        assert catalog.version() == 1  # refused adds change nothing


def test_remove_removes_fingerprints(empty_store: str) -> None:
    with Catalog(empty_store) as catalog:
        catalog.add(Track(track_id="a"), _print("a"), "sha")
        assert catalog.remove("a") and not catalog.remove("a")
        assert list(catalog.prints()) == [] and catalog.get("a") is None
        assert [op for _, op, _ in catalog.changes_since(0)] == ["add", "remove"]


def test_other_layout_is_refused(empty_store: str) -> None:
    with Catalog(empty_store) as catalog:
        catalog.add(Track(track_id="a"), _print("a"))
    with pytest.raises(LayoutMismatch, match="ingest the music again"):
        Catalog(empty_store, replace(DEFAULT, ref_fanout=3))
    with Catalog(empty_store, replace(DEFAULT, query_fanout=9)) as catalog:  # query-side only: fine
        assert catalog.count() == 1


def test_a_failed_write_leaves_no_half_track(empty_store: str) -> None:
    """The fingerprint insert fails after the track row: the transaction keeps neither."""
    with Catalog(empty_store) as catalog:
        broken = TrackPrint("a", np.zeros(3, np.uint32), np.zeros(3, np.uint32), None)  # type: ignore[arg-type]
        with pytest.raises(store_errors()):
            catalog.add(Track(track_id="a"), broken, "sha")
        assert catalog.count() == 0 and catalog.version() == 0
        assert catalog.add(Track(track_id="a"), _print("a"), "sha")  # and the store still works


def test_sqlite_runs_in_wal_mode(tmp_path: Path) -> None:
    with Catalog(tmp_path / "c.db") as catalog:
        assert catalog.database.execute("PRAGMA journal_mode").rows[0][0] == "wal"


@pytest.mark.parametrize(
    ("bad", "field"),
    [
        ({"track_id": ""}, "track_id"),
        ({"track_id": "has space"}, "track_id"),
        ({"track_id": "a/b"}, "track_id"),
        ({"track_id": "x" * 129}, "track_id"),
        ({"title": "no id"}, "track_id"),
        ({"track_id": "a", "content_id": "maybe"}, "content_id"),
        ({"track_id": "a", "duration": "long"}, "duration"),
        ({"track_id": "a", "title": 7}, "title"),
    ],
)
def test_track_metadata_is_validated(bad: dict[str, object], field: str) -> None:
    with pytest.raises(ValueError, match=f"^{field}: "):
        Track.validated(bad)


def test_track_metadata_is_read_as_a_csv_gives_it() -> None:
    track = Track.validated(
        {"track_id": " a.1 ", "title": " Song ", "duration": "12.5", "exclusive": "Yes", "extra": "x"}
    )
    assert track == Track(track_id="a.1", title="Song", duration=12.5, exclusive=True, content_id=False)


def test_a_forked_child_neither_shares_nor_breaks_the_parents_connections(store: str) -> None:
    """gunicorn forks workers after the app (and its store) is created."""
    with Catalog(store) as catalog:
        assert catalog.count() == 6  # the parent's connection is open
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:  # child: reads through its own connection, then drops what it inherited
            ok = catalog.count() == 6
            gc.collect()
            os.write(write, b"1" if ok else b"0")
            os._exit(0)
        os.waitpid(pid, 0)
        assert os.read(read, 1) == b"1"
        assert catalog.count() == 6 and catalog.add(Track(track_id="after-fork"), _print("f"), "f")


def test_each_thread_writes_in_its_own_transaction(empty_store: str) -> None:
    """A transaction open in one thread must not take in another thread's writes."""
    with Catalog(empty_store) as catalog:
        inside, done = threading.Event(), threading.Event()

        def hold_a_transaction_then_fail() -> None:
            with pytest.raises(RuntimeError), catalog.database.transaction() as db:
                db.execute("INSERT INTO meta (key, value) VALUES ('doomed', 'x')")
                inside.set()
                done.wait(5)
                raise RuntimeError("rolled back")

        holder = threading.Thread(target=hold_a_transaction_then_fail)
        holder.start()
        inside.wait(5)
        writer = threading.Thread(target=lambda: catalog.add(Track(track_id="b"), _print("b"), "sha-b"))
        writer.start()  # commits on its own (on SQLite, after waiting for the write lock)
        time.sleep(0.2)
        done.set()
        holder.join()
        writer.join()
        assert catalog.get("b") is not None
        assert catalog.database.execute("SELECT 1 FROM meta WHERE key = 'doomed'").rows == []


def test_migrations_run_once_and_are_recorded(empty_store: str) -> None:
    database = connect(empty_store, migrate=False)
    try:
        assert [m.version for m in schema.pending(database)] == [m.version for m in schema.MIGRATIONS]
        assert len(schema.migrate(database)) == len(schema.MIGRATIONS)
        assert schema.migrate(database) == [] and schema.pending(database) == []
        assert schema.applied(database) == [m.version for m in schema.MIGRATIONS]
    finally:
        database.close()


def test_another_engine_sees_adds_and_removes(empty_store: str) -> None:
    """Two processes (here two engines on two catalogs of one store) stay in step."""
    with Catalog(empty_store) as mine, Catalog(empty_store) as theirs:
        engine = Recognizer(mine)
        assert engine.index.track_ids == []
        theirs.add(Track(track_id="a"), _print("a"), "sha")
        assert engine.index.track_ids == ["a"]
        theirs.remove("a")
        probe = engine.index.lookup(_print("a").hashes).probe
        assert len(probe) == 0  # the removed track's postings are hidden at once


def test_an_add_extends_the_index_without_reloading_it(
    store: str, song_at_engine_rate: np.ndarray, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(live, "COMPACT_SHARE", 0.5)  # one track of six is a big delta
    with Catalog(store) as catalog:
        engine = Recognizer(catalog)
        before = engine.index
        assert isinstance(before, LiveIndex)
        (demo03,) = catalog.prints(["DEMO03"])
        catalog.remove("DEMO03")
        assert [i.track.track_id for i in engine.identify(song_at_engine_rate)] == []
        catalog.add(Track(track_id="again"), replace(demo03, track_id="again"), "again")
        after = engine.index
        assert isinstance(after, LiveIndex) and after.base is before.base  # same base: no reload
        assert after.delta.track_ids == ["again"]
        assert [i.track.track_id for i in engine.identify(song_at_engine_rate)] == ["again"]


def test_the_index_is_rebuilt_once_the_delta_outgrows_its_share(empty_store: str) -> None:
    with Catalog(empty_store) as catalog:
        for i in range(10):
            catalog.add(Track(track_id=f"t{i}"), _print(f"t{i}" * (i + 1), 1000), f"s{i}")
        engine = Recognizer(catalog)
        base = engine.index
        assert isinstance(base, LiveIndex)
        catalog.add(Track(track_id="big"), _print("big", int(live.COMPACT_SHARE * 10_000) + 1), "big")
        rebuilt = engine.index
        assert isinstance(rebuilt, LiveIndex) and rebuilt.base is not base.base
        assert len(rebuilt.delta.track_ids) == 0 and "big" in rebuilt.track_ids


def test_live_and_stored_lookups_find_every_posting_and_no_removed_one(store: str) -> None:
    """After changes, the in-memory cache finds every stored (hash, track, frame) of the
    query's hashes (and, sharing rows, some chance ones), none of a removed track; the
    PostgreSQL postings find exactly those."""
    with Catalog(store) as catalog:
        engine = Recognizer(catalog)
        engine.index  # noqa: B018  (built before the changes, which it then replays)
        catalog.remove("DEMO02")
        catalog.add(Track(track_id="extra"), _print("extra", 500), "extra")
        queries = np.concatenate([p.hashes[::7] for p in catalog.prints()] + [_print("miss", 200).hashes])
        posted: dict[int, set[tuple[str, int]]] = {}
        for p in catalog.prints():
            for code, frame in zip(p.hashes.tolist(), p.times.tolist(), strict=True):
                posted.setdefault(code, set()).add((p.track_id, frame))
        exact = {(i, t, f) for i, code in enumerate(queries.tolist()) for t, f in posted.get(code, ())}

        def hits(index: LiveIndex | PostingsIndex) -> set[tuple[int, str, int]]:
            probe, frames, _ = index.lookup(queries)
            track, local = index.locate(frames)
            return {(int(p), index.track_ids[t], int(f)) for p, t, f in zip(probe, track, local, strict=True)}

        cached = engine.index
        assert isinstance(cached, LiveIndex) and exact and exact <= hits(cached)
        assert not any(t == "DEMO02" for _, t, _ in hits(cached))
        if catalog.database.dialect == "postgresql":
            assert hits(PostingsIndex.load(catalog.database, DEFAULT)) == exact


def test_capped_and_per_track_lookups(store: str) -> None:
    """`lookup` with a cap leaves out exactly the hashes (rows, in memory) with more
    entries than the cap; `lookup_in` finds exactly a track's share of each hash's
    entries. Checked against the uncapped look-up, in memory and in PostgreSQL."""
    with Catalog(store) as catalog:
        crowded = np.full(300, 7, np.uint32)  # one hash, 300 times in one track
        catalog.add(Track(track_id="crowd"), TrackPrint("crowd", crowded, np.arange(300, dtype=np.uint32), 300), "c")
        engine = Recognizer(catalog)
        prints = list(catalog.prints())
        queries = np.concatenate([p.hashes[::5] for p in prints] + [_print("miss", 200).hashes, crowded[:20]])
        tracks = np.random.default_rng(1).integers(0, len(prints), len(queries))
        indexes: list[LiveIndex | PostingsIndex] = [engine.index]  # type: ignore[list-item]
        if catalog.database.dialect == "postgresql":
            indexes.append(PostingsIndex.load(catalog.database, DEFAULT))
        for index in indexes:
            probe, frames, complete = index.lookup(queries)
            assert complete and len(probe)
            per_probe = np.bincount(probe, minlength=len(queries))
            cap = 2  # far below the average the crowded hash makes
            capped = index.lookup(queries, cap)
            assert not capped.complete
            kept = per_probe[probe] <= cap
            assert sorted(zip(capped.probe.tolist(), capped.frames.tolist(), strict=True)) == sorted(
                zip(probe[kept].tolist(), frames[kept].tolist(), strict=True)
            )
            within = index.lookup_in(queries, tracks)
            mine = index.locate(frames)[0] == tracks[probe]
            assert mine.any() and not mine.all()
            assert sorted(zip(within.probe.tolist(), within.frames.tolist(), strict=True)) == sorted(
                zip(probe[mine].tolist(), frames[mine].tolist(), strict=True)
            )


@pytest.mark.skipif(TEST_DATABASE_URL is None, reason="CLEARED_TEST_DATABASE_URL is not set")
def test_crowded_hashes_are_listed_as_adds_make_them_and_read_incrementally() -> None:
    """A hash is listed once an add gives it more postings than the cap, in the add's own
    transaction; an instance's next snapshot reads only the rows listed since its last.
    A listed hash is left out of a capped look-up without being asked, and a hash
    crowded since the snapshot is left out all the same."""
    cap = DEFAULT.query_hash_cap

    def repeated(track_id: str, code: int, times: int) -> TrackPrint:
        frames = np.arange(times, dtype=np.uint32)
        return TrackPrint(track_id, np.full(times, code, np.uint32), frames, times)

    with postgres_schema() as url, Catalog(url) as catalog:
        catalog.add(Track(track_id="a"), repeated("a", 11, cap), "a")
        first = PostingsIndex.load(catalog.database, DEFAULT)
        assert first.crowded.tolist() == []  # exactly the cap: not crowded
        catalog.add(Track(track_id="b"), repeated("b", 11, 1), "b")
        catalog.add(Track(track_id="c"), repeated("c", 22, cap + 1), "c")
        second = PostingsIndex.load(catalog.database, DEFAULT, first)
        assert second.crowded.tolist() == [11, 22] and second.crowded_seq > first.crowded_seq
        third = PostingsIndex.load(catalog.database, DEFAULT, second)
        assert third.crowded.tolist() == [11, 22] and third.crowded_seq == second.crowded_seq
        for index in (first, second):  # listed or not, the capped look-up leaves both out
            capped = index.lookup(np.array([11, 22, 33], np.uint32), cap)
            assert len(capped.probe) == 0 and not capped.complete
        whole = second.lookup(np.array([11, 22], np.uint32))
        assert whole.complete and np.bincount(whole.probe).tolist() == [cap + 1, cap + 1]


def test_update_and_page(empty_store: str) -> None:
    with Catalog(empty_store) as catalog:
        for i, artist in enumerate(["Ann", "Bob", "ann_x", "100%"]):
            catalog.add(Track(track_id=f"t{i}", artist=artist), _print(f"t{i}", 10 + i), f"sha{i}")
        version = catalog.version()
        updated = catalog.update("t1", {"title": "New", "track_id": "ignored", "content_id": True})
        assert updated is not None and updated.title == "New" and updated.track_id == "t1"
        assert catalog.get("t1") == updated and catalog.version() == version  # no re-index
        assert catalog.update("nope", {"title": "x"}) is None
        found, total = catalog.page(0, 10, {"artist": "ann"})
        assert [t.track_id for t in found] == ["t0", "t2"] and total == 2
        assert [t.track_id for t in catalog.page(0, 10, {"artist": "n_"})[0]] == ["t2"]  # _ is literal
        assert [t.track_id for t in catalog.page(0, 10, {"artist": "0%"})[0]] == ["t3"]
        page, total = catalog.page(1, 2, {})
        assert [t.track_id for t in page] == ["t1", "t2"] and total == 4
        with pytest.raises(ValueError, match="cannot filter"):
            catalog.page(0, 10, {"audio_sha1": "x"})


def test_copying_a_store_keeps_audio_hashes_and_art(store: str, tmp_path: Path) -> None:
    copy = copy_catalog(store, tmp_path / "copy.db")
    with Catalog(store) as origin, Catalog(copy) as copied:
        assert copied.tracks() == origin.tracks() and copied.known_sha1s() == origin.known_sha1s()
        assert copied.with_cover([t.track_id for t in copied.tracks()]) == origin.with_cover(
            [t.track_id for t in origin.tracks()]
        )


def test_database_lookups_answer_as_the_memory_index_does(catalog_store: str, song_at_engine_rate: np.ndarray) -> None:
    """PostgreSQL's postings find the same match, to the frame; SQLite has none to offer."""
    with Catalog(catalog_store) as catalog:
        if catalog.database.dialect == "sqlite":
            with pytest.raises(ValueError, match="PostgreSQL"):
                Recognizer(catalog, lookups="database")
            return
        in_memory = Recognizer(catalog).identify(song_at_engine_rate)
        in_database = Recognizer(catalog, lookups="database").identify(song_at_engine_rate)
    assert [i.track.track_id for i in in_memory] == ["DEMO03"]
    assert in_database == in_memory


def test_a_store_from_before_owners_becomes_the_reference_catalog(
    empty_store: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Migration 5 (docs/tenancy.md): what was stored stays, as the operator's, and its
    rows keep their fingerprints and art through SQLite's rebuild of the tracks table."""
    database = connect(empty_store, migrate=False)
    try:
        monkeypatch.setattr(schema, "MIGRATIONS", schema.MIGRATIONS[:4])
        schema.migrate(database)
        fp = _print("old")
        database.execute(
            "INSERT INTO tracks (track_id, title, audio_sha1, added_at) VALUES ('old', 'Old', 'sha-old', 'x')"
        )
        database.execute(
            "INSERT INTO fingerprints (track_id, n_frames, hashes, times) VALUES ('old', 100, ?, ?)",
            (fp.hashes.astype("<u4").tobytes(), fp.times.astype("<u4").tobytes()),
        )
        database.execute("INSERT INTO covers (track_id, mime, data) VALUES ('old', 'image/png', ?)", (b"png",))
        database.execute(
            "INSERT INTO api_keys (key_id, secret_sha256, owner, products, rate, created_at)"
            " VALUES ('k1', 'h', 'acme', '[]', '1/second', 'x')"
        )
        database.execute("INSERT INTO usage (caller, product, month, calls) VALUES ('k1', 'dn', '2026-10', 7)")
        monkeypatch.undo()
        assert [m.version for m in schema.migrate(database)] == [m.version for m in schema.MIGRATIONS[4:]]
    finally:
        database.close()
    with Catalog(empty_store) as catalog:
        assert catalog.get("old", owner="") is not None and catalog.get("old", owner="acme") is None
        assert [t.track_id for t in catalog.page(0, 10, {})[0]] == ["old"]
        (stored,) = catalog.prints(owner="")
        assert np.array_equal(stored.hashes, fp.hashes) and catalog.cover("old") is not None
        # the same audio may now be in a customer's collection too, still once per collection
        assert catalog.add(Track(track_id="mine"), _print("mine"), "sha-old", owner="acme")
        assert not catalog.add(Track(track_id="again"), _print("again"), "sha-old")
        assert catalog.remove("old") and catalog.cover("old") is None  # the cascade survived the rebuild
        assert catalog.database.execute("SELECT operator FROM api_keys").rows == [(0,)]
    # calls counted per month before usage was counted per day (migration 6) are kept, with their owner
    keys = KeyStore(empty_store)
    try:
        assert keys.usage("2026-10") == [
            {"caller": "k1", "owner": "acme", "product": "dn", "month": "2026-10", "calls": 7, "media_minutes": 0.0}
        ]
    finally:
        keys.close()  # its PostgreSQL pool, else closed by the garbage collector on one of the pool's threads
