"""Stores for tests: copies of a catalog, PostgreSQL schemas of their own, and the settings
or environment that name a store."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg

from lib.store import Catalog, is_url

TEST_DATABASE_URL = os.environ.get("CLEARED_TEST_DATABASE_URL")


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


def store_settings(location: str | Path) -> dict[str, str | Path]:
    """`Settings` keywords naming a store."""
    return {"database_url": str(location)} if is_url(location) else {"db": Path(location)}


def store_env(location: str | Path) -> dict[str, str]:
    """The environment naming a store, for a server process."""
    return {"CLEARED_DATABASE_URL" if is_url(location) else "CLEARED_DB": str(location)}
