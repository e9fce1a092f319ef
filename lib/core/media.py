"""Fetch a client's media URL into a temporary file, safely.

A URL from a client is an instruction to make a request from inside our network, so
every hop is checked before it is made: http(s) only; the host name is resolved once
and every address it resolves to must be public (no loopback, private, link-local or
reserved ranges; cloud metadata endpoints live there), IPv4 addresses carried inside
IPv6 ones included (mapped, compatible, NAT64, 6to4, Teredo: `[::127.0.0.1]` is
loopback); the connection then goes to that checked address, so a second DNS answer
cannot swap in another (DNS rebinding). `CLEARED_ALLOWED_HOSTS` names the exceptions
(host names, addresses or networks), exactly those and nothing near them.
Redirects are followed by hand, each target checked again, at most `max_redirects`.
The body streams to disk under a byte cap and a wall-clock deadline, so neither a
huge file nor a server that drips one byte a second can hold a worker.
"""

from __future__ import annotations

import ipaddress
import re
import socket
import tempfile
import time
import unicodedata
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urljoin

import urllib3
from urllib3.util import Url, parse_url

from lib.core.uploads import INCOMING
from lib.errors import ClearedError, InvalidInput, TooLarge, UpstreamFailed
from lib.settings import Settings

_REDIRECTS = {301, 302, 303, 307, 308}
_CHUNK = 64 * 1024
_UNSAFE_IN_NAME = re.compile(r"[^A-Za-z0-9_.-]")  # what werkzeug's secure_filename keeps
_USER_AGENT = "Cleared/1.0 (+https://github.com/cleared)"


@dataclass(frozen=True)
class Limits:
    max_bytes: int
    timeout: float  # whole download, seconds
    connect_timeout: float  # per connect and per read, seconds
    max_redirects: int
    allow_private: bool  # any address (local use); ignored when `allowed` names any
    allowed: Allowed = field(default_factory=lambda: Allowed.parse(""))

    @classmethod
    def from_settings(cls, settings: Settings) -> Limits:
        return cls(
            max_bytes=settings.max_download_bytes,
            timeout=settings.download_timeout,
            connect_timeout=settings.connect_timeout,
            max_redirects=settings.max_redirects,
            allow_private=settings.allow_private_urls,
            allowed=Allowed.parse(settings.allowed_hosts),
        )


Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass(frozen=True)
class Allowed:
    """The non-public hosts that may be fetched anyway: names (as written in a URL,
    case-insensitive) and addresses or networks (`127.0.0.2`, `10.1.0.0/16`)."""

    names: frozenset[str]
    networks: tuple[Network, ...]

    @classmethod
    def parse(cls, listed: str) -> Allowed:
        names, networks = set(), []
        for entry in filter(None, (e.strip() for e in listed.split(","))):
            try:
                networks.append(ipaddress.ip_network(entry.strip("[]"), strict=False))
            except ValueError:
                names.add(entry.lower().rstrip("."))
        return cls(frozenset(names), tuple(networks))

    def __bool__(self) -> bool:
        return bool(self.names or self.networks)

    def admits(self, host: str, address: Address) -> bool:
        return host.lower().rstrip(".") in self.names or any(address in net for net in self.networks)


# IPv6 ranges whose addresses carry an IPv4 address in their last 32 bits (NAT64's
# well-known prefix) or that stand for a local network as a whole (local-use NAT64)
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_LOCAL_NAT64 = ipaddress.IPv6Network("64:ff9b:1::/48")


