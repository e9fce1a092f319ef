"""The embedded store: one SQLite file in WAL mode, shared by every thread and process
on one machine.

Each thread gets its own connection: the worker threads, the request threads and the
webhook deliveries all write, and a transaction opened on a shared connection by one
thread would swallow another thread's statements (and commit or roll them back with its
own). gunicorn forks its workers after the app has opened the file, and SQLite forbids
using a connection across a fork, so connections are also per process.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from lib.store.database import Database, Fetched, Params, StoreUnavailable


class SqliteDatabase(Database):
    dialect = "sqlite"
    like = "LIKE"  # SQLite's LIKE already ignores the case of ASCII letters
    for_update = ""  # a write transaction holds the whole file: nobody else claims meanwhile

    def __init__(self, path: Path) -> None:
        self.path = path
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.execute("PRAGMA foreign_keys=ON")
        db.execute("PRAGMA busy_timeout=10000")
        return db

    @property
    def conn(self) -> sqlite3.Connection:
        """This thread's connection in this process (autocommit outside `transaction`)."""
        local = self._local
        if getattr(local, "pid", None) != os.getpid():
            local.conn = self._connect()
            local.pid = os.getpid()
        connection: sqlite3.Connection = local.conn
        return connection

    @contextmanager
    def transaction(self, lock: str | None = None) -> Iterator[sqlite3.Connection]:
        """Takes the file's write lock at once (no upgrade deadlock): every `lock` at once."""
        conn = self.conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def execute(self, sql: str, params: Params = ()) -> Fetched:
        cursor = self.conn.execute(sql, params)
        return Fetched(cursor.fetchall(), cursor.rowcount)

    def stream(self, sql: str, params: Params = ()) -> Iterator[tuple[Any, ...]]:
        yield from self.conn.execute(sql, params)

    def ping(self) -> None:
        """A new connection, since a thread's open one keeps reading a file deleted under it."""
        try:
            probe = sqlite3.connect(f"{self.path.resolve().as_uri()}?mode=rw", uri=True, timeout=2)
            try:
                probe.execute("SELECT count(*) FROM meta").fetchone()
            finally:
                probe.close()
        except sqlite3.Error as error:
            raise StoreUnavailable(type(error).__name__) from error

    def size_bytes(self) -> int:
        return self.path.stat().st_size

    def close(self) -> None:
        """Close this thread's connection; other threads' close when their threads end."""
        local = self._local
        if getattr(local, "pid", None) == os.getpid():
            local.conn.close()
            del local.conn, local.pid
