"""Where the store is and how a recognizer opens it: the part of the settings that a
one-clip `python -m lib identify` needs.

Why a second reader of `CLEARED_*`: `lib.settings.Settings` is pydantic-settings, whose
import alone costs about as much CPU as numpy and PyAV together (0.16 s against 0.17),
and the engine issue holds that command to twice the import of numpy and av. The service
builds this from its validated `Settings` (`StoreSettings.of`); the command line reads the
same six variables here, by the same rules (tests/test_settings.py compares the two).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from lib.store.connection import is_url

if TYPE_CHECKING:
    from lib.settings import Settings

DEFAULT_DB = Path("data/cleared.db")
DEFAULT_POOL_SIZE = 10
_POSTGRESQL = re.compile(r"^postgres(ql)?://")
_FALSE, _TRUE = {"0", "off", "f", "false", "n", "no"}, {"1", "on", "t", "true", "y", "yes"}  # pydantic's


class InvalidStoreSetting(ValueError):
    """A `CLEARED_*` variable of the store that cannot be used; the message names it."""


@dataclass(frozen=True)
class StoreSettings:
    db: Path = DEFAULT_DB
    database_url: str | None = None  # PostgreSQL (replaces `db`)
    database_pool_size: int = DEFAULT_POOL_SIZE
    database_migrate: bool = True
    index: Literal["memory", "database"] = "memory"
    index_snapshot: Path | None = None

    def __post_init__(self) -> None:
        if self.index == "database" and self.database_url is None:
            raise InvalidStoreSetting(
                "CLEARED_INDEX=database needs CLEARED_DATABASE_URL (PostgreSQL answers the look-ups)"
            )

    @classmethod
    def of(cls, settings: Settings) -> StoreSettings:
        return cls(
            settings.db,
            settings.database_url,
            settings.database_pool_size,
            settings.database_migrate,
            settings.index,
            settings.index_snapshot,
        )

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] = os.environ, db: str | None = None) -> StoreSettings:
        """The store named by `CLEARED_*` in `environ` (names in any case, as pydantic-settings
        reads them), or by `db` (a path or a postgresql:// URL: the command line's `--db`)."""
        env = {k.upper(): v for k, v in environ.items() if k.upper().startswith("CLEARED_")}
        url = env.get("CLEARED_DATABASE_URL")
        if url is not None and not _POSTGRESQL.match(url):
            raise InvalidStoreSetting("CLEARED_DATABASE_URL: a postgresql:// URL")
        path = Path(env["CLEARED_DB"]) if "CLEARED_DB" in env else DEFAULT_DB
        if db:
            url, path = (db, path) if is_url(db) else (None, Path(db))
        named = env.get("CLEARED_INDEX", "memory")
        if named not in ("memory", "database"):
            raise InvalidStoreSetting("CLEARED_INDEX: memory or database")
        index: Literal["memory", "database"] = "database" if named == "database" else "memory"
        snapshot = env.get("CLEARED_INDEX_SNAPSHOT")
        return cls(
            db=path,
            database_url=url,
            database_pool_size=_pool_size(env.get("CLEARED_DATABASE_POOL_SIZE")),
            database_migrate=_flag("CLEARED_DATABASE_MIGRATE", env.get("CLEARED_DATABASE_MIGRATE", "true")),
            index=index,
            index_snapshot=Path(snapshot) if snapshot is not None else None,
        )

    @property
    def store(self) -> str | Path:
        """Where the store is: the PostgreSQL URL if set, else the SQLite file."""
        return self.database_url or self.db

    @property
    def snapshot(self) -> Path | None:
        """Where the in-memory index is saved, if anywhere (`index_snapshot`): by default
        beside an SQLite store, nowhere for PostgreSQL."""
        if self.index_snapshot is not None or self.database_url is not None:
            return self.index_snapshot
        return self.db.with_name(self.db.name + ".index")


def _pool_size(text: str | None) -> int:
    if text is None:
        return DEFAULT_POOL_SIZE
    if not text.strip().isdigit() or int(text) < 1:
        raise InvalidStoreSetting("CLEARED_DATABASE_POOL_SIZE: a whole number, at least 1")
    return int(text)


def _flag(name: str, text: str) -> bool:
    value = text.strip().lower()
    if value not in _FALSE | _TRUE:
        raise InvalidStoreSetting(f"{name}: true or false")
    return value in _TRUE
