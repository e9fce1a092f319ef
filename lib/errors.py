"""The API's one error format: `{"status": "error", "error": {"code", "message"}}`.

Everything a client can get wrong, and every failure of what the client pointed us at,
is an `ApiError` with a fitting HTTP status and a stable `code` a program can branch on.
Anything else is our bug: logged with its traceback, answered as a bare 500.
"""

from __future__ import annotations

from flask import Flask, Response, jsonify
from loguru import logger
from werkzeug.exceptions import HTTPException


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}  # e.g. Retry-After, WWW-Authenticate


def error_response(status: int, code: str, message: str) -> tuple[Response, int]:
    return jsonify(status="error", error={"code": code, "message": message}), status


def register(app: Flask) -> None:
    @app.errorhandler(ApiError)
    def _api_error(error: ApiError) -> tuple[Response, int]:
        response, status = error_response(error.status, error.code, error.message)
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
