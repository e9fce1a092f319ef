"""Uploaded music and background tasks, durable in the store (SQLite or PostgreSQL).

A task is a row that moves queued → running → success | failure. A worker claims a
task by taking a lease on it (`lease_until`) and renews the lease while it works; a
worker that dies stops renewing, and once the lease runs out the task is claimed again
(that is how a crash or a restart loses nothing). A task that has been started
`max_runs` times without finishing fails instead of crashing workers forever.

Claims lock the row they take and skip rows other claims hold (PostgreSQL's `FOR UPDATE
SKIP LOCKED`; SQLite's write lock admits one claim at a time anyway), so workers in any
number of processes and machines never take the same task twice.

A finished task with a callback URL then owes a webhook: deliveries are claimed with a
lease the same way, every attempt is recorded in `deliveries`, and a failed attempt
schedules the next one `backoff * 2 ** (attempt - 1)` seconds later, up to
`max_attempts`. Delivery is at least once: a worker that dies after the receiver
answered but before recording it delivers again (receivers dedupe on the task id).
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from lib.store.connection import connect
from lib.store.database import Connection, Database, only_owner


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class Music:
    music_id: str
    filename: str
    bytes: int
    sha1: str
    source_url: str | None
    created_at: str
    owner: str = ""  # whose upload ('': the operator's)


@dataclass(frozen=True)
class Delivery:
    attempt: int
    at: str
    status_code: int | None
    error: str | None
    duration_ms: float


@dataclass(frozen=True)
class Task:
    task_id: str
    task_name: str
    music_id: str
    request: dict[str, Any]
    callback_url: str | None
    status: str  # queued | running | success | failure
    result: dict[str, Any] | None
    error: dict[str, str] | None
    runs: int
    created_at: str
    started_at: str | None
    completed_at: str | None
    webhook: str  # none | pending | delivered | failed
    owner: str = ""  # whose task ('': the operator's): its music's owner, its webhook's signer


_TASK_COLUMNS = (
    "task_id, task_name, music_id, request, callback_url, status, result, error, runs,"
    " created_at, started_at, completed_at, webhook, owner"
)
_MUSIC_COLUMNS = "music_id, filename, bytes, sha1, source_url, created_at, owner"


def _task(row: tuple[Any, ...]) -> Task:
    (task_id, name, music_id, request, callback, status, result, error, runs, created, started, completed, hook,
     owner) = row  # fmt: skip
    return Task(
        task_id, name, music_id, json.loads(request), callback, status,
        json.loads(result) if result else None, json.loads(error) if error else None,
        runs, created, started, completed, hook, owner,
    )  # fmt: skip


class TaskStore:
    def __init__(self, location: str | Path | Database, max_runs: int = 3) -> None:
        self.database = location if isinstance(location, Database) else connect(location)
        self.max_runs = max_runs

    # music -----------------------------------------------------------------

    def add_music(
        self, music_id: str, filename: str, size: int, sha1: str, source_url: str | None, owner: str = ""
    ) -> Music:
        music = Music(music_id, filename, size, sha1, source_url, now_iso(), owner)
        self.database.execute(
            f"INSERT INTO music ({_MUSIC_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (music.music_id, music.filename, music.bytes, music.sha1, music.source_url, music.created_at, owner),
        )
        return music

    def music(self, music_id: str, owner: str | None = None) -> Music | None:
        """The music (only if `owner` uploaded it, when given)."""
        where, args = only_owner(owner)
        row = self.database.execute(f"SELECT {_MUSIC_COLUMNS} FROM music WHERE music_id = ?{where}", (music_id, *args))
        found = row.fetchone()
        return Music(*found) if found else None

    # tasks -----------------------------------------------------------------

    def enqueue(
        self, task_name: str, music_id: str, request: dict[str, Any], callback_url: str | None, owner: str = ""
    ) -> Task:
        task_id = uuid.uuid4().hex
        self.database.execute(
            "INSERT INTO tasks (task_id, task_name, music_id, request, callback_url, status, created_at, owner)"
            " VALUES (?, ?, ?, ?, ?, 'queued', ?, ?)",
            (task_id, task_name, music_id, json.dumps(request), callback_url, now_iso(), owner),
        )
        task = self.get(task_id)
        assert task is not None
        return task

    def get(self, task_id: str, owner: str | None = None) -> Task | None:
        """The task (only if it is `owner`'s, when given)."""
        where, args = only_owner(owner)
        row = self.database.execute(f"SELECT {_TASK_COLUMNS} FROM tasks WHERE task_id = ?{where}", (task_id, *args))
        found = row.fetchone()
        return _task(found) if found else None

    def claim(self, lease: float) -> Task | None:
        """Take the oldest queued task, or a running one whose worker stopped renewing its lease."""
        clock = time.time()
        with self.database.transaction() as db:
            while True:
                row = db.execute(
                    "SELECT task_id, runs FROM tasks WHERE status = 'queued'"
                    " OR (status = 'running' AND lease_until < ?) ORDER BY created_at LIMIT 1"
                    + self.database.for_update,
                    (clock,),
                ).fetchone()
                if row is None:
                    return None
                task_id, runs = row
                if runs < self.max_runs:
                    break
                error = {"code": "interrupted", "message": f"the task was interrupted {runs} times; not retried"}
                self._complete(db, task_id, None, error)
            db.execute(
                "UPDATE tasks SET status = 'running', runs = runs + 1, lease_until = ?, started_at = ?"
                " WHERE task_id = ?",
                (clock + lease, now_iso(), task_id),
            )
        return self.get(task_id)

    def renew(self, task_ids: list[str], lease: float) -> None:
        """Extend the leases of tasks still running (a worker's heartbeat)."""
        until = time.time() + lease
        for task_id in task_ids:
            self.database.execute(
                "UPDATE tasks SET lease_until = ? WHERE task_id = ? AND status = 'running'", (until, task_id)
            )

    def finish(self, task_id: str, result: dict[str, Any] | None, error: dict[str, str] | None) -> bool:
        """Record the outcome; False if the task had already finished (a second run of it)."""
        with self.database.transaction() as db:
            return self._complete(db, task_id, result, error)

    @staticmethod
    def _complete(db: Connection, task_id: str, result: dict[str, Any] | None, error: dict[str, str] | None) -> bool:
        changed = db.execute(
            "UPDATE tasks SET status = ?, result = ?, error = ?, completed_at = ?, lease_until = NULL,"
            " webhook = CASE WHEN callback_url IS NULL THEN 'none' ELSE 'pending' END, webhook_due = ?"
            " WHERE task_id = ? AND status IN ('queued', 'running')",
            (
                "failure" if error else "success",
                json.dumps(result) if result is not None else None,
                json.dumps(error) if error else None,
                now_iso(),
                time.time(),
                task_id,
            ),
        ).rowcount
        return changed > 0

    # webhooks --------------------------------------------------------------

    def claim_delivery(self, lease: float) -> tuple[Task, int] | None:
        """A finished task whose webhook is due, and the number of this attempt."""
        clock = time.time()
        with self.database.transaction() as db:
            row = db.execute(
                "SELECT task_id FROM tasks WHERE webhook = 'pending' AND webhook_due <= ?"
                " AND (webhook_lease_until IS NULL OR webhook_lease_until < ?) ORDER BY webhook_due LIMIT 1"
                + self.database.for_update,
                (clock, clock),
            ).fetchone()
            if row is None:
                return None
            db.execute("UPDATE tasks SET webhook_lease_until = ? WHERE task_id = ?", (clock + lease, row[0]))
            attempt = db.execute("SELECT COUNT(*) + 1 FROM deliveries WHERE task_id = ?", (row[0],)).fetchone()[0]
        task = self.get(row[0])
        assert task is not None
        return task, int(attempt)

    def record_delivery(self, task_id: str, attempt: int, outcome: Delivery, retry_in: float | None) -> None:
        """Log one attempt; schedule the next one `retry_in` seconds from now, or close the webhook."""
        delivered = outcome.status_code is not None and 200 <= outcome.status_code < 300
        state = "delivered" if delivered else ("pending" if retry_in is not None else "failed")
        with self.database.transaction() as db:
            db.execute(
                "INSERT INTO deliveries (task_id, attempt, at, status_code, error, duration_ms)"
                " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (task_id, attempt) DO UPDATE SET at = excluded.at,"
                " status_code = excluded.status_code, error = excluded.error, duration_ms = excluded.duration_ms",
                (task_id, attempt, outcome.at, outcome.status_code, outcome.error, outcome.duration_ms),
            )
            db.execute(
                "UPDATE tasks SET webhook = ?, webhook_due = ?, webhook_lease_until = NULL WHERE task_id = ?",
                (state, time.time() + (retry_in or 0.0), task_id),
            )

    def deliveries(self, task_id: str) -> list[Delivery]:
        rows = self.database.execute(
            "SELECT attempt, at, status_code, error, duration_ms FROM deliveries WHERE task_id = ? ORDER BY attempt",
            (task_id,),
        ).fetchall()
        return [Delivery(*row) for row in rows]
