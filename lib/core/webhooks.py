"""Signed webhook deliveries.

Every delivery is a JSON POST carrying

    X-Cleared-Timestamp: <unix seconds when it was signed>
    X-Cleared-Signature: v1=<hex HMAC-SHA256(secret, "<timestamp>." + raw body)>[,v1=<...>]
    X-Cleared-Delivery:  <task id>.<attempt>

signed with the task owner's secrets: one, or while a rotation overlaps, one `v1=` per
valid secret, newest first (lib/store/webhook_secrets.py).

How a receiver verifies one is in docs/index-api.md (and the OpenAPI callback).

The callback URL gets the same checks as a media download (public addresses only, the
connection pinned to the checked address) and redirects are not followed: a webhook is
delivered to the URL the client registered or not at all.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Sequence

from lib.core.media import Limits, check, post
from lib.errors import ClearedError, InvalidInput
from lib.store.tasks import Delivery, now_iso


def checked_callback(url: str | None, limits: Limits) -> str | None:
    """`url` if a webhook may be delivered there (the download address rules), else
    `invalid_callback`. Checked once, before any download: a callback we would refuse
    must not cost the client a download and a scan first."""
    if url is None:
        return None
    try:
        check(url, limits)
    except ClearedError as refused:  # refused, or a name that does not resolve
        raise InvalidInput("invalid_callback", f"callbackUrl: {refused.message}") from None
    return url


def sign(secrets: Sequence[bytes], timestamp: int, body: bytes) -> str:
    signed = str(timestamp).encode() + b"." + body
    return ",".join("v1=" + hmac.new(secret, signed, hashlib.sha256).hexdigest() for secret in secrets)


def backoff(attempt: int, base: float) -> float:
    """Seconds to wait after failed attempt number `attempt` (1, 2, ...): base, 2 base, 4 base..."""
    return float(base * 2 ** (attempt - 1))


def deliver(url: str, body: bytes, secrets: Sequence[bytes], task_id: str, attempt: int, limits: Limits) -> Delivery:
    """POST one signed delivery; the outcome, whatever happened (never raises for the receiver's faults)."""
    timestamp = int(time.time())
    headers = {
        "Content-Type": "application/json",
        "X-Cleared-Timestamp": str(timestamp),
        "X-Cleared-Signature": sign(secrets, timestamp, body),
        "X-Cleared-Delivery": f"{task_id}.{attempt}",
    }
    at, start = now_iso(), time.perf_counter()
    try:
        status, error = post(url, body, headers, limits), None
    except ClearedError as failure:
        status, error = None, f"{failure.code}: {failure.message}"
    if status is not None and not 200 <= status < 300:
        error = f"HTTP {status}"
    return Delivery(attempt, at, status, error, round((time.perf_counter() - start) * 1000, 1))
