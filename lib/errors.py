"""What can go wrong that a client can act on, without HTTP: each failure is a
`ClearedError` of one kind with a stable `code` a program can branch on and a message a
person can act on. The web layer turns each kind into an HTTP status in one table
(lib/web/errors.py); background tasks report the code and message; the command line
prints the message. Anything else that is raised is our bug.
"""

from __future__ import annotations


class ClearedError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class InvalidInput(ClearedError):
    """The request cannot be served as given: a bad value, a refused URL, too little audio."""


class NotFound(ClearedError):
    """What the request names does not exist (or is not the caller's to see)."""


class Gone(ClearedError):
    """It existed, and is no longer kept."""


class Conflict(ClearedError):
    """It clashes with what is already stored."""


class TooLarge(ClearedError):
    """More bytes than a limit allows."""


class UnsupportedMedia(ClearedError):
    """Not audio or video that can be decoded."""


class UpstreamFailed(ClearedError):
    """A server the client pointed us at (its media, its webhook receiver) failed or was too slow."""


class Unavailable(ClearedError):
    """A service we depend on (the store, the bucket) does not answer now; retry later."""
