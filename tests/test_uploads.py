"""Both upload backends behave alike: a local folder and a Cloud Storage bucket (through the
real google-cloud-storage client against a local emulator, tests/support/storage_emulator.py)."""

from __future__ import annotations

import os
import sqlite3
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from google.cloud import storage

from lib.core.uploads import INCOMING, LEFTOVER_SECONDS, BucketUploads, Uploads, uploads_for
from lib.web.app import create_app
from tests.support.contract import check
from tests.support.index_client import finished, index_settings, start, upload
from tests.support.server_process import free_port
from tests.support.storage_emulator import BUCKET, storage_emulator
from tests.support.stores import private_copy


@pytest.fixture(scope="module")
def emulator() -> Iterator[str]:
    with storage_emulator() as url:
        yield url


@pytest.fixture
def bucket_env(emulator: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """The emulator for the Google client; a fresh prefix per test. Returns the storage URL."""
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", emulator)
    return f"gs://{BUCKET}/{uuid.uuid4().hex[:8]}/uploads"


@pytest.fixture(params=["folder", pytest.param("bucket", marks=pytest.mark.slow)])  # bucket: an emulator process
def uploads(request: pytest.FixtureRequest, tmp_path: Path) -> Uploads:
    if request.param == "folder":
        return uploads_for(str(tmp_path / "uploads"), timeout=30.0)
    return uploads_for(request.getfixturevalue("bucket_env"), timeout=30.0)


def filled(uploads: Uploads, content: bytes) -> Path:
    incoming = uploads.incoming()
    incoming.write_bytes(content)
    return incoming


def test_kept_music_comes_back_whole_and_nothing_is_left_in_scratch(uploads: Uploads) -> None:
    content = os.urandom(3 * 2**20 + 17)
    music_id = uuid.uuid4().hex
    before = {p.name for p in uploads.scratch.iterdir()}
    uploads.keep(filled(uploads, content), music_id)
    with uploads.local_copy(music_id) as path:
        assert path is not None and path.read_bytes() == content
    left = {p.name for p in uploads.scratch.iterdir()} - before
    assert left == ({music_id} if type(uploads) is Uploads else set())  # a bucket's local copy is gone


def test_unknown_music_is_none_and_ids_are_never_paths(uploads: Uploads) -> None:
    with uploads.local_copy(uuid.uuid4().hex) as path:
        assert path is None
    with pytest.raises(ValueError, match="not a music id"):
        uploads.keep(filled(uploads, b"x"), "../escape")
    with pytest.raises(ValueError, match="not a music id"), uploads.local_copy("a/b"):
        pass


@pytest.mark.slow
def test_a_bucket_object_is_named_by_prefix_and_music_id(bucket_env: str) -> None:
    uploads = uploads_for(bucket_env, timeout=30.0)
    assert isinstance(uploads, BucketUploads)
    music_id = uuid.uuid4().hex
    uploads.keep(filled(uploads, b"audio"), music_id)
    prefix = bucket_env.removeprefix(f"gs://{BUCKET}/")
    names = [blob.name for blob in storage.Client().list_blobs(BUCKET, prefix=prefix)]
    assert names == [f"{prefix}/{music_id}"]


def test_an_unreachable_bucket_is_a_503_and_nothing_is_kept(
    monkeypatch: pytest.MonkeyPatch, catalog_path: Path, tmp_path: Path, media: dict[str, Path]
) -> None:
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", f"http://127.0.0.1:{free_port()}")  # nothing listens
    settings = index_settings(private_copy(catalog_path, tmp_path), tmp_path, storage=f"gs://{BUCKET}/x")
    app = create_app(settings.model_copy(update={"storage_timeout": 1.0, "task_workers": 0}))
    scratch = app.extensions["cleared"].uploads.scratch
    before = set(scratch.iterdir())
    response = app.test_client().post("/api/v1/music", data={"file": (media["new"].open("rb"), "new.flac")})
    check(response, "/api/v1/music", "post")
    assert response.status_code == 503 and response.json["error"]["code"] == "storage_unavailable"  # type: ignore[index]
    assert set(scratch.iterdir()) == before  # the incoming file is removed
    with sqlite3.connect(settings.db) as db:
        assert db.execute("SELECT count(*) FROM music").fetchone() == (0,)


@pytest.mark.slow
def test_add_and_check_run_from_a_bucket(
    bucket_env: str, catalog_path: Path, tmp_path: Path, media: dict[str, Path]
) -> None:
    app = create_app(index_settings(private_copy(catalog_path, tmp_path), tmp_path, storage=bucket_env))
    client: FlaskClient = app.test_client()
    try:
        added = finished(client, start(client, "add", {"musicId": upload(client, media["new"])}))
        assert added["status"] == "success", added
        checked = finished(client, start(client, "check", {"musicId": upload(client, media["new_reencoded"])}))
        assert checked["status"] == "success", checked
        assert checked["result"]["matched_music_id"] == added["result"]["track_id"]
    finally:
        app.extensions["cleared_workers"].stop()
    prefix = bucket_env.removeprefix(f"gs://{BUCKET}/")
    assert len(list(storage.Client().list_blobs(BUCKET, prefix=prefix))) == 2
    assert not (tmp_path / "uploads").exists()  # the local folder backend was never used


def test_leftovers_of_a_killed_process_are_swept_when_the_folder_opens(tmp_path: Path) -> None:
    """Only incoming files untouched for hours go: a live process's are fresh, and kept
    music (named by its id) is never an incoming file, however old."""
    old = time.time() - LEFTOVER_SECONDS - 60
    left, fresh, kept = tmp_path / f"{INCOMING}killed", tmp_path / f"{INCOMING}live", tmp_path / ("a" * 32)
    for path in (left, fresh, kept):
        path.write_bytes(b"x")
    os.utime(left, (old, old))
    os.utime(kept, (old, old))
    uploads = Uploads(tmp_path)
    assert uploads.swept == 1
    assert not left.exists() and fresh.exists() and kept.exists()
