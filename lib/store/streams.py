"""Monitored streams and the webhook events they owe, durable in the store.

A stream is watched by exactly one worker at a time: a worker claims streams whose lease
has run out (or that none holds), renews its leases while it listens, and loses a stream
when it stops renewing (it died) or when the stream is deleted (its renewal says so).
Claims lock what they take, as task claims do (lib/store/tasks.py), so any number of
worker processes on any number of machines share the streams without watching one twice.

Each event (a song started, the source dropped or came back) is a row owing one webhook,
delivered at least once with backoff, as a finished task's is.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass
from typing import Any

from lib.store.database import Database, only_owner
from lib.store.tasks import now_iso


@dataclass(frozen=True)
class Stream:
    stream_id: str
    owner: str
    url: str
    callback_url: str
    name: str
    include_own: bool
    bill: dict[str, str] | None
    state: str  # watching | reconnecting | deleted
    last_song: dict[str, Any] | None
    last_error: str | None
    listened_seconds: float
    created_at: str

    def public(self) -> dict[str, Any]:
        """What the API shows of it (the bill is ours)."""
        return {
            "streamId": self.stream_id, "url": self.url, "callbackUrl": self.callback_url, "name": self.name,
            "include_own": self.include_own, "state": self.state, "last_song": self.last_song,
            "last_error": self.last_error, "listened_seconds": round(self.listened_seconds, 1),
            "created_at": self.created_at,
        }  # fmt: skip


@dataclass(frozen=True)
class Event:
    event_id: str
    stream_id: str
    owner: str
    callback_url: str
    body: str
    attempts: int


_COLUMNS = (
    "stream_id, owner, url, callback_url, name, include_own, bill, state, last_song, last_error, listened_seconds,"
    " created_at"
)


def _stream(row: tuple[Any, ...]) -> Stream:
    stream_id, owner, url, callback, name, own, bill, state, song, error, seconds, created = row
    return Stream(
        stream_id, owner, url, callback, name, bool(own), json.loads(bill) if bill else None, state,
        json.loads(song) if song else None, error, float(seconds), created,
    )  # fmt: skip


class StreamStore:
    def __init__(self, database: Database) -> None:
        self.database = database

    # the API's side -------------------------------------------------------------------

    def create(
        self, owner: str, url: str, callback_url: str, name: str, include_own: bool, bill: dict[str, str] | None,
        limit: int | None,
    ) -> Stream | None:  # fmt: skip
        """A new stream to watch; None when `owner` watches `limit` streams already."""
        stream_id = uuid.uuid4().hex
        with self.database.transaction(lock=f"cleared:streams:{owner}") as db:
            if limit is not None:
                (watched,) = db.execute(
                    "SELECT COUNT(*) FROM streams WHERE owner = ? AND state <> 'deleted'", (owner,)
                ).fetchone()
                if watched >= limit:
                    return None
            db.execute(
                f"INSERT INTO streams ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, 'watching', NULL, NULL, 0, ?)",
                (stream_id, owner, url, callback_url, name, int(include_own), json.dumps(bill) if bill else None,
                 now_iso()),
            )  # fmt: skip
        found = self.get(stream_id)
        assert found is not None
        return found

    def get(self, stream_id: str, owner: str | None = None) -> Stream | None:
        """The stream, unless deleted (and only `owner`'s, when given)."""
        where, args = only_owner(owner)
        row = self.database.execute(
            f"SELECT {_COLUMNS} FROM streams WHERE stream_id = ? AND state <> 'deleted'{where}", (stream_id, *args)
        ).fetchone()
        return _stream(row) if row else None

    def owned(self, owner: str) -> list[Stream]:
        rows = self.database.execute(
            f"SELECT {_COLUMNS} FROM streams WHERE owner = ? AND state <> 'deleted' ORDER BY created_at", (owner,)
        )
        return [_stream(row) for row in rows]

    def delete(self, stream_id: str, owner: str) -> bool:
        """Stop watching: its worker lets go at its next renewal."""
        changed = self.database.execute(
            "UPDATE streams SET state = 'deleted', deleted_at = ? WHERE stream_id = ? AND owner = ?"
            " AND state <> 'deleted'",
            (now_iso(), stream_id, owner),
        )
        return changed.rowcount == 1

    # the workers' side ----------------------------------------------------------------

    def claim(self, worker: str, lease: float, room: int) -> list[Stream]:
        """Up to `room` streams no worker holds, now held by `worker` for `lease` seconds."""
        if room <= 0:
            return []
        clock = time.time()
        with self.database.transaction() as db:
            rows = db.execute(
                "SELECT stream_id FROM streams WHERE state <> 'deleted' AND (lease_until IS NULL OR lease_until < ?)"
                " ORDER BY created_at LIMIT ?" + self.database.for_update,
                (clock, room),
            ).fetchall()
            for (stream_id,) in rows:
                db.execute(
                    "UPDATE streams SET lease_until = ?, worker = ? WHERE stream_id = ?",
                    (clock + lease, worker, stream_id),
                )
        return [s for s in (self.get(row[0]) for row in rows) if s is not None]

    def renew(self, worker: str, stream_ids: list[str], lease: float) -> set[str]:
        """Extend `worker`'s leases; the ids it still holds (not deleted, not taken over)."""
        held = set()
        for stream_id in stream_ids:
            changed = self.database.execute(
                "UPDATE streams SET lease_until = ? WHERE stream_id = ? AND worker = ? AND state <> 'deleted'",
                (time.time() + lease, stream_id, worker),
            )
            if changed.rowcount == 1:
                held.add(stream_id)
        return held

    def release(self, worker: str, stream_id: str) -> None:
        self.database.execute(
            "UPDATE streams SET lease_until = NULL, worker = NULL WHERE stream_id = ? AND worker = ?",
            (stream_id, worker),
        )

    def listened(
        self, worker: str, stream_id: str, seconds: float, state: str | None = None, last_error: str | None = None,
        last_song: dict[str, Any] | None = None,
    ) -> None:  # fmt: skip
        """Add listened seconds and record what changed, if `worker` still holds it."""
        sets: list[str] = ["listened_seconds = listened_seconds + ?"]
        args: list[object] = [seconds]
        if state is not None:
            sets += ["state = CASE WHEN state = 'deleted' THEN state ELSE ? END", "last_error = ?"]
            args += [state, last_error]
        if last_song is not None:
            sets.append("last_song = ?")
            args.append(json.dumps(last_song))
        self.database.execute(
            f"UPDATE streams SET {', '.join(sets)} WHERE stream_id = ? AND worker = ?", (*args, stream_id, worker)
        )

    # events ---------------------------------------------------------------------------

    def event(self, stream: Stream, body: dict[str, Any]) -> None:
        """Owe `stream`'s webhook this event."""
        self.database.execute(
            "INSERT INTO stream_events (event_id, stream_id, owner, callback_url, body, created_at, webhook_due)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (uuid.uuid4().hex, stream.stream_id, stream.owner, stream.callback_url, json.dumps(body), now_iso(),
             time.time()),
        )  # fmt: skip

    def claim_event(self, lease: float) -> Event | None:
        """An event whose webhook is due, leased to the caller for one attempt."""
        clock = time.time()
        with self.database.transaction() as db:
            row = db.execute(
                "SELECT event_id, stream_id, owner, callback_url, body, attempts FROM stream_events"
                " WHERE webhook = 'pending' AND webhook_due <= ? AND (webhook_lease_until IS NULL"
                " OR webhook_lease_until < ?) ORDER BY webhook_due LIMIT 1" + self.database.for_update,
                (clock, clock),
            ).fetchone()
            if row is None:
                return None
            db.execute(
                "UPDATE stream_events SET webhook_lease_until = ?, attempts = attempts + 1 WHERE event_id = ?",
                (clock + lease, row[0]),
            )
        event_id, stream_id, owner, callback_url, body, attempts = row
        return Event(event_id, stream_id, owner, callback_url, body, int(attempts) + 1)

    def delivered(self, event_id: str, error: str | None, retry_in: float | None) -> None:
        """Close the event's webhook, or schedule its next attempt `retry_in` seconds from now."""
        state = "delivered" if error is None else ("pending" if retry_in is not None else "failed")
        self.database.execute(
            "UPDATE stream_events SET webhook = ?, webhook_due = ?, webhook_lease_until = NULL, last_error = ?"
            " WHERE event_id = ?",
            (state, time.time() + (retry_in or 0.0), error, event_id),
        )
