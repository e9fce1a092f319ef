"""Each owner's webhook signing secrets, in the store.

Deliveries of one customer's tasks are signed with that customer's own secret, so no
customer can forge another's (a shared secret let every customer sign anything). A
secret is shown once, when it is made (`python -m lib webhook-secret --owner O`, or
with the owner's first key), and kept in the clear: signing needs it, as Stripe's do.

Rotation makes a new secret and leaves the current ones valid for `OVERLAP` seconds:
meanwhile deliveries carry one `v1=` signature per valid secret, newest first, so a
receiver still holding the old secret verifies as before while it switches over.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from datetime import UTC, datetime

from lib.store.database import Connection, Database

OVERLAP = 24 * 3600.0  # seconds an old secret keeps working after a rotation


class WebhookSecrets:
    def __init__(self, database: Database, clock: Callable[[], float] = time.time) -> None:
        self.database = database
        self.clock = clock

    def create(self, owner: str) -> str | None:
        """A first secret for `owner`, to show once; None if it has one already."""
        with self.database.transaction(lock=f"cleared:webhook-secret:{owner}") as db:
            if self._valid(db, owner):
                return None
            return self._insert(db, owner)

    def rotate(self, owner: str) -> str:
        """A new secret for `owner`, to show once; the ones valid now stay valid `OVERLAP` seconds."""
        with self.database.transaction(lock=f"cleared:webhook-secret:{owner}") as db:
            db.execute(
                "UPDATE webhook_secrets SET retires_at = ? WHERE owner = ? AND retires_at IS NULL",
                (self.clock() + OVERLAP, owner),
            )
            return self._insert(db, owner)

    def signing(self, owner: str) -> list[bytes]:
        """The secrets `owner`'s deliveries are signed with now, newest first. An owner
        without any gets one (never shown: `--rotate` makes one that is)."""
        with self.database.transaction(lock=f"cleared:webhook-secret:{owner}") as db:
            valid = self._valid(db, owner) or [self._insert(db, owner)]
        return [secret.encode() for secret in valid]

    def _valid(self, db: Connection, owner: str) -> list[str]:
        rows = db.execute(
            "SELECT secret FROM webhook_secrets WHERE owner = ? AND (retires_at IS NULL OR retires_at > ?)"
            " ORDER BY created_at DESC",
            (owner, self.clock()),
        ).fetchall()
        return [row[0] for row in rows]

    def _insert(self, db: Connection, owner: str) -> str:
        secret = "whsec_" + secrets.token_hex(32)
        created = datetime.fromtimestamp(self.clock(), UTC).isoformat(timespec="microseconds")
        db.execute("INSERT INTO webhook_secrets (owner, secret, created_at) VALUES (?, ?, ?)", (owner, secret, created))
        return secret
