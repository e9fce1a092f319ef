"""The store's settings read without pydantic (one-clip identify) agree with the service's."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from pydantic import ValidationError

from lib.settings import Settings
from lib.store.settings import InvalidStoreSetting, StoreSettings

VARIABLES = ("DB", "DATABASE_URL", "DATABASE_POOL_SIZE", "DATABASE_MIGRATE", "INDEX", "INDEX_SNAPSHOT")


@pytest.fixture
def environ(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """An environment with none of the store's variables set."""
    for name in VARIABLES:
        monkeypatch.delenv(f"CLEARED_{name}", raising=False)
    return monkeypatch


@pytest.mark.parametrize(
    "values",
    [
        {},
        {"CLEARED_DB": "/srv/c.db", "CLEARED_INDEX_SNAPSHOT": "/srv/snap"},
        {"CLEARED_DATABASE_URL": "postgresql://u@h/d", "CLEARED_INDEX": "database"},
        {"cleared_database_pool_size": "3", "CLEARED_DATABASE_MIGRATE": "Off"},
        {"CLEARED_DATABASE_MIGRATE": "yes", "CLEARED_DATABASE_URL": "postgres://h/d"},
    ],
)
def test_both_readers_agree(environ: pytest.MonkeyPatch, values: dict[str, str]) -> None:
    for name, value in values.items():
        environ.setenv(name, value)
    assert StoreSettings.from_environment(os.environ) == StoreSettings.of(Settings())


@pytest.mark.parametrize(
    "values",
    [
        {"CLEARED_INDEX": "database"},  # look-ups in the database need PostgreSQL
        {"CLEARED_INDEX": "disk"},
        {"CLEARED_DATABASE_URL": "mysql://h/d"},
        {"CLEARED_DATABASE_POOL_SIZE": "0"},
        {"CLEARED_DATABASE_POOL_SIZE": "many"},
        {"CLEARED_DATABASE_MIGRATE": "perhaps"},
    ],
)
def test_both_readers_refuse(environ: pytest.MonkeyPatch, values: dict[str, str]) -> None:
    for name, value in values.items():
        environ.setenv(name, value)
    with pytest.raises(InvalidStoreSetting):
        StoreSettings.from_environment(os.environ)
    with pytest.raises(ValidationError):
        Settings()


def test_db_option_names_the_store(environ: pytest.MonkeyPatch) -> None:
    environ.setenv("CLEARED_DATABASE_URL", "postgresql://u@h/d")
    assert StoreSettings.from_environment(os.environ, "x.db") == StoreSettings.of(
        Settings(db=Path("x.db"), database_url=None)
    )
    url = "postgresql://other@h/e"
    assert StoreSettings.from_environment(os.environ, url).store == url
