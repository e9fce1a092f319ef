"""Logs as one JSON object per line: Cloud Logging's structured entries on Google Cloud,
plain JSON on stdout anywhere else.

Every record goes through loguru (`from loguru import logger`); the standard library's
loggers (werkzeug, urllib3, google-*) are routed into it too, so a deployment has one
format. A record's `extra` fields (request_id, trace, api_type, owner, latency_ms,
matches...; lib/web/request_log.py binds them per request) become top-level JSON keys.

On Google Cloud the sink is google-cloud-logging's own handler for the platform
(`Client.get_default_handler()`: structured stdout on Cloud Run and Cloud Functions, the
Logging API elsewhere), so the trace links the entry to its request in Cloud Trace and
severities are Cloud Logging's. Nothing here reads request URLs, headers or bodies:
callers bind only fields that are safe to keep (never a key, a signed URL, a callback URL).
"""

from __future__ import annotations

import json
import logging
import os
import sys
import traceback
from typing import IO, TYPE_CHECKING, Any, Literal

from loguru import logger

if TYPE_CHECKING:
    from loguru import Record

Target = Literal["auto", "gcloud", "json"]

# loguru's levels as Cloud Logging severities (it has no TRACE or SUCCESS)
SEVERITY = {
    "TRACE": "DEBUG", "DEBUG": "DEBUG", "INFO": "INFO", "SUCCESS": "NOTICE",
    "WARNING": "WARNING", "ERROR": "ERROR", "CRITICAL": "CRITICAL",
}  # fmt: skip


def on_google_cloud() -> bool:
    """Cloud Run services and jobs set these, and so do Cloud Functions gen2 (Cloud Run underneath)."""
    return any(os.environ.get(name) for name in ("K_SERVICE", "CLOUD_RUN_JOB"))


def setup(target: Target = "auto", level: str = "INFO", stream: IO[str] | None = None) -> None:
    """Send every log record to one sink: `gcloud`, `json`, or `auto` (gcloud on Google Cloud)."""
    logger.remove()
    if target == "auto":
        target = "gcloud" if on_google_cloud() else "json"
    handler, unavailable = _cloud_logging_handler() if target == "gcloud" else (None, None)
    logger.add(GcloudSink(handler) if handler else JsonSink(stream or sys.stdout), level=level)
    logging.basicConfig(handlers=[_Intercept()], level=logging.WARNING, force=True)
    if unavailable:  # stdout JSON still reaches Cloud Logging on Cloud Run, without trace links
        logger.warning(f"Cloud Logging's client failed ({unavailable}); logging JSON lines to stdout")


def _cloud_logging_handler() -> tuple[logging.Handler | None, str | None]:
    """The platform's handler (it needs the project, from the instance's credentials)."""
    import google.auth.exceptions
    import google.cloud.logging

    try:
        handler: logging.Handler = google.cloud.logging.Client().get_default_handler()
    except (google.auth.exceptions.GoogleAuthError, OSError) as error:
        return None, type(error).__name__
    return handler, None


def _fields(record: Any) -> dict[str, Any]:
    return {key: value for key, value in record["extra"].items() if value is not None}


class JsonSink:
    """One JSON object per line: time, severity, message, logger, the bound fields, and an
    exception's traceback as text (a reader greps one line per event)."""

    def __init__(self, stream: IO[str]) -> None:
        self.stream = stream

    def __call__(self, message: Any) -> None:
        record = message.record
        entry = {
            "time": record["time"].isoformat(),
            "severity": SEVERITY[record["level"].name],
            "message": record["message"],
            "logger": record["name"],
            **_fields(record),
        }
        if record["exception"] is not None:
            entry["exception"] = _traceback(record)
        self.stream.write(json.dumps(entry, default=str) + "\n")
        self.stream.flush()


class GcloudSink:
    """Hands each record to a google-cloud-logging handler, with the request's trace, span
    and HTTP request as the entry's own fields and everything else as its JSON payload."""

    def __init__(self, handler: logging.Handler) -> None:
        self.handler = handler
        self.project: str | None = getattr(handler, "project_id", None)
        # the library's one-off diagnostic entry, written now, outside any request: written
        # from inside one, it would carry that request's full URL, query string included
        if emit := getattr(handler, "emit_instrumentation_info", None):
            emit()

    def __call__(self, message: Any) -> None:
        record = message.record
        fields = _fields(record)
        text = record["message"]
        if record["exception"] is not None:  # in the message, where Error Reporting looks for it
            text = f"{text}\n{_traceback(record)}"
        entry = logging.LogRecord(
            record["name"], record["level"].no, record["file"].path, record["line"], text, None, None
        )
        entry.levelname = SEVERITY[record["level"].name]
        entry.created = record["time"].timestamp()
        trace = fields.pop("trace", None)
        # set even when empty: the handler would otherwise read them off the current
        # Flask request itself, full URL and query string included
        entry.trace = f"projects/{self.project}/traces/{trace}" if trace and self.project else trace
        entry.span_id = fields.pop("span_id", None)
        entry.http_request = _http_request(fields)
        entry.json_fields = fields
        self.handler.handle(entry)


def _http_request(fields: dict[str, Any]) -> dict[str, Any]:
    """Cloud Logging's httpRequest for a request's closing entry (lib/web/request_log.py)."""
    if "status" not in fields:
        return {}
    request = {"requestMethod": fields.get("method"), "requestUrl": fields.get("path"), "status": fields["status"]}
    if "latency_ms" in fields:
        request["latency"] = f"{fields['latency_ms'] / 1000:.6f}s"
    if "user_agent" in fields:
        request["userAgent"] = fields["user_agent"]
    return request


def _traceback(record: Any) -> str:
    error = record["exception"]
    return "".join(traceback.format_exception(error.type, error.value, error.traceback)).rstrip()


class _Intercept(logging.Handler):
    """The standard library's records, re-emitted through loguru under their own logger's
    name and level."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            level: str | int = logger.level(record.levelname).name
        except ValueError:
            level = record.levelno

        def origin(entry: Record) -> None:
            entry["name"], entry["function"], entry["line"] = record.name, record.funcName, record.lineno

        logger.patch(origin).opt(exception=record.exc_info).log(level, record.getMessage())
