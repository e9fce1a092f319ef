"""Video and music sites (YouTube, SoundCloud, Vimeo, Bandcamp and the ~1,800 others
yt-dlp knows): their media found by yt-dlp, every request of it made by us.

yt-dlp knows how each site hides its media; it must not know how to reach the network.
Its requests go to one request handler, `_SafeHandler`, which makes each of them with
`media.opened`: the same address rules, caps and deadline as any download, so a page of a
supported site cannot send us to a private address either. Then the chosen format's
media is fetched like any URL (a file, an HLS playlist, a live stream: sources.py).

The format: audio only when the site offers it, the smallest of at least `_GOOD_ENOUGH`
bits a second (a fingerprint needs no more); else the smallest format with audio.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

from lib.core import media
from lib.core.media import Limits
from lib.errors import ClearedError, UnsupportedMedia, UpstreamFailed

if TYPE_CHECKING:  # yt-dlp is imported only when a URL is of a site it knows (its import: 0.3 s)
    from yt_dlp.extractor.common import InfoExtractor

RESPONSE_BYTES = 8 * 2**20  # of one page or API answer yt-dlp reads
_MEDIA_FILES = {
    ".mp3", ".m4a", ".aac", ".ogg", ".oga", ".opus", ".flac", ".wav", ".wma", ".mp4", ".m4v", ".webm", ".mkv",
    ".mov", ".avi", ".m3u8", ".mpd", ".ts",
}  # fmt: skip
_GOOD_ENOUGH = 48  # kbit/s of audio


@cache
def _extractors() -> Sequence[type[InfoExtractor]]:
    from yt_dlp.extractor import gen_extractor_classes

    return [ie for ie in gen_extractor_classes() if ie.ie_key() != "Generic"]


def extractor_for(url: str) -> type[InfoExtractor] | None:
    """The yt-dlp extractor of the site `url` is on, if yt-dlp knows it (by the URL alone).
    A URL naming a media file (by its extension) is fetched as a file without asking:
    asking runs ~1,750 patterns, 4 ms of every identify by URL (bench/LOAD.md)."""
    if Path(urlparse(url).path).suffix.lower() in _MEDIA_FILES:
        return None
    return next((ie for ie in _extractors() if ie.suitable(url)), None)


def media_of(url: str, extractor: type[InfoExtractor], limits: Limits) -> dict[str, Any]:
    """yt-dlp's description of the page at `url` (title, duration, live, formats), every
    request made through `media.opened`. A refused request is refused here, as it would
    be for any URL (`InvalidInput`); yt-dlp's own failures are `UpstreamFailed`."""
    from yt_dlp import YoutubeDL
    from yt_dlp.networking import RequestDirector
    from yt_dlp.utils import DownloadError

    refused: list[ClearedError] = []

    class SafeYoutubeDL(YoutubeDL):
        def build_request_director(self, handlers: object, preferences: object = None) -> RequestDirector:
            director = RequestDirector(logger=self._request_logger())
            director.add_handler(_safe_handler()(logger=director.logger, limits=limits, refused=refused.append))
            return director

        def _request_logger(self) -> Any:
            from yt_dlp.YoutubeDL import _YDLLogger

            return _YDLLogger(self)

    params = {"quiet": True, "no_warnings": True, "noprogress": True, "skip_download": True, "noplaylist": True}
    with SafeYoutubeDL(params, auto_init=False) as ydl:
        ydl.add_info_extractor(extractor())
        try:
            info: dict[str, Any] = ydl.extract_info(url, download=False, ie_key=extractor.ie_key(), process=True)
        except DownloadError as error:
            if refused:
                raise refused[0] from None
            raise UpstreamFailed("download_failed", f"the page's media cannot be found: {_short(error)}") from None
    return info


def chosen_format(info: dict[str, Any]) -> dict[str, Any]:
    """The format to fetch (see the module docstring)."""
    formats = [f for f in info.get("formats") or [info] if f.get("url") and f.get("acodec") != "none"]
    if not formats:
        raise UnsupportedMedia("no_media", "the page offers no format with audio")
    audio_only = [f for f in formats if f.get("vcodec") == "none"]
    good = [f for f in audio_only if _rate(f) >= _GOOD_ENOUGH]
    return min(good or audio_only or formats, key=lambda f: (_rate(f), float(f.get("filesize") or 0)))


def _rate(described: dict[str, Any]) -> float:
    """A format's kbit/s as yt-dlp states it (audio's, else the whole's); unknown sorts last."""
    return float(described.get("abr") or described.get("tbr") or 1e9)


def _short(error: Exception) -> str:
    return str(error).removeprefix("ERROR: ").splitlines()[0][:200]


@cache
def _safe_handler() -> type:
    """The request handler class (built on first use: yt-dlp is imported lazily)."""
    from yt_dlp.networking.common import Request, RequestHandler, Response
    from yt_dlp.networking.exceptions import HTTPError, TransportError

    class SafeHandler(RequestHandler):
        RH_KEY = "Cleared"
        RH_NAME = "cleared"
        _SUPPORTED_URL_SCHEMES = ("http", "https")
        _SUPPORTED_PROXY_SCHEMES = ()
        _SUPPORTED_FEATURES = ()

        def __init__(self, *, limits: Limits, refused: Callable[[ClearedError], None], **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.limits, self.refused = limits, refused

        def _check_extensions(self, extensions: dict[str, Any]) -> None:
            extensions.pop("timeout", None)  # ours are the limits'
            extensions.pop("cookiejar", None)
            super()._check_extensions(extensions)

        def _send(self, request: Request) -> Response:
            data = request.data if isinstance(request.data, bytes) or request.data is None else b"".join(request.data)
            try:
                with media.opened(
                    request.url, self.limits, dict(request.headers), request.method, data, errors=True
                ) as answer:
                    body = answer.read(RESPONSE_BYTES)
                    status, headers, final = answer.response.status, dict(answer.response.headers), answer.url
            except UpstreamFailed as failure:
                raise TransportError(cause=failure) from None
            except ClearedError as refusal:
                self.refused(refusal)
                raise TransportError(cause=refusal) from None
            response = Response(io.BytesIO(body), final, headers, status)
            if status >= 400:  # the site's own answer: some extractors read it
                raise HTTPError(response)
            return response

    return SafeHandler
