"""What a client's URL points at, made into a local media file: a file, a web page's
media, or a window of a live stream. Every request goes through `media.opened`, under
the same address rules, size cap, deadline and redirect limit as a plain download.

    url ─▶ a site yt-dlp knows (YouTube, SoundCloud...)? ─▶ its chosen format (sites.py) ─▶ fetched
        ─▶ opened ─▶ HTML page?  ─▶ its own media link (og:audio/og:video, <audio>,
                                     <video>, <source>, <link rel=alternate>) ─▶ fetched
                 ─▶ HLS, DASH?   ─▶ their segments, each fetched under the same rules (hls.py,
                                     dash.py): all of an on-demand one, the newest `live_seconds` of a live one
                 ─▶ live audio?  ─▶ `live_seconds` of it (Icecast/SHOUTcast: an audio
                                     body without a length, `icy-` headers)
                 ─▶ otherwise    ─▶ the file

A page's media link is fetched as a file or a live stream, never as another page: one
hop, so a page cannot send us crawling.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from html.parser import HTMLParser
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urljoin, urlparse

from lib.core import dash, hls, media, sites
from lib.core.media import Limits, Opened
from lib.errors import UnsupportedMedia

if TYPE_CHECKING:
    from yt_dlp.extractor.common import InfoExtractor

PAGE_BYTES = 2 * 2**20  # of a page read to find its media
_PAGE_TYPES = {"text/html", "application/xhtml+xml"}
_ASSUMED_BITRATE = 320_000  # bits a second of a live stream that does not say (`icy-br`): an upper bound
_LIVE_SLACK = 2.0  # seconds of wall clock past the window: a live server sends in real time after its burst


@dataclass(frozen=True)
class Source:
    """What was analysed, for the answer: the page the client gave (if it was one), the
    media fetched, its title and duration when the page or stream states them, and
    whether it is a live stream (then a window of it was heard)."""

    media_url: str
    page: str | None = None
    title: str | None = None
    duration: float | None = None
    live: bool = False


@dataclass(frozen=True)
class Fetched:
    path: Path  # the caller owns and deletes it
    source: Source


def fetch(url: str, limits: Limits, folder: str | Path | None, live_seconds: float) -> Fetched:
    """The media `url` points at, in a new file in `folder` (see the module docstring)."""
    site = sites.extractor_for(url)
    if site is not None:
        return _from_site(url, site, limits, folder, live_seconds)
    with media.opened(url, limits) as answer:
        if answer.content_type not in _PAGE_TYPES:
            return _media(answer, limits, folder, live_seconds)
        page = _Page.parsed(answer.read(PAGE_BYTES).decode("utf-8", "replace"))
    found = page.media(answer.url)
    if found is None:
        raise UnsupportedMedia(
            "no_media", "the URL is a web page without a media link of its own (og:audio, og:video, <audio>, <video>)"
        )
    with media.opened(found, limits) as answer:
        if answer.content_type in _PAGE_TYPES:
            raise UnsupportedMedia("no_media", "the page's media link leads to another page")
        fetched = _media(answer, limits, folder, live_seconds)
    return Fetched(fetched.path, Source(fetched.source.media_url, url, page.title, page.duration, fetched.source.live))


def _from_site(
    url: str, site: type[InfoExtractor], limits: Limits, folder: str | Path | None, live_seconds: float
) -> Fetched:
    """A page of a site yt-dlp knows: its chosen format, fetched as any media is."""
    info = sites.media_of(url, site, limits)
    chosen = sites.chosen_format(info)
    with media.opened(chosen["url"], limits, headers=chosen.get("http_headers")) as answer:
        fetched = _media(answer, limits, folder, live_seconds)
    duration = info.get("duration")
    return Fetched(
        fetched.path,
        Source(
            chosen["url"], url, info.get("title"), float(duration) if duration else None,
            fetched.source.live or bool(info.get("is_live")),
        ),
    )  # fmt: skip


def _media(answer: Opened, limits: Limits, folder: str | Path | None, live_seconds: float) -> Fetched:
    """The body as a file; of a live stream, about `live_seconds` of it."""
    headers = answer.response.headers
    if hls.is_playlist(answer.content_type, answer.url):
        path, live = hls.fetch(hls.read(answer), limits, folder, live_seconds)
        return Fetched(path, Source(answer.url, live=live))
    if dash.is_manifest(answer.content_type, answer.url):
        manifest = answer.read(hls.PLAYLIST_BYTES).decode("utf-8", "replace")
        listed, live = dash.segments(manifest, answer.url, live_seconds)
        return Fetched(hls.join(listed, limits, folder), Source(answer.url, live=live))
    if not _maybe_live(answer):
        return Fetched(media.save(answer, limits, folder)[0], Source(answer.url))
    # about `live_seconds` of audio: its bytes at the stated bitrate (or more), or that
    # much wall clock, whichever comes first (a live server sends in real time)
    bitrate = int(headers["icy-br"]) * 1000 if headers.get("icy-br", "").isdigit() else _ASSUMED_BITRATE
    window = media.Window(round(bitrate / 8 * live_seconds * 1.25), time.monotonic() + live_seconds + _LIVE_SLACK)
    listening = replace(answer, deadline=max(answer.deadline, window.until + _LIVE_SLACK))  # the window bounds it
    path, ended = media.save(listening, limits, folder, window)
    return Fetched(path, Source(answer.url, title=headers.get("icy-name") or None, live=not ended))


def _maybe_live(answer: Opened) -> bool:
    """An audio body of no stated length, or an Icecast/SHOUTcast server's: it may never end."""
    headers = answer.response.headers
    icy = any(name.lower().startswith("icy-") for name in headers)
    return icy or (answer.content_type.startswith("audio/") and "Content-Length" not in headers)


