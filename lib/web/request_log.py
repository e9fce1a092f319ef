"""One log entry per request, and the request's ids on every entry logged while it runs.

Each request gets a request id (the client's `X-Request-Id` when it is a plain token,
else a new one; echoed in the response) and, when Google's front end or a tracing client
sent one, its trace and span (`X-Cloud-Trace-Context`, else W3C `traceparent`), so Cloud
Logging groups an API call's entries under its trace. Views add what only they know with
`note(api_type=..., matches=...)`.

The closing entry says who called (the key's owner, never the key), what (method and path,
never the query string: a client's `url` may be a signed URL), the status and latency.
"""

from __future__ import annotations

import re
import time
import uuid
from typing import Any

from flask import Flask, Response, g, has_request_context, request
from loguru import logger

_TOKEN = re.compile(r"[A-Za-z0-9._-]{1,64}")
_CLOUD_TRACE = re.compile(r"([0-9a-f]{32})(?:/(\d{1,20}))?(?:;o=([01]))?")
_TRACEPARENT = re.compile(r"[0-9a-f]{2}-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})")


def trace_of(cloud_trace: str | None, traceparent: str | None) -> tuple[str | None, str | None]:
    """(trace id, span id) from Google's header or the W3C one; malformed headers are ignored
    (they are client input, and must not write arbitrary text into the logs)."""
    if cloud_trace and (found := _CLOUD_TRACE.fullmatch(cloud_trace.strip())):
        span = int(found.group(2) or 0)
        return found.group(1), f"{span:016x}" if 0 < span < 2**64 else None  # Cloud Logging wants hex spans
    if traceparent and (found := _TRACEPARENT.fullmatch(traceparent.strip())):
        return found.group(1), found.group(2)
    return None, None


def note(**fields: Any) -> None:
    """Add fields to this request's log entries (no-op outside a request)."""
    if has_request_context() and "log_fields" in g:
        g.log_fields.update(fields)


def _with_request_fields(record: Any) -> None:
    if has_request_context() and "log_fields" in g:
        for key, value in g.log_fields.items():
            record["extra"].setdefault(key, value)


def _begin() -> None:
    given = request.headers.get("X-Request-Id", "")
    trace, span = trace_of(request.headers.get("X-Cloud-Trace-Context"), request.headers.get("traceparent"))
    g.log_started = time.perf_counter()
    g.log_fields = {
        "request_id": given if _TOKEN.fullmatch(given) else uuid.uuid4().hex,
        "trace": trace,
        "span_id": span,
    }


def _end(response: Response) -> Response:
    fields: dict[str, Any] = g.get("log_fields", {})
    latency = time.perf_counter() - g.get("log_started", time.perf_counter())
    caller = g.get("caller")  # identified by lib/web/access.py on secured routes
    if caller is not None:
        fields["owner"] = caller.owner
    response.headers["X-Request-Id"] = fields.get("request_id", "")
    status = response.status_code
    level = "ERROR" if status >= 500 else "WARNING" if status >= 400 else "INFO"
    logger.bind(
        method=request.method,
        path=request.path,
        status=status,
        latency_ms=round(latency * 1000, 2),
        user_agent=request.user_agent.string or None,
    ).log(level, f"{request.method} {request.path} {status}")
    return response


def init_app(app: Flask) -> None:
    """Register before every other hook, so the ids exist for the others' log entries and
    the closing entry, which runs last, sees the final response."""
    logger.configure(patcher=_with_request_fields)
    app.before_request(_begin)
    app.after_request(_end)
