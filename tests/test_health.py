"""The platform's probes (lib/web/health.py) and how a cloud instance gets its catalog
(lib/ops/catalog_fetch.py): through the app, and through main.py served as in the cloud."""

from __future__ import annotations

import json
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest
from flask import Flask
from flask.testing import FlaskClient
from google.api_core.exceptions import NotFound
from google.cloud import storage

from lib.ops.catalog_fetch import fetch_catalog
from lib.settings import Settings
from lib.store import Catalog
from lib.web.app import create_app, shutdown
from tests.support.server_process import server
from tests.support.storage_emulator import BUCKET, storage_emulator
from tests.support.stores import TEST_DATABASE_URL, copy_catalog, postgres_schema, private_copy


@pytest.fixture
def db(catalog_path: Path, tmp_path: Path) -> Path:
    return private_copy(catalog_path, tmp_path)


@pytest.fixture
def app(db: Path, tmp_path: Path) -> Flask:
    return create_app(Settings(db=db, storage=str(tmp_path / "up"), task_workers=0, auth="keys"))


def test_both_probes_answer_without_a_key(make_app: Callable[..., Flask]) -> None:
    client = make_app(task_workers=0, auth="keys").test_client()
    alive, ready = client.get("/healthz"), client.get("/readyz")
    assert (alive.status_code, alive.json) == (200, {"status": "ok"})
    assert (ready.status_code, ready.json) == (200, {"status": "ready", "tracks": 6})
    assert "RateLimit-Limit" not in ready.headers  # public: neither metered nor limited


@pytest.mark.parametrize("breakage", ["moved away", "not a database"])
def test_readiness_fails_while_the_store_is_unreachable_and_recovers(app: Flask, db: Path, breakage: str) -> None:
    client = app.test_client()
    assert client.get("/readyz").status_code == 200  # the app's connections are open now
    aside = db.rename(db.with_name("aside.db"))
    if breakage == "not a database":
        db.write_bytes(b"this is not an SQLite file" * 200)
    broken = client.get("/readyz")
    assert broken.status_code == 503
    assert broken.json["error"]["code"] == "store_unreachable" and str(db.parent) not in broken.get_data(as_text=True)
    assert client.get("/healthz").status_code == 200  # alive, just not ready
    aside.replace(db)
    assert client.get("/readyz").json == {"status": "ready", "tracks": 6}


@pytest.mark.skipif(TEST_DATABASE_URL is None, reason="CLEARED_TEST_DATABASE_URL is not set")
def test_readiness_fails_while_postgresql_is_unreachable_and_recovers(catalog_path: Path, tmp_path: Path) -> None:
    with postgres_schema() as store:
        copy_catalog(catalog_path, store)
        app = create_app(Settings(database_url=store, storage=str(tmp_path / "up"), task_workers=0))
        try:
            _break_and_mend(app.test_client(), store)
        finally:
            shutdown(app)


def _break_and_mend(client: FlaskClient, store: str) -> None:
    assert client.get("/readyz").status_code == 200
    schema = store.rsplit("%3D", 1)[1]
    with psycopg.connect(store, autocommit=True) as admin:
        admin.execute(f"ALTER SCHEMA {schema} RENAME TO {schema}_aside")  # every table gone from the path
        try:
            broken = client.get("/readyz")
            assert broken.status_code == 503 and broken.json["error"]["code"] == "store_unreachable"
            assert schema not in broken.get_data(as_text=True)
        finally:
            admin.execute(f"ALTER SCHEMA {schema}_aside RENAME TO {schema}")
    assert client.get("/readyz").json == {"status": "ready", "tracks": 6}


@pytest.fixture(scope="module")
def emulator() -> Iterator[str]:
    with storage_emulator() as url:
        yield url


@pytest.fixture
def catalog_object(emulator: str, catalog_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """The demo catalog uploaded to the emulated bucket; its gs:// URL."""
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", emulator)
    name = f"{uuid.uuid4().hex[:8]}/cleared.db"
    storage.Client().bucket(BUCKET).blob(name).upload_from_filename(catalog_path)
    return f"gs://{BUCKET}/{name}"


@pytest.mark.slow
def test_an_instance_fetches_the_catalog_once(catalog_object: str, tmp_path: Path) -> None:
    db = tmp_path / "data" / "cleared.db"
    assert fetch_catalog(catalog_object, db) is True
    with Catalog(db) as catalog:
        assert catalog.count() == 6
    assert fetch_catalog(catalog_object, db) is False  # there already: not fetched again
    assert sorted(p.name for p in db.parent.iterdir() if not p.name.endswith("-lock")) == ["cleared.db"]


@pytest.mark.slow
def test_a_missing_catalog_object_fails_the_start_and_leaves_nothing(catalog_object: str, tmp_path: Path) -> None:
    db = tmp_path / "data" / "cleared.db"
    with pytest.raises(NotFound):
        fetch_catalog(catalog_object + ".missing", db)
    assert not db.exists() and [p.name for p in db.parent.iterdir()] == [".cleared.db.fetch-lock"]


@pytest.mark.slow
def test_main_fetches_the_catalog_before_it_serves(catalog_object: str, emulator: str, tmp_path: Path) -> None:
    """main.py as Cloud Run starts it: an empty disk, the catalog in a bucket, JSON logs."""
    db = tmp_path / "instance" / "cleared.db"
    env = {"CLEARED_DB": str(db), "CLEARED_CATALOG_URL": catalog_object, "STORAGE_EMULATOR_HOST": emulator}
    env |= {"CLEARED_STORAGE": str(tmp_path / "up"), "CLEARED_LOG_FORMAT": "json", "WORKERS": "2"}
    with server(env) as (url, _), urllib.request.urlopen(url + "/readyz", timeout=10) as response:
        assert json.load(response) == {"status": "ready", "tracks": 6}
    assert db.stat().st_size > 0
