"""The index snapshot: saved after a build, memory-mapped at start, changes since replayed."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np

from lib.core.recognizer import Recognizer
from lib.fingerprint.config import DEFAULT
from lib.fingerprint.index import Index, TrackPrint
from lib.fingerprint.live import LiveIndex
from lib.store import Catalog, Track


def _print(track_id: str, seed: int, n: int = 200) -> TrackPrint:
    rng = np.random.default_rng(seed)
    return TrackPrint(track_id, rng.integers(0, 2**31, n).astype(np.uint32), np.arange(n, dtype=np.uint32), n)


def _catalog(path: Path, *track_ids: str) -> Catalog:
    catalog = Catalog(path)
    for seed, track_id in enumerate(track_ids):
        catalog.add(Track(track_id=track_id), _print(track_id, seed), f"sha-{track_id}")
    return catalog


def test_saved_index_maps_back_identical(tmp_path: Path) -> None:
    prints = [_print(t, s) for s, t in enumerate("abc")]
    index = Index.build(prints)
    index.save(tmp_path / "snap", {"version": 3})
    mapped, stamp = Index.mapped(tmp_path / "snap") or (None, None)
    assert stamp == {"version": 3} and mapped is not None
    assert isinstance(mapped.frames.low, np.memmap) and mapped.track_ids == ["a", "b", "c"]
    probes = np.concatenate([p.hashes[:50] for p in prints])
    assert np.array_equal(mapped.lookup(probes).frames, index.lookup(probes).frames)
    assert [p.name for p in tmp_path.iterdir()] == ["snap"]  # no temporary folder left
    index.save(tmp_path / "snap", {"version": 4})  # replaced whole
    assert Index.mapped(tmp_path / "snap")[1] == {"version": 4}  # type: ignore[index]


def test_a_snapshot_of_another_layout_is_not_used(tmp_path: Path) -> None:
    Index.build([_print("a", 0)]).save(tmp_path / "snap", {})
    assert Index.mapped(tmp_path / "snap", replace(DEFAULT, ref_fanout=5)) is None
    assert Index.mapped(tmp_path / "absent") is None


def test_a_snapshot_of_plain_arrays_is_rebuilt(tmp_path: Path) -> None:
    """Snapshots before the packed arrays held offsets.npy and frames.npy: not read."""
    Index.build([_print("a", 0)]).save(tmp_path / "snap", {})
    for packed in ("row_base", "row_within", "frames_low", "frames_high"):
        (tmp_path / "snap" / f"{packed}.npy").unlink()
    np.save(tmp_path / "snap" / "offsets.npy", np.zeros(3, np.uint32))
    np.save(tmp_path / "snap" / "frames.npy", np.zeros(2, np.uint32))
    assert Index.mapped(tmp_path / "snap") is None


def test_recognizer_opens_the_snapshot_and_replays_changes_since(tmp_path: Path) -> None:
    db, snap = tmp_path / "c.db", tmp_path / "c.db.index"
    names = [f"t{i:02d}" for i in range(20)]  # one change is a small share: replayed, not rebuilt
    with _catalog(db, *names) as catalog:
        first = Recognizer(catalog, snapshot=snap).index
        assert isinstance(first, LiveIndex) and snap.is_dir()  # built, then saved
        catalog.add(Track(track_id="new"), _print("new", 99), "sha-new")
        catalog.remove("t00")
    with Catalog(db) as catalog:
        opened = Recognizer(catalog, snapshot=snap).index
        assert isinstance(opened, LiveIndex) and isinstance(opened.base.frames.low, np.memmap)
        assert opened.base.track_ids == names and opened.delta.track_ids == ["new"]

        def tracks_hit(p: TrackPrint) -> set[str]:
            return {opened.track_ids[t] for t in opened.locate(opened.lookup(p.hashes).frames)[0]}

        assert "t00" not in tracks_hit(_print("t00", 0))  # removed since: hidden
        assert "t01" in tracks_hit(_print("t01", 1)) and "new" in tracks_hit(_print("new", 99))  # added since


def test_a_snapshot_of_another_store_is_rebuilt_not_used(tmp_path: Path) -> None:
    snap = tmp_path / "shared.index"
    with _catalog(tmp_path / "one.db", "a") as one:
        Recognizer(one, snapshot=snap).index  # noqa: B018
    with _catalog(tmp_path / "two.db", "x", "y") as two:
        index = Recognizer(two, snapshot=snap).index
        assert isinstance(index, LiveIndex) and index.base.track_ids == ["x", "y"]
        assert not isinstance(index.base.frames, np.memmap)


def test_a_snapshot_that_cannot_be_written_only_costs_the_next_start(tmp_path: Path) -> None:
    with _catalog(tmp_path / "c.db", "a") as catalog:
        blocked = tmp_path / "not-a-folder"
        blocked.write_text("a file where the snapshot's folder would go")
        index = Recognizer(catalog, snapshot=blocked / "c.db.index").index
        assert isinstance(index, LiveIndex) and index.track_ids == ["a"]
