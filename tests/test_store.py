"""The SQLite catalog: no duplicates, cascading removal, layout guard, crash safety."""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from lib.engine import Engine
from lib.fingerprint.config import DEFAULT
from lib.fingerprint.index import TrackPrint
from lib.store import Catalog, LayoutMismatch, Track


def _print(track_id: str, n: int = 100) -> TrackPrint:
    rng = np.random.default_rng(len(track_id))
    return TrackPrint(track_id, rng.integers(0, 2**31, n).astype(np.uint32), np.arange(n, dtype=np.uint32), n)


def test_add_get_and_fingerprints_round_trip(tmp_path: Path) -> None:
    with Catalog(tmp_path / "c.db") as catalog:
        fp = _print("a")
        assert catalog.add(Track(track_id="a", title="A", content_id="yes", exclusive="0"), fp, "sha-a")
        track = catalog.get("a")
        assert track is not None and track.title == "A" and track.content_id and not track.exclusive
        (stored,) = list(catalog.prints())
        assert np.array_equal(stored.hashes, fp.hashes) and np.array_equal(stored.times, fp.times)


def test_same_audio_or_id_is_not_added_twice(tmp_path: Path) -> None:
    with Catalog(tmp_path / "c.db") as catalog:
        assert catalog.add(Track(track_id="a"), _print("a"), "sha")
        assert not catalog.add(Track(track_id="b"), _print("b"), "sha")
        assert not catalog.add(Track(track_id="a"), _print("a"), "other")
        assert catalog.count() == 1 and len(list(catalog.prints())) == 1


def test_remove_removes_fingerprints(tmp_path: Path) -> None:
    with Catalog(tmp_path / "c.db") as catalog:
        catalog.add(Track(track_id="a"), _print("a"), "sha")
        assert catalog.remove("a") and not catalog.remove("a")
        assert list(catalog.prints()) == [] and catalog.get("a") is None


def test_other_layout_is_refused(tmp_path: Path) -> None:
    with Catalog(tmp_path / "c.db") as catalog:
        catalog.add(Track(track_id="a"), _print("a"))
    with pytest.raises(LayoutMismatch, match="ingest the music again"):
        Catalog(tmp_path / "c.db", replace(DEFAULT, ref_fanout=3))
    with Catalog(tmp_path / "c.db", replace(DEFAULT, query_fanout=9)) as catalog:  # query-side only: fine
        assert catalog.count() == 1


def test_a_failed_write_leaves_no_half_track(tmp_path: Path) -> None:
    """The fingerprint insert fails after the track row: the transaction keeps neither."""
    with Catalog(tmp_path / "c.db") as catalog:
        catalog._db.execute(
            "CREATE TRIGGER boom BEFORE INSERT ON fingerprints BEGIN SELECT RAISE(ABORT, 'disk full'); END"
        )
        with pytest.raises(sqlite3.IntegrityError):
            catalog.add(Track(track_id="a"), _print("a"), "sha")
        assert catalog.count() == 0


def test_wal_mode(tmp_path: Path) -> None:
    with Catalog(tmp_path / "c.db") as catalog:
        assert catalog._db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


@pytest.mark.parametrize("bad", ["", "has space", "a/b"])
def test_track_id_is_validated(bad: str) -> None:
    with pytest.raises(ValueError):
        Track(track_id=bad)


def test_a_forked_child_opens_its_own_connection(catalog_path: Path) -> None:
    """gunicorn forks workers after the app (and its catalog) is created."""
    with Catalog(catalog_path) as catalog:
        parent = catalog._db
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:  # child: must read through a fresh connection
            ok = catalog._db is not parent and catalog.count() == 6
            os.write(write, b"1" if ok else b"0")
            os._exit(0)
        os.waitpid(pid, 0)
        assert os.read(read, 1) == b"1"
        assert catalog._db is parent


def test_each_thread_writes_in_its_own_transaction(tmp_path: Path) -> None:
    """A transaction open in one thread must not take in another thread's writes."""
    with Catalog(tmp_path / "c.db") as catalog:
        inside, done = threading.Event(), threading.Event()

        def hold_a_transaction_then_fail() -> None:
            with pytest.raises(RuntimeError), catalog.database.transaction():
                inside.set()
                done.wait(5)
                raise RuntimeError("rolled back")

        holder = threading.Thread(target=hold_a_transaction_then_fail)
        holder.start()
        inside.wait(5)
        writer = threading.Thread(target=lambda: catalog.add(Track(track_id="b"), _print("b"), "sha-b"))
        writer.start()  # waits for the write lock, then commits on its own
        time.sleep(0.2)
        done.set()
        holder.join()
        writer.join()
        assert catalog.get("b") is not None


def test_another_engine_sees_adds_and_removes(tmp_path: Path) -> None:
    """Two processes (here two engines on two catalogs of one file) stay in step."""
    with Catalog(tmp_path / "c.db") as mine, Catalog(tmp_path / "c.db") as theirs:
        engine = Engine(mine)
        assert engine.index.track_ids == []
        Engine(theirs).add(Track(track_id="a"), _print("a"), "sha")
        assert engine.index.track_ids == ["a"]
        theirs.remove("a")
        assert engine.index.track_ids == []


def test_update_and_page(tmp_path: Path) -> None:
    with Catalog(tmp_path / "c.db") as catalog:
        for i, artist in enumerate(["Ann", "Bob", "ann_x", "100%"]):
            catalog.add(Track(track_id=f"t{i}", artist=artist), _print(f"t{i}", 10 + i), f"sha{i}")
        generation = catalog.generation()
        updated = catalog.update("t1", {"title": "New", "track_id": "ignored"})
        assert updated is not None and updated.title == "New" and updated.track_id == "t1"
        assert catalog.get("t1") == updated and catalog.generation() == generation  # no re-index
        assert catalog.update("nope", {"title": "x"}) is None
        found, total = catalog.page(0, 10, {"artist": "ann"})
        assert [t.track_id for t in found] == ["t0", "t2"] and total == 2
        assert [t.track_id for t in catalog.page(0, 10, {"artist": "n_"})[0]] == ["t2"]  # _ is literal
        assert [t.track_id for t in catalog.page(0, 10, {"artist": "0%"})[0]] == ["t3"]
        page, total = catalog.page(1, 2, {})
        assert [t.track_id for t in page] == ["t1", "t2"] and total == 4
        with pytest.raises(ValueError, match="cannot filter"):
            catalog.page(0, 10, {"audio_sha1": "x"})
