"""Shared fixtures: generated songs, files encoded with real codecs, a populated catalog,
stores on both backends, and an app with its test client. Plain helpers are in tests/support/.

The API's tests call it in open mode (no keys), set here for every `Settings` and every
server process they start; tests/test_keys.py builds its apps with keys and checks them.

Tests that take the `store` or `empty_store` fixture run once per backend: on an SQLite
file, and on PostgreSQL when `CLEARED_TEST_DATABASE_URL` names a server (`.ci/run` sets
it), each test in a schema of its own that is dropped afterwards.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import settings as hypothesis_settings
from hypothesis.configuration import set_hypothesis_home_dir

from lib.core.ingest import discover, ingest
from lib.core.recognizer import Recognizer
from lib.settings import Settings
from lib.store import Catalog
from lib.store.keys import Clock, utc_now
from lib.synth.songs import RATE, demo_song, song, write_catalog
from lib.web.app import create_app, shutdown
from tests.support.audio import at_engine_rate, encode
from tests.support.stores import TEST_DATABASE_URL, copy_catalog, postgres_schema, store_settings

os.environ.setdefault("CLEARED_AUTH", "open")
# no example database (.hypothesis/ in the working folder): the suite writes nothing there
hypothesis_settings.register_profile("cleared", database=None)
hypothesis_settings.load_profile("cleared")
BACKENDS = [
    "sqlite",
    pytest.param(
        "postgresql",
        marks=pytest.mark.skipif(TEST_DATABASE_URL is None, reason="CLEARED_TEST_DATABASE_URL is not set"),
    ),
]


@pytest.fixture(scope="session", autouse=True)
def hypothesis_home(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Hypothesis's caches (unicode data, constants) in a temporary folder, not .hypothesis/."""
    set_hypothesis_home_dir(tmp_path_factory.mktemp("hypothesis"))


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


@pytest.fixture(scope="session")
def song_at_engine_rate() -> np.ndarray:
    """Demo song 3 (catalog track DEMO03) resampled to the engine's rate."""
    return at_engine_rate(demo_song(2, 24.0))


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


@pytest.fixture
def app(make_app: Callable[..., Flask]) -> Flask:
    """An app over this test's `store` in open mode; a module overrides `make_app` (or this)
    for settings of its own."""
    return make_app()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


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
