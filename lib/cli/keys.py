"""`python -m lib keys create|list|revoke|usage`: API keys and what they used.

    python -m lib keys create --owner acme --products dn ml --quota 10000 --minutes 6000 --rate 60/minute --json
    {"key": "clr_3f2a..._...", "key_id": "3f2a...", "owner": "acme", ...}

The key is printed once and never stored; `list` and `usage` show key ids.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from lib.products import PRODUCTS

if TYPE_CHECKING:  # the stores come with the service; every command builds this parser
    from lib.store.keys import KeyStore
    from lib.store.webhook_secrets import WebhookSecrets

DEFAULT_RATE = "60/minute"


def _rate(text: str) -> str:
    from limits import parse  # here, not at the top: every command builds this parser, few create keys

    try:
        parse(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a rate: {text!r} (e.g. 60/minute, 5/second)") from None
    return text


def _month(text: str) -> str:
    try:
        return datetime.strptime(text, "%Y-%m").strftime("%Y-%m")
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a month: {text!r} (YYYY-MM)") from None


def _day(text: str) -> datetime:
    try:
        return datetime.strptime(text, "%Y-%m-%d").replace(tzinfo=UTC)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date: {text!r} (YYYY-MM-DD)") from None


def add_parser(commands: Any) -> None:
    keys = commands.add_parser("keys", help="API keys: create, list, revoke, usage").add_subparsers(
        dest="keys_command", required=True
    )
    p = keys.add_parser("create", help="a new key, printed once")
    p.add_argument("--owner", required=True, help="the customer the key is for: its collection, tasks and usage")
    p.add_argument("--products", nargs="+", choices=PRODUCTS, default=PRODUCTS, help="default: all")
    p.add_argument("--quota", type=int, default=None, help="calls per calendar month (default: unlimited)")
    p.add_argument(
        "--minutes", type=float, default=None, help="media minutes analysed per calendar month (default: unlimited)"
    )
    p.add_argument("--streams", type=int, default=None, help="streams monitored at once (default: unlimited)")
    p.add_argument("--rate", type=_rate, default=DEFAULT_RATE, help=f"rate limit (default {DEFAULT_RATE})")
    expiry = p.add_mutually_exclusive_group()
    expiry.add_argument("--expires", type=_day, help="last day is the one before (YYYY-MM-DD, UTC)")
    expiry.add_argument("--days", type=int, help="valid for this many days")
    p.add_argument(
        "--operator", action="store_true", help="an operator key: manages the reference catalog (docs/tenancy.md)"
    )
    p.add_argument("--json", action="store_true")

    p = keys.add_parser("list", help="every key (without its secret)")
    p.add_argument("--json", action="store_true")

    p = keys.add_parser("revoke", help="stop a key from working, at once")
    p.add_argument("key_id")

    p = keys.add_parser("usage", help="calls and media minutes per key and product per month")
    p.add_argument("--month", type=_month, default=None, help="YYYY-MM (default: this month)")
    p.add_argument("--all", action="store_true", help="every month")
    p.add_argument("--key", dest="key_id", default=None, help="one key id (or marketplace:<user>)")
    p.add_argument("--json", action="store_true")


def run(store: KeyStore, webhook_secrets: WebhookSecrets, args: argparse.Namespace) -> int:
    command = args.keys_command
    if command == "create":
        if any(limit is not None and limit < 0 for limit in (args.quota, args.minutes, args.streams)):
            print("error: --quota, --minutes and --streams must be 0 or more", file=sys.stderr)
            return 2
        if not args.owner.strip():
            print("error: --owner must name someone", file=sys.stderr)
            return 2
        expires = args.expires or (store.clock() + timedelta(days=args.days) if args.days else None)
        key, stored = store.create(
            args.owner, args.products, args.quota, args.rate, expires, args.operator, args.minutes, args.streams
        )
        # a new customer's webhook secret comes with its first key, shown once too
        secret = None if args.operator else webhook_secrets.create(args.owner)
        if args.json:
            print(json.dumps({"key": key, **stored.public(), "webhook_secret": secret}))
        else:
            print(f"{key}\n(shown once: keep it now; key id {stored.key_id})")
            if secret:
                print(f"{secret}\n(the webhook signing secret of {args.owner}, shown once too)")
        return 0
    if command == "list":
        keys = [k.public() for k in store.all()]
        if args.json:
            print(json.dumps(keys))
        for k in [] if args.json else keys:
            state = "revoked" if k["revoked_at"] else f"expires {k['expires_at']}" if k["expires_at"] else "active"
            quota = k["monthly_quota"] if k["monthly_quota"] is not None else "unlimited"
            minutes = f"{k['monthly_minutes']:g}" if k["monthly_minutes"] is not None else "unlimited"
            role = "operator" if k["operator"] else "customer"
            print(
                f"{k['key_id']}\t{k['owner']}\t{role}\t{','.join(k['products'])}\t{quota} calls/month\t"
                f"{minutes} min/month\t{k['rate']}\t{state}"
            )
        return 0
    if command == "revoke":
        if store.revoke(args.key_id):
            print(f"revoked {args.key_id}")
            return 0
        print(f"error: no active key {args.key_id}", file=sys.stderr)
        return 1
    from lib.store.keys import month_of

    month = None if args.all else args.month or month_of(store.clock())
    rows = store.usage(month, args.key_id)
    if args.json:
        print(json.dumps(rows))
    for r in [] if args.json else rows:
        print(
            f"{r['month']}\t{r['caller']}\t{r['owner']}\t{r['product']}\t{r['calls']} calls\t{r['media_minutes']} min"
        )
    return 0
