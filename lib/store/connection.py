"""Opening a store: `connect(location)` picks the backend from the location's form and
brings the schema up to date. Apart from lib/store/database.py (the interface the
backends implement), so that neither the backends nor the schema import each other."""

from __future__ import annotations

from pathlib import Path

from lib.store import schema
from lib.store.database import Database
from lib.store.sqlite import SqliteDatabase


def is_url(location: str | Path) -> bool:
    return str(location).startswith(("postgresql://", "postgres://"))


def connect(location: str | Path, pool_size: int = 10, migrate: bool = True) -> Database:
    """The database at `location`: a `postgresql://` URL or an SQLite file path. Its
    schema is brought up to date first unless `migrate` is off (`python -m lib migrate`)."""
    database: Database
    if is_url(location):
        # the driver loads only for PostgreSQL: it was a fifth of a command-line start on SQLite
        from lib.store.postgres import PostgresDatabase

        database = PostgresDatabase(str(location), pool_size)
    else:
        database = SqliteDatabase(Path(location))
    if migrate:
        schema.migrate(database)
    return database
