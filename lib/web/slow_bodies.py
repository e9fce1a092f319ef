"""A request body must arrive at a minimum average rate, else the call ends with 408.

Why: gunicorn's gthread worker gives a connection to one of its threads as soon as the
first bytes arrive, and that thread then blocks in `recv()` for as long as the client
takes to send the headers and the body. A server process has many threads for that
reason (`THREADS`: waiting on a socket costs no CPU, and lib/core's CPU gate keeps the
CPU-heavy step to one call at a time), but each slow upload still holds one until its
body is in: without a bound, a client sending a few bytes a second (or none) holds it
for hours, and enough of them hold them all, /healthz and every fast call queued behind
(the hardening issue: five uploads at 20 KB/s stalled /healthz for 22.8 s;
bench/SLOW_CLIENTS.md).

So the first n bytes of a body must have arrived `body_grace_seconds` + n / `body_min_rate`
seconds after the request began. Every read of the body is given what is left of that
budget as a socket timeout (under gunicorn, whose socket the environ carries), so a
client that stops sending is cut off as surely as one that trickles; the call is then
answered 408 in the API's error format and the thread goes back to the pool (gunicorn
closes a connection whose body read timed out). A slow but steady client is served.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Iterator
from contextlib import suppress
from typing import BinaryIO, NoReturn

from flask import Flask, request
from werkzeug.exceptions import RequestTimeout

from lib.settings import Settings

_UNKNOWN_LENGTH_STEP = 64 * 1024  # a chunked body's read is budgeted as this many bytes more


class TimedBody:
    """`wsgi.input` that refuses to wait past the body's budget (see the module's docstring)."""

    def __init__(
        self, stream: BinaryIO, sock: socket.socket | None, length: int | None, min_rate: float, grace: float
    ) -> None:
        self._stream = stream
        self._sock = sock
        self._length = length
        self._min_rate = min_rate
        self._grace_end = time.monotonic() + grace
        self._received = 0
        self._timed_out = False

    def _left(self, size: int) -> float:
        """Seconds left to receive the next `size` bytes (requested; fewer may come)."""
        if size < 0:
            size = _UNKNOWN_LENGTH_STEP if self._length is None else self._length - self._received
        if self._length is not None:
            size = min(size, self._length - self._received)
        return self._grace_end + (self._received + max(size, 0)) / self._min_rate - time.monotonic()

    def _timed(self, read: Callable[[int], bytes], size: int) -> bytes:
        if self._timed_out:  # the call is being answered 408: later readers (a drain) see the end
            return b""
        left = self._left(size)
        if left <= 0:
            self._give_up()
        previous = self._sock.gettimeout() if self._sock is not None else None
        try:
            if self._sock is not None:
                self._sock.settimeout(left)
            data = read(size)
        except TimeoutError:
            self._give_up()
        finally:
            if self._sock is not None:
                with suppress(OSError):  # closed meanwhile
                    self._sock.settimeout(previous)
        self._received += len(data)
        return data

    def _give_up(self) -> NoReturn:
        self._timed_out = True
        raise RequestTimeout(
            f"the request body arrived slower than {self._min_rate:.0f} bytes/s on average "
            f"({self._received} bytes received)"
        )

    def read(self, size: int | None = -1) -> bytes:
        return self._timed(self._stream.read, -1 if size is None else size)

    def readline(self, size: int | None = -1) -> bytes:
        return self._timed(self._stream.readline, -1 if size is None else size)

    def __iter__(self) -> Iterator[bytes]:
        while line := self.readline():
            yield line


def init_app(app: Flask, settings: Settings) -> None:
    """Time every request's body from now on (before any other hook can read it)."""

    def _time_the_body() -> None:
        environ = request.environ
        sock = environ.get("gunicorn.socket")
        environ["wsgi.input"] = TimedBody(
            environ["wsgi.input"],
            sock if isinstance(sock, socket.socket) else None,
            request.content_length,
            settings.body_min_rate,
            settings.body_grace_seconds,
        )

    app.before_request(_time_the_body)
