"""Who may call, which products, how often: API keys, a marketplace's proxy, or open.

Cleared is sold two ways. With its own keys (`CLEARED_AUTH=keys`, the default) each key
names the products it may use, a monthly quota and a rate. Behind an API marketplace
(`CLEARED_AUTH=marketplace`) the marketplace keeps the keys and the plans; Cleared only
refuses calls that do not come through its proxy (the shared secret header) and counts
usage per marketplace user. `CLEARED_AUTH=open` lets anyone call (local use).

A secured request (every view not marked `@public`) passes, in this order:
1. Flask-Limiter's rate check, per caller (`caller()` identifies it on first use): a
   key's own rate, a marketplace user's, or, for calls without a valid key, the client
   address's `anonymous_rate`, so guessing keys is throttled too;
2. `_admit`: 401 without a valid key (the body says why), 403 for a product the key
   does not include, 429 over the monthly quota; a `@metered` view takes one unit of
   the quota here, before it runs (lib/store/keys.py);
3. `_finish`, on every response: `RateLimit-Limit/-Remaining/-Reset` headers (IETF
   draft: Reset in seconds), `Retry-After` on a 429, and the unit given back if the call
   failed on our side (5xx).
"""

from __future__ import annotations

import hmac
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from flask import Flask, Response, current_app, g, request
from flask_limiter import Limiter
from flask_limiter.errors import RateLimitExceeded

from lib.core.service import Bill
from lib.products import API_TYPES, FINGERPRINT, PRODUCTS, STREAMS
from lib.settings import Settings
from lib.store.catalog import REFERENCE
from lib.store.keys import ApiKey, KeyStore, Quota, Verdict, next_month
from lib.web.errors import ApiError, error_response
from lib.web.params import params

View = TypeVar("View", bound=Callable[..., object])
OPEN = "open"  # the one owner of open mode (CLEARED_AUTH=open)


def public(view: View) -> View:
    """Served to anyone, unmetered and unlimited (the API description, its docs)."""
    view.public = True  # type: ignore[attr-defined]
    return view


def metered(view: View) -> View:
    """Each call counts against the caller's monthly quota (identify, add, check)."""
    view.metered = True  # type: ignore[attr-defined]
    return view


def demo(view: View) -> View:
    """The demo page's calls: no key needed, every api_type, unmetered, and limited to
    `demo_rate` per client address (lib/web/demo.py)."""
    view.demo = True  # type: ignore[attr-defined]
    return view


def _marked(name: str) -> bool:
    endpoint = request.endpoint or ""
    if endpoint.rpartition(".")[2] == "static":
        return name == "public"  # static files (Swagger UI's): Flask's own view, not ours to mark
    view = current_app.view_functions.get(endpoint)
    # no view: a 404 or 405 that Flask answers itself, nothing to guard
    return view is None or bool(getattr(view, name, False))


@dataclass(frozen=True)
class Caller:
    id: str  # usage and rate-limit identity: a key id, "marketplace:<user>", "address:<ip>" or "demo:<ip>"
    owner: str  # the tenant: a key's owner, a marketplace user, "open" in open mode
    products: frozenset[str]
    monthly_quota: int | None
    rate: str
    refusal: ApiError | None = None  # why the call must be refused with a 401, if it must
    operator: bool = False  # an operator key: manages the reference catalog
    monthly_minutes: float | None = None  # of media analysed; None: unlimited
    max_streams: int | None = None  # monitored at once; None: unlimited

    def bill(self, product: str) -> Bill | None:
        """Whom the media seconds of this call of `product` are counted to (open mode: nobody)."""
        return None if self.owner == OPEN else Bill(self.id, self.owner, product)

    @property
    def collection(self) -> str:
        """Whose music this caller registers and sees: its owner's collection, or for an
        operator the reference catalog (docs/tenancy.md)."""
        return REFERENCE if self.operator else self.owner


def caller() -> Caller:
    """This request's caller (the views' way to learn whose data they serve)."""
    access: Access = current_app.extensions["cleared_access"]
    return access.caller()


_WHY = {
    Verdict.INVALID: "the API key is not valid",
    Verdict.EXPIRED: "the API key has expired; ask for a new one",
    Verdict.REVOKED: "the API key has been revoked",
}


def _unauthorized(code: str, message: str) -> ApiError:
    return ApiError(401, code, message, {"WWW-Authenticate": 'Bearer realm="cleared"'})


def _presented_key() -> str | None:
    header = request.headers.get("Authorization")
    if header is not None:
        scheme, _, key = header.partition(" ")
        return key.strip() if scheme.lower() == "bearer" else ""
    return request.headers.get("X-API-Key")


