"""The shared store: PostgreSQL through psycopg 3 and a connection pool, for many
stateless API instances and separate task workers (`CLEARED_DATABASE_URL`).

Connections are borrowed per statement or per transaction and given back at once, so
a pool of a few connections serves every thread of a process. Pools are per process:
gunicorn forks its workers after the app (and its pool) exist, and a forked child must
neither use nor close its parent's connections (closing one says goodbye to the server
on the parent's socket), so a child keeps the inherited pool untouched and opens its own.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from typing import Any

import psycopg
from psycopg_pool import ConnectionPool

from lib.store.database import Cursor, Database, Fetched, Params, StoreUnavailable

_CONNECT_TIMEOUT = 5  # seconds: a server that does not answer is down, not slow


@lru_cache(maxsize=512)
def _pyformat(sql: str) -> str:
    """The stores' `?` placeholders as psycopg's `%s` (a literal `%` doubled first)."""
    return re.sub(r"\?", "%s", sql.replace("%", "%%"))


class Translated:
    """A psycopg connection that takes the stores' `?` placeholders; `raw` for COPY."""

    def __init__(self, raw: psycopg.Connection[Any]) -> None:
        self.raw = raw

    def execute(self, sql: str, params: Params = ()) -> Cursor:
        return self.raw.execute(_pyformat(sql), params)


class PostgresDatabase(Database):
    dialect = "postgresql"
    like = "ILIKE"
    for_update = " FOR UPDATE SKIP LOCKED"

    def __init__(self, url: str, pool_size: int = 10) -> None:
        self.url = url
        self.pool_size = pool_size
        self._pool: ConnectionPool | None = None
        self._pid = 0
        self._inherited: list[ConnectionPool] = []  # parents' pools: never touched, never collected

    @property
    def pool(self) -> ConnectionPool:
        if self._pool is None or self._pid != os.getpid():
            if self._pool is not None:
                self._inherited.append(self._pool)
            self._pool = ConnectionPool(
                self.url, min_size=1, max_size=self.pool_size, open=True, timeout=30,
                kwargs={"autocommit": True, "connect_timeout": _CONNECT_TIMEOUT},
                check=ConnectionPool.check_connection,  # a server restart costs one retry, not errors
            )  # fmt: skip
            self._pid = os.getpid()
        return self._pool

    @contextmanager
    def transaction(self, lock: str | None = None) -> Iterator[Translated]:
        with self.pool.connection() as conn, conn.transaction():
            if lock is not None:
                conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (lock,))
            yield Translated(conn)

    def execute(self, sql: str, params: Params = ()) -> Fetched:
        with self.pool.connection() as conn:
            cursor = conn.execute(_pyformat(sql), params)
            return Fetched(cursor.fetchall() if cursor.description else [], cursor.rowcount)

    def stream(self, sql: str, params: Params = ()) -> Iterator[tuple[Any, ...]]:
        """A server-side cursor: the client holds one batch of rows at a time."""
        with self.pool.connection() as conn, conn.transaction(), conn.cursor(name="cleared_stream") as cursor:
            cursor.itersize = 64
            cursor.execute(_pyformat(sql), params)
            yield from cursor

    def ping(self) -> None:
        try:
            with psycopg.connect(self.url, connect_timeout=2, autocommit=True) as probe:
                probe.execute("SELECT count(*) FROM meta").fetchone()
        except psycopg.Error as error:
            raise StoreUnavailable(type(error).__name__) from error

    def size_bytes(self) -> int:
        row = self.execute(
            "SELECT COALESCE(SUM(pg_total_relation_size(c.oid)), 0) FROM pg_class c"
            " JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = current_schema() AND c.relkind = 'r'"
        ).fetchone()
        return int(row[0]) if row else 0

    def close(self) -> None:
        if self._pool is not None and self._pid == os.getpid():
            self._pool.close()
        self._pool = None
