"""`GET /api/v1/usage`: what the caller used this month (or `?month=YYYY-MM`), per day and
product, in calls and media seconds analysed: its owner's, all its keys together, and
this key's own against its quotas (lib/store/keys.py). Open to every key, whatever its
products; nothing of another owner's is ever in it."""

from __future__ import annotations

from datetime import datetime

from flask import Blueprint, request

from lib.errors import InvalidInput
from lib.store.keys import month_of, next_month
from lib.web.access import caller
from lib.web.context import current

usage = Blueprint("usage", __name__, url_prefix="/api/v1")


@usage.get("/usage")
def own_usage() -> dict[str, object]:
    keys, who = current().keys, caller()
    now = keys.clock()
    month = request.args.get("month") or month_of(now)
    try:
        datetime.strptime(month, "%Y-%m")
    except ValueError:
        raise InvalidInput("invalid_request", "month: YYYY-MM") from None
    days = keys.days(who.owner, month)
    mine = keys.usage(month, who.id)
    return {
        "owner": who.owner,
        "month": month,
        "calls": sum(d["calls"] for d in days),
        "media_minutes": round(sum(d["media_seconds"] for d in days) / 60, 2),
        "days": days,
        "key": {
            "calls": sum(row["calls"] for row in mine),
            "media_minutes": round(sum(row["media_minutes"] for row in mine), 2),
            "monthly_quota": who.monthly_quota,
            "monthly_minutes": who.monthly_minutes,
            "renews_at": next_month(now).isoformat(),
        },
    }
