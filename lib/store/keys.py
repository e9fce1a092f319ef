"""API keys and their monthly usage, in the store (SQLite or PostgreSQL).

A key reads `clr_<key id>_<secret>`. Only the id and the SHA-256 of the secret are
stored: the key is shown once, when created, and a copy of the database gives no one
a usable key. The id finds the row, and the secret's hash is compared in constant time
(`hmac.compare_digest`), so the time an answer takes tells nothing about how much of a
guessed secret was right. A fast hash is enough because the secret is 256 random bits,
not a password that a slow hash must protect from guessing.

Usage is counted per caller (a key id, or a marketplace user), its owner, product and
day (UTC), in calls and in seconds of media analysed: the work, and what hosted services
bill. Quotas are per calendar month, in calls and in media minutes. A call takes its
unit before it runs, in one transaction with the quota check (`take`), so concurrent
calls cannot overrun a call quota; a call that fails on our side gives it back
(`give_back`). Its media seconds are known only once it has run (`add_seconds`), so a
minute quota stops the calls after the one that used it up: one media's length at most.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from lib.store.connection import connect
from lib.store.database import Database

PREFIX = "clr"


Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


def month_of(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m")


def day_of(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d")


def next_month(moment: datetime) -> datetime:
    """The first instant of the calendar month after `moment` (UTC): when quotas renew."""
    moment = moment.astimezone(UTC)
    year, month = (moment.year + 1, 1) if moment.month == 12 else (moment.year, moment.month + 1)
    return datetime(year, month, 1, tzinfo=UTC)


def _sha256(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass(frozen=True)
class ApiKey:
    key_id: str
    owner: str
    products: list[str]
    monthly_quota: int | None  # None: unlimited
    rate: str  # a rate-limit expression, e.g. "60/minute"
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    operator: bool = False  # manages the reference catalog (docs/tenancy.md)
    monthly_minutes: float | None = None  # of media analysed; None: unlimited
    max_streams: int | None = None  # monitored at once; None: unlimited

    def public(self) -> dict[str, Any]:
        """What `keys list` and `keys create --json` show: everything but the secret."""
        return {
            "key_id": self.key_id,
            "owner": self.owner,
            "products": self.products,
            "monthly_quota": self.monthly_quota,
            "rate": self.rate,
            "created_at": self.created_at.isoformat(),
            "expires_at": self.expires_at.isoformat() if self.expires_at else None,
            "revoked_at": self.revoked_at.isoformat() if self.revoked_at else None,
            "operator": self.operator,
            "monthly_minutes": self.monthly_minutes,
            "max_streams": self.max_streams,
        }


def _moment(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


_COLUMNS = (
    "key_id, owner, products, monthly_quota, rate, created_at, expires_at, revoked_at, operator, monthly_minutes,"
    " max_streams"
)


def _key(row: tuple[Any, ...]) -> ApiKey:
    key_id, owner, products, quota, rate, created, expires, revoked, operator, minutes, streams = row
    return ApiKey(
        key_id, owner, json.loads(products), quota, rate, datetime.fromisoformat(created), _moment(expires),
        _moment(revoked), bool(operator), minutes, streams,
    )  # fmt: skip


class Quota:
    """Which monthly quota a refused call found used up (`take`)."""

    CALLS = "calls"
    MINUTES = "minutes"


class Verdict:
    """Why a presented key was refused (the 401's `code`)."""

    INVALID = "invalid_key"
    EXPIRED = "expired_key"
    REVOKED = "revoked_key"


class KeyStore:
    def __init__(self, location: str | Path | Database, clock: Clock = utc_now) -> None:
        self.database = location if isinstance(location, Database) else connect(location)
        self.clock = clock

    def create(
        self, owner: str, products: list[str], monthly_quota: int | None, rate: str,
        expires_at: datetime | None = None, operator: bool = False, monthly_minutes: float | None = None,
        max_streams: int | None = None,
    ) -> tuple[str, ApiKey]:  # fmt: skip
        """A new key: (the key itself, to show once; what is stored of it)."""
        if not owner.strip():
            raise ValueError("a key needs an owner")
        key_id, secret = secrets.token_hex(6), secrets.token_urlsafe(32)
        created = self.clock()
        self.database.execute(
            "INSERT INTO api_keys (key_id, secret_sha256, owner, products, monthly_quota, rate, created_at, expires_at,"
            " operator, monthly_minutes, max_streams) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                key_id, _sha256(secret), owner, json.dumps(sorted(products)), monthly_quota, rate,
                created.isoformat(), expires_at.isoformat() if expires_at else None, int(operator), monthly_minutes,
                max_streams,
            ),
        )  # fmt: skip
        stored = self.get(key_id)
        assert stored is not None
        return f"{PREFIX}_{key_id}_{secret}", stored

    def get(self, key_id: str) -> ApiKey | None:
        row = self.database.execute(f"SELECT {_COLUMNS} FROM api_keys WHERE key_id = ?", (key_id,)).fetchone()
        return _key(row) if row else None

    def all(self) -> list[ApiKey]:
        return [_key(row) for row in self.database.execute(f"SELECT {_COLUMNS} FROM api_keys ORDER BY created_at")]

    def revoke(self, key_id: str) -> bool:
        done = self.database.execute(
            "UPDATE api_keys SET revoked_at = ? WHERE key_id = ? AND revoked_at IS NULL",
            (self.clock().isoformat(), key_id),
        )
        return done.rowcount == 1

    def verify(self, presented: str) -> ApiKey | str:
        """The key `presented` stands for, or why it is refused (a `Verdict`)."""
        prefix, _, rest = presented.partition("_")
        key_id, _, secret = rest.partition("_")
        row = self.database.execute(
            f"SELECT secret_sha256, {_COLUMNS} FROM api_keys WHERE key_id = ?", (key_id,)
        ).fetchone()
        # the same work whether or not the id exists: a missing id compares against a dummy
        stored = row[0] if row else _sha256(secrets.token_hex(16))
        if not (hmac.compare_digest(_sha256(secret), stored) and row and prefix == PREFIX):
            return Verdict.INVALID
        key = _key(row[1:])
        if key.revoked_at is not None:
            return Verdict.REVOKED
        if key.expires_at is not None and key.expires_at <= self.clock():
            return Verdict.EXPIRED
        return key

    def take(
        self, caller: str, owner: str, product: str, now: datetime, monthly_quota: int | None = None,
        monthly_minutes: float | None = None,
    ) -> str | None:  # fmt: skip
        """Count one call of `product` on `now`'s day, unless the caller's calls or media
        minutes in `now`'s month (all products) have reached their quota: then which
        (a `Quota`), and nothing is counted."""
        month, day = month_of(now), day_of(now)
        with self.database.transaction(lock=f"cleared:usage:{caller}") as db:
            if monthly_quota is not None or monthly_minutes is not None:
                calls, seconds = db.execute(
                    "SELECT COALESCE(SUM(calls), 0), COALESCE(SUM(media_seconds), 0) FROM usage_days"
                    " WHERE caller = ? AND day LIKE ?",
                    (caller, f"{month}-%"),
                ).fetchone()
                if monthly_quota is not None and calls >= monthly_quota:
                    return Quota.CALLS
                if monthly_minutes is not None and seconds >= monthly_minutes * 60:
                    return Quota.MINUTES
            db.execute(
                "INSERT INTO usage_days (caller, owner, product, day, calls) VALUES (?, ?, ?, ?, 1)"
                " ON CONFLICT (caller, product, day) DO UPDATE SET calls = usage_days.calls + 1",
                (caller, owner, product, day),
            )
        return None

    def give_back(self, caller: str, product: str, now: datetime) -> None:
        """Undo a `take` made on `now`'s day: the call failed on our side."""
        self.database.execute(
            "UPDATE usage_days SET calls = calls - 1 WHERE caller = ? AND product = ? AND day = ? AND calls > 0",
            (caller, product, day_of(now)),
        )

    def add_seconds(self, caller: str, owner: str, product: str, seconds: float, now: datetime | None = None) -> None:
        """Count `seconds` of media analysed for a call of `product` (when it has run)."""
        self.database.execute(
            "INSERT INTO usage_days (caller, owner, product, day, media_seconds) VALUES (?, ?, ?, ?, ?)"
            " ON CONFLICT (caller, product, day) DO UPDATE SET media_seconds = usage_days.media_seconds + ?",
            (caller, owner, product, day_of(now or self.clock()), seconds, seconds),
        )

    def usage(self, month: str | None = None, caller: str | None = None) -> list[dict[str, Any]]:
        """Calls and media minutes per caller and product, for one month or all, with each caller's owner."""
        chosen = {"day LIKE ?": f"{month}-%" if month else None, "caller = ?": caller}
        where = " AND ".join(condition for condition, value in chosen.items() if value is not None) or "TRUE"
        rows = self.database.execute(
            "SELECT caller, owner, product, SUBSTR(day, 1, 7) AS month, SUM(calls), SUM(media_seconds) FROM usage_days"
            f" WHERE {where} GROUP BY caller, owner, product, SUBSTR(day, 1, 7) ORDER BY month, caller, product",
            [value for value in chosen.values() if value is not None],
        )
        return [
            {"caller": c, "owner": owner, "product": p, "month": m, "calls": int(calls),
             "media_minutes": round(float(seconds) / 60, 2)}
            for c, owner, p, m, calls, seconds in rows
        ]  # fmt: skip

    def days(self, owner: str, month: str) -> list[dict[str, Any]]:
        """`owner`'s calls and media seconds per day and product in `month`, all its keys together."""
        rows = self.database.execute(
            "SELECT day, product, SUM(calls), SUM(media_seconds) FROM usage_days WHERE owner = ? AND day LIKE ?"
            " GROUP BY day, product ORDER BY day, product",
            (owner, f"{month}-%"),
        )
        return [
            {"day": day, "product": product, "calls": int(calls), "media_seconds": round(float(seconds), 3)}
            for day, product, calls, seconds in rows
        ]

    def close(self) -> None:
        self.database.close()