class Access:
    def __init__(self, settings: Settings, keys: KeyStore) -> None:
        self.settings = settings
        self.keys = keys

    def caller(self) -> Caller:
        """This request's caller, identified once per request."""
        if "caller" not in g:
            g.caller = self._identify()
        found: Caller = g.caller
        return found

    def _anonymous(self, refusal: ApiError | None) -> Caller:
        """Open mode's caller (`refusal` None: owner "open", every product), or one refused."""
        products = frozenset(PRODUCTS if refusal is None else ())
        address = f"address:{request.remote_addr}"
        owner = OPEN if refusal is None else "anonymous"
        return Caller(address, owner, products, None, self.settings.anonymous_rate, refusal)

    def _identify(self) -> Caller:
        settings = self.settings
        if _marked("demo"):
            return Caller(f"demo:{request.remote_addr}", "demo", frozenset(API_TYPES), None, settings.demo_rate)
        if settings.auth == "open":
            return self._anonymous(None)
        if settings.auth == "marketplace":
            assert settings.marketplace_secret is not None
            given = request.headers.get(settings.marketplace_secret_header, "")
            if not hmac.compare_digest(given.encode(), settings.marketplace_secret.get_secret_value().encode()):
                return self._anonymous(
                    _unauthorized("not_through_marketplace", "call this API through the marketplace that sells it")
                )
            user = request.headers.get(settings.marketplace_user_header) or "unknown"
            return Caller(f"marketplace:{user}", user, frozenset(PRODUCTS), None, settings.marketplace_rate)
        presented = _presented_key()
        if not presented:
            message = "send an API key as 'Authorization: Bearer <key>' or 'X-API-Key: <key>'"
            return self._anonymous(_unauthorized("missing_key", message))
        key = self.keys.verify(presented)
        if not isinstance(key, ApiKey):
            return self._anonymous(_unauthorized(key, _WHY[key]))
        return Caller(
            key.key_id,
            key.owner,
            frozenset(key.products),
            key.monthly_quota,
            key.rate,
            operator=key.operator,
            monthly_minutes=key.monthly_minutes,
            max_streams=key.max_streams,
        )

    def admit(self) -> None:
        if _marked("public"):
            return
        caller = self.caller()
        if caller.refusal is not None:
            raise caller.refusal
        product = _product()
        if product is None:
            return  # the view answers 404 (no such product) or 422 (api_type missing)
        if product not in caller.products:
            allowed = ", ".join(sorted(caller.products)) or "none"
            raise ApiError(403, "product_not_included", f"this key does not include {product!r} (it has: {allowed})")
        if _marked("metered") and self.settings.auth != "open":  # open mode: no one to bill
            now = self.keys.clock()
            used_up = self.keys.take(
                caller.id, caller.owner, product, now, caller.monthly_quota, caller.monthly_minutes
            )
            if used_up is not None:
                renew = next_month(now)
                limit = (
                    f"{caller.monthly_quota} calls" if used_up == Quota.CALLS else f"{caller.monthly_minutes:g} minutes"
                )
                raise ApiError(
                    429, "quota_exceeded", f"the monthly quota of {limit} is used up; it renews {renew.isoformat()}",
                    {"Retry-After": str(max(1, math.ceil((renew - now).total_seconds())))},
                )  # fmt: skip
            g.taken = (caller.id, product, now)

    def finish(self, response: Response, limiter: Limiter) -> Response:
        taken = g.pop("taken", None)
        if taken is not None and response.status_code >= 500:
            self.keys.give_back(*taken)
        limit = limiter.current_limit
        if limit is not None:
            reset = max(0, math.ceil(limit.window.reset_time - time.time()))
            response.headers["RateLimit-Limit"] = str(limit.limit.amount)
            response.headers["RateLimit-Remaining"] = str(limit.remaining)
            response.headers["RateLimit-Reset"] = str(reset)
            if response.status_code == 429 and "Retry-After" not in response.headers:
                response.headers["Retry-After"] = str(max(1, reset))
        return response


def _product() -> str | None:
    """The product a request asks for; None when it names none that exists."""
    if request.blueprint == "index_api":
        return FINGERPRINT
    if request.blueprint == "streams":
        return STREAMS
    api_type = (request.view_args or {}).get("api_type") or params().get("api_type")
    return api_type if api_type in API_TYPES else None


def init_app(app: Flask, settings: Settings, keys: KeyStore) -> None:
    """Guard every view of `app` (call after its blueprints are registered)."""
    access = Access(settings, keys)
    limiter = Limiter(
        key_func=lambda: access.caller().id,
        app=app,
        default_limits=[lambda: access.caller().rate],
        default_limits_exempt_when=lambda: _marked("public"),
        storage_uri=settings.rate_limit_storage,
        headers_enabled=False,  # set by `finish`, in the IETF draft's form
        key_prefix="cleared",
    )
    app.before_request(access.admit)  # after the limiter's own check, registered by Limiter(app=...)
    app.after_request(lambda response: access.finish(response, limiter))
    app.extensions["cleared_access"] = access

    @app.errorhandler(RateLimitExceeded)
    def _rate_limited(error: RateLimitExceeded) -> tuple[Response, int]:
        message = f"the rate limit ({error.limit.limit}) is reached; retry after Retry-After seconds"
        return error_response(429, "rate_limited", message)