class _Page(HTMLParser):
    """A page's own media links and title, in the order a person would pick them: audio
    before video, declared (Open Graph) before embedded."""

    _RANKS = ("og:audio", "audio", "alternate-audio", "og:video", "video", "alternate-video")

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.links: dict[str, list[str]] = {rank: [] for rank in self._RANKS}
        self.title: str | None = None
        self.duration: float | None = None
        self._inside: list[str] = []  # open <audio>/<video> elements, for their <source>s
        self._in_title = False
        self._title_text = ""

    @classmethod
    def parsed(cls, html: str) -> _Page:
        page = cls()
        page.feed(html)
        page.close()
        page.title = page.title or (page._title_text.strip() or None)
        return page

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        given = {name: value or "" for name, value in attrs}
        if tag == "meta":
            self._meta(given.get("property") or given.get("name") or "", given.get("content", ""))
        elif tag in ("audio", "video"):
            self._inside.append(tag)
            self._add(tag, given.get("src"))
        elif tag == "source" and self._inside:
            self._add(self._inside[-1], given.get("src"))
        elif tag == "link" and "alternate" in given.get("rel", "").lower().split():
            kind = given.get("type", "").split("/")[0].lower()
            if kind in ("audio", "video"):
                self._add(f"alternate-{kind}", given.get("href"))
        elif tag == "title":
            self._in_title = True

    def handle_endtag(self, tag: str) -> None:
        if tag in ("audio", "video") and self._inside:
            self._inside.pop()
        elif tag == "title":
            self._in_title = False

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self._title_text += data

    def _meta(self, name: str, content: str) -> None:
        name = name.lower()
        if name in ("og:audio", "og:audio:url", "og:audio:secure_url"):
            self._add("og:audio", content)
        elif name in ("og:video", "og:video:url", "og:video:secure_url"):
            self._add("og:video", content)
        elif name == "og:title" and content.strip():
            self.title = content.strip()
        elif name in ("video:duration", "music:duration", "og:video:duration") and content.strip().isdigit():
            self.duration = float(content.strip())

    def _add(self, rank: str, link: str | None) -> None:
        if link and link.strip():
            self.links[rank].append(link.strip())

    def media(self, base: str) -> str | None:
        """The first http(s) media link, made absolute against the page's own URL."""
        for rank in self._RANKS:
            for link in self.links[rank]:
                absolute = urljoin(base, link)
                if urlparse(absolute).scheme in ("http", "https"):
                    return absolute
        return None
