"""Probes for the platform: `/healthz` (the process answers) and `/readyz` (it can serve:
the store answers and the catalog's index is loaded). Cloud Run's startup and liveness
probes and a load balancer's health check call them; they are public, unmetered and
not rate-limited, and say nothing a stranger should not know.
"""

from __future__ import annotations

from flask import Blueprint

from lib.errors import Unavailable
from lib.store.database import store_errors
from lib.web.access import public
from lib.web.context import current

health = Blueprint("health", __name__)


@health.get("/healthz")
@public
def alive() -> dict[str, str]:
    return {"status": "ok"}


@health.get("/readyz")
@public
def ready() -> dict[str, str | int]:
    service = current()
    try:
        service.ping()
        service.recognizer.index  # noqa: B018  (loaded now if it was not: ready means it is)
        tracks = service.catalog.count()
    except store_errors() as error:
        cause = type(error.__cause__ or error).__name__
        raise Unavailable("store_unreachable", f"the store does not answer: {cause}") from error
    return {"status": "ready", "tracks": tracks}
