"""The API's one error format: `{"status": "error", "error": {"code", "message"}}`.

Domain errors (lib/errors.py) get their HTTP status from `STATUS`, the one table that
maps what went wrong to how HTTP says it. What only HTTP knows (a missing key, a rate
limit, a body that is not JSON) is an `ApiError` with its own status and headers.
Anything else is our bug: logged with its traceback, answered as a bare 500.
"""

from __future__ import annotations

from flask import Flask, Response, jsonify
from loguru import logger
from werkzeug.exceptions import HTTPException

from lib.errors import (
    ClearedError,
    Conflict,
    Gone,
    InvalidInput,
    NotFound,
    TooLarge,
    Unavailable,
    UnsupportedMedia,
    UpstreamFailed,
)

# 424, not 502/504, when the client's own servers fail: the 5xx range is kept for ours
STATUS: dict[type[ClearedError], int] = {
    InvalidInput: 422,
    NotFound: 404,
    Gone: 410,
    Conflict: 409,
    TooLarge: 413,
    UnsupportedMedia: 415,
    UpstreamFailed: 424,
    Unavailable: 503,
}


class ApiError(ClearedError):
    """An error only HTTP has: 401, 403, 429, a malformed body; `headers` such as Retry-After."""

    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(code, message)
        self.status = status
        self.headers = headers or {}


def status_of(error: ClearedError) -> int:
    if isinstance(error, ApiError):
        return error.status
    return next((STATUS[kind] for kind in type(error).__mro__ if kind in STATUS), 500)


def error_response(status: int, code: str, message: str) -> tuple[Response, int]:
    return jsonify(status="error", error={"code": code, "message": message}), status


def register(app: Flask) -> None:
    @app.errorhandler(ClearedError)
    def _cleared_error(error: ClearedError) -> tuple[Response, int]:
        response, status = error_response(status_of(error), error.code, error.message)
        if isinstance(error, ApiError):
            response.headers.update(error.headers)
        return response, status

    @app.errorhandler(HTTPException)
    def _http_error(error: HTTPException) -> tuple[Response, int]:
        status = error.code or 500
        code = {413: "too_large"}.get(status, (error.name or "error").lower().replace(" ", "_"))
        return error_response(status, code, error.description or error.name)

    @app.errorhandler(Exception)
    def _unexpected(error: Exception) -> tuple[Response, int]:
        logger.exception("unhandled error")
        return error_response(500, "internal_error", "the server failed to process the request; try again")
