"""The errors gunicorn answers itself, in the API's error format.

A request line or header over gunicorn's limits, or a request it cannot parse, never
reaches Flask: gunicorn writes its own HTML page (`gunicorn.util.write_error`, called by
its workers for every such error). Clients parse one format, so that function is
replaced, in each worker, by one writing the same JSON body as every other error.
"""

from __future__ import annotations

import json
import socket

from gunicorn import util


def _json_error(sock: socket.socket, status: int, reason: str, message: str) -> None:
    code = reason.lower().replace(" ", "_") or "bad_request"
    body = json.dumps({"status": "error", "error": {"code": code, "message": f"{reason}: {message}"}}).encode()
    head = (
        f"HTTP/1.1 {status} {reason}\r\nConnection: close\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    util.write_nonblock(sock, head.encode("latin-1") + body)


def install() -> None:
    """Answer gunicorn's own errors with JSON from now on, in this process."""
    util.write_error = _json_error
