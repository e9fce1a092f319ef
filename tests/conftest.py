"""Shared fixtures: generated songs, files encoded with real codecs, a populated catalog,
and stores on both backends.

The API's tests call it in open mode (no keys), set here for every `Settings` and every
server process they start; tests/test_keys.py builds its apps with keys and checks them.

Tests that take the `store` or `empty_store` fixture run once per backend: on an SQLite
file, and on PostgreSQL when `CLEARED_TEST_DATABASE_URL` names a server (`.ci/run` sets
it), each test in a schema of its own that is dropped afterwards.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np
import psycopg
import pytest
from flask import Flask

from lib.core.ingest import discover, ingest
from lib.core.recognizer import Recognizer
from lib.fingerprint.config import DEFAULT
from lib.settings import Settings
from lib.store import Catalog, is_url
from lib.store.keys import Clock, utc_now
from lib.synth.songs import RATE, demo_song, song, write_catalog
from lib.web.app import create_app, shutdown

os.environ.setdefault("CLEARED_AUTH", "open")
TEST_DATABASE_URL = os.environ.get("CLEARED_TEST_DATABASE_URL")
BACKENDS = [
    "sqlite",
    pytest.param(
        "postgresql",
        marks=pytest.mark.skipif(TEST_DATABASE_URL is None, reason="CLEARED_TEST_DATABASE_URL is not set"),
    ),
]


def encode(path: Path, samples: np.ndarray, rate: int, codec: str, video: str | None = None) -> Path:
    """Write mono float samples with a real FFmpeg encoder, with a small video track if asked."""
    with av.open(str(path), "w") as out:
        if video:
            picture = out.add_stream(video, rate=10)
            picture.width, picture.height, picture.pix_fmt = 64, 48, "yuv420p"
        sound = out.add_stream(codec, rate=rate)
        sound.layout = "mono"
        # PyAV converts the sample format and re-frames to the codec's frame size itself
        for start in range(0, len(samples), 4096):
            frame = av.AudioFrame.from_ndarray(
                samples[start : start + 4096].reshape(1, -1), format="flt", layout="mono"
            )
            frame.sample_rate = rate
            frame.pts = start
            frame.time_base = Fraction(1, rate)
            out.mux(sound.encode(frame))
        out.mux(sound.encode(None))
        if video:
            for i in range(int(len(samples) / rate * 10)):
                image = av.VideoFrame.from_ndarray(np.full((48, 64, 3), i % 255, np.uint8), format="rgb24")
                image.pts = i
                out.mux(picture.encode(image))
            out.mux(picture.encode(None))
    return path


@pytest.fixture(scope="session")
def demo_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("demo")
    write_catalog(folder, count=6, seconds=24.0)
    return folder


@pytest.fixture(scope="session")
def catalog_path(demo_folder: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("db") / "catalog.db"
    with Catalog(path) as catalog:
        summary = ingest(catalog, discover(demo_folder / "catalog.csv"), jobs=1, progress=False)
    assert summary.added == 6
    return path


@pytest.fixture
def engine(catalog_path: Path) -> Iterator[Recognizer]:
    with Catalog(catalog_path) as catalog:
        yield Recognizer(catalog)


def at_engine_rate(samples: np.ndarray) -> np.ndarray:
    """Generated audio (at `RATE`) resampled to the engine's rate, as a decoder would give it."""
    from scipy.signal import resample_poly

    return resample_poly(samples, DEFAULT.sample_rate, RATE).astype(np.float32)


@pytest.fixture(scope="session")
def song_at_engine_rate() -> np.ndarray:
    """Demo song 3 (catalog track DEMO03) resampled to the engine's rate."""
    return at_engine_rate(demo_song(2, 24.0))


def copy_catalog(source: str | Path, target: str | Path) -> str | Path:
    """The tracks of one store added to another, fingerprints, audio hashes and art included."""
    with Catalog(source) as origin, Catalog(target) as copy:
        for fingerprint in origin.prints():
            track = origin.get(fingerprint.track_id)
            assert track is not None
            (sha1,) = origin.database.execute("SELECT audio_sha1 FROM tracks WHERE track_id = ?", (track.track_id,))
            copy.add(track, fingerprint, sha1[0], origin.cover(track.track_id))
    return target


def private_copy(catalog: Path, folder: Path) -> Path:
    """The demo catalog in a new SQLite file: these tests add and delete tracks."""
    return Path(copy_catalog(catalog, folder / "catalog.db"))


@contextmanager
def postgres_schema() -> Iterator[str]:
    """A URL of the test server whose schema (and application name) is new, dropped afterwards."""
    assert TEST_DATABASE_URL is not None
    schema = f"test_{uuid.uuid4().hex[:12]}"
    joiner = "&" if "?" in TEST_DATABASE_URL else "?"
    with psycopg.connect(TEST_DATABASE_URL, autocommit=True) as admin:
        admin.execute(f"CREATE SCHEMA {schema}")
        try:
            yield f"{TEST_DATABASE_URL}{joiner}application_name={schema}&options=-csearch_path%3D{schema}"
        finally:
            # a server process the test killed may have left its connections behind
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = %s", (schema,)
            )
            admin.execute(f"DROP SCHEMA {schema} CASCADE")


@pytest.fixture(params=BACKENDS)
def empty_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A new store's location: an SQLite file, or a PostgreSQL schema of this test's own."""
    if request.param == "sqlite":
        yield str(tmp_path / "store.db")
        return
    with postgres_schema() as url:
        yield url


@pytest.fixture(scope="session", params=BACKENDS)
def catalog_store(request: pytest.FixtureRequest, catalog_path: Path) -> Iterator[str]:
    """The demo catalog on each backend, shared by the tests that only read it."""
    if request.param == "sqlite":
        yield str(catalog_path)
        return
    with postgres_schema() as url:
        yield str(copy_catalog(catalog_path, url))


@pytest.fixture
def store(empty_store: str, catalog_path: Path) -> str:
    """The demo catalog in a store of each backend: these tests may change it."""
    copy_catalog(catalog_path, empty_store)
    return empty_store


@pytest.fixture
def make_app(store: str, tmp_path: Path) -> Iterator[Callable[..., Flask]]:
    """Apps over this test's `store` (uploads in its own folder), shut down afterwards."""
    apps: list[Flask] = []

    def make(clock: Clock = utc_now, **overrides: Any) -> Flask:
        values = {**store_settings(store), "storage": str(tmp_path / "uploads"), **overrides}
        apps.append(create_app(Settings(**values), clock))
        return apps[-1]

    yield make
    for app in apps:
        shutdown(app)


def store_settings(location: str | Path) -> dict[str, str | Path]:
    """`Settings` keywords naming a store."""
    return {"database_url": str(location)} if is_url(location) else {"db": Path(location)}


def store_env(location: str | Path) -> dict[str, str]:
    """The environment naming a store, for a server process."""
    return {"CLEARED_DATABASE_URL" if is_url(location) else "CLEARED_DB": str(location)}


@pytest.fixture(scope="session")
def media(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("index-media")
    new = song(4242, 20.0)  # not in the demo catalog
    notes = folder / "notes.txt"
    notes.write_text("not audio")
    return {
        "catalog_excerpt": encode(folder / "demo03.m4a", demo_song(2, 24.0)[4 * RATE : 20 * RATE], RATE, "aac"),
        "new": encode(folder / "new.flac", new, RATE, "flac"),
        "new_reencoded": encode(folder / "new.mp3", new, RATE, "mp3"),
        "text": notes,
    }
