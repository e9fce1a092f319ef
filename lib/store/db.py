"""One SQLite file shared by the catalog, the uploads and the task queue.

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
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

_META = "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);"


class Database:
    def __init__(self, path: str | Path, schema: str) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self.conn.executescript(_META + schema)

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
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """A write transaction that takes the file's write lock at once (no upgrade deadlock)."""
        conn = self.conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def setting(self, key: str, default: Callable[[], str]) -> str:
        """A value kept in the file's `meta` table, set to `default()` the first time it is read."""
        self.conn.execute("INSERT OR IGNORE INTO meta (key, value) VALUES (?, ?)", (key, default()))
        value: str = self.conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()[0]
        return value

    def ping(self) -> None:
        """Raise `sqlite3.Error` unless the file is there and readable as this store: a new
        connection, since a thread's open one keeps reading a file deleted under it."""
        probe = sqlite3.connect(f"{self.path.resolve().as_uri()}?mode=rw", uri=True, timeout=2)
        try:
            probe.execute("SELECT count(*) FROM meta").fetchone()
        finally:
            probe.close()

    def close(self) -> None:
        """Close this thread's connection; other threads' close when their threads end."""
        local = self._local
        if getattr(local, "pid", None) == os.getpid():
            local.conn.close()
            del local.conn, local.pid
