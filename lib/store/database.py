"""The store's connection to its database: one SQLite file (the embedded default) or a
shared PostgreSQL server (`CLEARED_DATABASE_URL`), behind one small interface.

The stores (catalog, tasks, keys) write their SQL once, with `?` placeholders and the
syntax both engines share (`INSERT ... ON CONFLICT`, `COALESCE`, `LIMIT`); what truly
differs is a property of the `Database`: how to lock rows being claimed
(`for_update`), how to match text ignoring case (`like`), and the schema's column
types (lib/store/schema.py). A statement run outside `transaction()` commits at once.
"""

from __future__ import annotations

import sqlite3
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, Protocol

Params = Sequence[Any]


class Cursor(Protocol):
    @property
    def rowcount(self) -> int: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...

    def __iter__(self) -> Iterator[Any]: ...


class Connection(Protocol):
    """What a transaction hands its body: sqlite3's connection, or psycopg's behind `?`."""

    def execute(self, sql: str, params: Params = ..., /) -> Cursor: ...


@dataclass(frozen=True)
class Fetched:
    """A statement's rows, read before its connection went back to the pool."""

    rows: list[tuple[Any, ...]]
    rowcount: int

    def fetchone(self) -> tuple[Any, ...] | None:
        return self.rows[0] if self.rows else None

    def fetchall(self) -> list[tuple[Any, ...]]:
        return self.rows

    def __iter__(self) -> Iterator[tuple[Any, ...]]:
        return iter(self.rows)


def only_owner(owner: str | None) -> tuple[str, tuple[str | None, str | None]]:
    """A condition to append to a WHERE clause, and its parameters: rows of `owner`, or any
    row when `owner` is None (the operator's command line). The cast types the parameter
    for PostgreSQL, which cannot infer the type of a bare `? IS NULL`."""
    return " AND (CAST(? AS TEXT) IS NULL OR owner = ?)", (owner, owner)


class StoreUnavailable(RuntimeError):
    """The database cannot be reached or is not this store (the readiness probe's 503)."""


def store_errors() -> tuple[type[Exception], ...]:
    """What a store that went away raises, whichever it is (a pool's timeout is a
    psycopg.Error). The PostgreSQL driver is imported here, not with this module, so that
    a command-line run on SQLite never loads it."""
    import psycopg

    return (StoreUnavailable, sqlite3.Error, psycopg.Error)


class Database(ABC):
    dialect: str  # "sqlite" | "postgresql"
    like: str  # the operator matching a pattern in any case
    for_update: str  # appended to a claim's SELECT: lock the rows, skip those others hold

    @abstractmethod
    def transaction(self, lock: str | None = None) -> AbstractContextManager[Connection]:
        """One atomic unit of work. `lock` names a critical section that concurrent
        transactions of every process take in turn (SQLite's write lock already is one)."""

    @abstractmethod
    def execute(self, sql: str, params: Params = ()) -> Fetched:
        """Run one statement in its own transaction."""

    @abstractmethod
    def stream(self, sql: str, params: Params = ()) -> Iterator[tuple[Any, ...]]:
        """The rows of a large result, a batch at a time (loading every fingerprint)."""

    @abstractmethod
    def ping(self) -> None:
        """Raise `StoreUnavailable` unless the store answers now (a fresh connection)."""

    @abstractmethod
    def size_bytes(self) -> int:
        """What the store takes on disk."""

    @abstractmethod
    def close(self) -> None: ...

    def setting(self, key: str, default: Callable[[], str]) -> str:
        """A value kept in the store's `meta` table, set to `default()` the first time it is read."""
        self.execute("INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO NOTHING", (key, default()))
        row = self.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        assert row is not None
        return str(row[0])