def embedded_ipv4(ip: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """The IPv4 addresses an IPv6 address stands for: mapped (::ffff:a.b.c.d), compatible
    (::a.b.c.d), NAT64 (64:ff9b::a.b.c.d), 6to4 (2002:aabb:ccdd::) and Teredo's client."""
    found = [v4 for v4 in (ip.ipv4_mapped, ip.sixtofour) if v4 is not None]
    if ip.teredo is not None:
        found += list(ip.teredo)  # (server, client): both are reached through it
    if int(ip) >> 32 == 0 or ip in _NAT64:
        found.append(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
    return found


def is_public(ip: Address) -> bool:
    """Global, and so is every IPv4 address it carries."""
    if isinstance(ip, ipaddress.IPv6Address):
        if ip in _LOCAL_NAT64:
            return False
        if not all(v4.is_global for v4 in embedded_ipv4(ip)):
            return False
    return ip.is_global


def _refuse(message: str) -> InvalidInput:
    return InvalidInput("url_not_allowed", message)


def _parse(url: str) -> Url:
    try:
        parsed = parse_url(url)
    except ValueError as error:
        raise InvalidInput("invalid_url", f"not a valid URL: {error}") from None
    if parsed.scheme not in ("http", "https"):
        raise _refuse(f"only http and https URLs can be fetched, not {parsed.scheme or 'a relative URL'!r}")
    if not parsed.host:
        raise InvalidInput("invalid_url", "the URL has no host")
    if parsed.auth is not None:
        # they would be kept with the task and its music, and travel in logs and webhooks
        raise InvalidInput("url_credentials", "a URL must not carry a user name or password; use a signed URL instead")
    return parsed


def resolve(host: str, port: int, limits: Limits) -> str:
    """The address to connect to; refused if any address of `host` is not public, unless
    the allow-list admits it (or, with no allow-list, private URLs are allowed).

    All addresses are checked, not just the first: a name answering with one public
    and one private address must not get through on a lucky pick.
    """
    try:
        infos = socket.getaddrinfo(host.strip("[]"), port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as error:
        raise UpstreamFailed("download_failed", f"cannot resolve {host}: {error}") from None
    addresses = [str(info[4][0]) for info in infos]
    anything = limits.allow_private and not limits.allowed  # an allow-list is never widened
    for address in addresses:
        ip = ipaddress.ip_address(address.split("%")[0])
        if not (anything or is_public(ip) or limits.allowed.admits(host.strip("[]"), ip)):
            raise _refuse(f"{host} resolves to a non-public address ({ip}); only public servers can be fetched")
    return addresses[0]


def _pool(url: Url, address: str, limits: Limits) -> urllib3.HTTPConnectionPool:
    """A connection pool pinned to the checked `address`, speaking TLS for the URL's own host name."""
    timeout = urllib3.Timeout(connect=limits.connect_timeout, read=limits.connect_timeout)
    if url.scheme == "https":
        return urllib3.HTTPSConnectionPool(
            address, url.port or 443, timeout=timeout, retries=False,
            server_hostname=url.host, assert_hostname=url.host,
        )  # fmt: skip
    return urllib3.HTTPConnectionPool(address, url.port or 80, timeout=timeout, retries=False)


def _connect(url: str, limits: Limits) -> tuple[Url, urllib3.HTTPConnectionPool, dict[str, str]]:
    """A pool pinned to the checked address of `url`, and the headers every request sends."""
    parsed = _parse(url)
    assert parsed.host is not None  # _parse guarantees it
    address = resolve(parsed.host, parsed.port or (443 if parsed.scheme == "https" else 80), limits)
    host_header = parsed.host if parsed.port is None else f"{parsed.host}:{parsed.port}"
    return parsed, _pool(parsed, address, limits), {"Host": host_header, "User-Agent": _USER_AGENT}


def check(url: str, limits: Limits) -> None:
    """Refuse (`InvalidInput`) a URL we would not fetch, before promising to call it later."""
    parsed = _parse(url)
    assert parsed.host is not None
    resolve(parsed.host, parsed.port or (443 if parsed.scheme == "https" else 80), limits)


@dataclass
class Opened:
    """An answer being read: the URL it came from after redirects, its response (body
    not read yet), and the deadline the whole fetch must keep."""

    url: str
    response: urllib3.BaseHTTPResponse
    deadline: float

    @property
    def content_type(self) -> str:
        return self.response.headers.get("Content-Type", "").split(";")[0].strip().lower()

    def read(self, limit: int) -> bytes:
        """Up to `limit` bytes of the body (a page, a playlist), under the deadline."""
        parts, received = [], 0
        try:
            while received < limit and (chunk := self.response.read1(_CHUNK)):
                parts.append(chunk)
                received += len(chunk)
                if time.monotonic() > self.deadline:
                    raise UpstreamFailed("download_timeout", "the server did not send it in time")
        except urllib3.exceptions.TimeoutError:
            raise UpstreamFailed("download_timeout", "the server stopped sending") from None
        except urllib3.exceptions.HTTPError as error:
            raise UpstreamFailed("download_failed", f"the download broke off: {error}") from None
        return b"".join(parts)[:limit]


@contextmanager
def opened(
    url: str, limits: Limits, headers: dict[str, str] | None = None, method: str = "GET", body: bytes | None = None,
    errors: bool = False,
) -> Iterator[Opened]:  # fmt: skip
    """Request `url` under the address rules, following redirects by hand (each target
    checked again, at most `max_redirects`; 301-303 go on as a GET, as browsers do); the
    answer's body is left for the caller to read within `limits.timeout`. Raises
    `InvalidInput` for a URL we will not fetch and `UpstreamFailed` when the server fails,
    is too slow, or (unless `errors`: then the answer is the caller's) answers 4xx/5xx."""
    deadline = time.monotonic() + limits.timeout
    for _ in range(limits.max_redirects + 1):
        parsed, pool, base = _connect(url, limits)
        try:
            response = pool.urlopen(
                method, parsed.request_uri, body=body, headers={**base, **(headers or {})}, redirect=False,
                preload_content=False, retries=False,
            )  # fmt: skip
        except urllib3.exceptions.TimeoutError:
            pool.close()
            raise UpstreamFailed("download_timeout", f"{parsed.host} did not answer in time") from None
        except urllib3.exceptions.HTTPError as error:
            pool.close()
            raise UpstreamFailed("download_failed", f"cannot fetch from {parsed.host}: {error}") from None
        try:
            if response.status in _REDIRECTS and response.headers.get("Location"):
                url = urljoin(url, response.headers["Location"])
                if response.status in (301, 302, 303):
                    method, body = "GET", None
                continue
            if response.status >= 400 and not errors:
                raise UpstreamFailed("download_failed", f"{parsed.host} answered HTTP {response.status}")
            yield Opened(url, response, deadline)
            return
        finally:
            response.release_conn()
            pool.close()
    raise UpstreamFailed("download_failed", f"more than {limits.max_redirects} redirects")


def download(url: str, limits: Limits, folder: str | Path | None = None) -> Path:
    """Fetch `url` into a new file in `folder` (default: the system's temp folder).

    The caller owns the file and deletes it. Raises what `opened` raises, and `TooLarge`
    over the size cap.
    """
    with opened(url, limits) as answer:
        return save(answer, limits, folder)[0]


def post(url: str, body: bytes, headers: dict[str, str], limits: Limits) -> int:
    """POST `body` to a checked address and return the HTTP status; redirects are not followed.

    The answer's body is not read beyond what arrives with its headers: a receiver only
    has to say 2xx. Raises `ClearedError` when the URL is refused or the server cannot be reached.
    """
    parsed, pool, base = _connect(url, limits)
    try:
        response = pool.urlopen(
            "POST", parsed.request_uri, body=body, headers={**base, **headers},
            redirect=False, preload_content=False, retries=False,
        )  # fmt: skip
        response.release_conn()
        return int(response.status)
    except urllib3.exceptions.TimeoutError:
        raise UpstreamFailed("callback_timeout", f"{parsed.host} did not answer in time") from None
    except urllib3.exceptions.HTTPError as error:
        raise UpstreamFailed("callback_failed", f"cannot reach {parsed.host}: {error}") from None
    finally:
        pool.close()


@dataclass(frozen=True)
class Window:
    """Where to cut a body that may never end (a live stream): after `max_bytes`, or at
    `until` (monotonic seconds), whichever comes first."""

    max_bytes: int
    until: float

    def closes(self, received: int) -> bool:
        return received >= self.max_bytes or time.monotonic() > self.until


def save(answer: Opened, limits: Limits, folder: str | Path | None, window: Window | None = None) -> tuple[Path, bool]:
    """The body into a new file in `folder`, under the size cap and the deadline, and
    whether it ended: without a `window` it always does (or this raises); with one, a
    body still flowing when the window closes is cut there (False)."""
    response, deadline = answer.response, answer.deadline
    length = response.headers.get("Content-Length", "")
    if length.isdigit() and int(length) > limits.max_bytes:
        raise TooLarge("too_large", f"the file is {int(length)} bytes; the limit is {limits.max_bytes}")
    with tempfile.NamedTemporaryFile(prefix=INCOMING, dir=folder, delete=False) as out:
        path = Path(out.name)
        try:
            received = 0
            while chunk := response.read1(_CHUNK):  # returns what has arrived: the deadline is checked often
                if window is not None and window.closes(received + len(chunk)):
                    out.write(chunk[: window.max_bytes - received])
                    return path, False
                received += len(chunk)
                if received > limits.max_bytes:
                    raise TooLarge("too_large", f"the file is larger than the limit of {limits.max_bytes} bytes")
                if time.monotonic() > deadline:
                    raise UpstreamFailed("download_timeout", f"the download took longer than {limits.timeout:g} s")
                out.write(chunk)
        except urllib3.exceptions.TimeoutError:
            path.unlink(missing_ok=True)
            raise UpstreamFailed("download_timeout", "the server stopped sending") from None
        except urllib3.exceptions.HTTPError as error:
            path.unlink(missing_ok=True)
            raise UpstreamFailed("download_failed", f"the download broke off: {error}") from None
        except ClearedError:
            path.unlink(missing_ok=True)
            raise
    return path, True


def filename_of(url: str) -> str:
    """A safe file name for what a URL points at (its last path part), for the records."""
    name = unicodedata.normalize("NFKD", Path(url.split("?")[0]).name).encode("ascii", "ignore").decode()
    return _UNSAFE_IN_NAME.sub("", "_".join(name.split())).strip("._") or "download"
