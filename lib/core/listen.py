"""A live stream's audio, decoded as it arrives, for as long as someone listens.

Identify hears a window of a live stream (sources.py); a monitored stream is listened to
without end (streams.py). Both fetch through `media.opened`, under the address rules:
an Icecast/SHOUTcast body is read as it comes and handed to the decoder as a file that
never ends; an HLS playlist is polled, and each new segment fetched, decoded and handed
on in turn. `stop` ends the listening at the next read.
"""

from __future__ import annotations

import io
import tempfile
import threading
from collections.abc import Iterator

import numpy as np
import urllib3

from lib.core import hls, media
from lib.core.media import Limits
from lib.errors import UpstreamFailed
from lib.fingerprint import audio
from lib.fingerprint.config import EngineConfig

_FIRST_SECONDS = 6.0  # of a live playlist, where listening starts (its newest segments)


class _Body(io.RawIOBase):
    """An HTTP body as a file the decoder reads; it ends when `stop` is set."""

    def __init__(self, response: urllib3.BaseHTTPResponse, stop: threading.Event) -> None:
        self.response, self.stop = response, stop

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        if self.stop.is_set():
            return 0
        try:
            data = self.response.read1(len(buffer))
        except urllib3.exceptions.HTTPError as error:
            raise UpstreamFailed("stream_broken", f"the stream broke off: {error}") from None
        buffer[: len(data)] = data
        return len(data)


def chunks(url: str, limits: Limits, config: EngineConfig, stop: threading.Event) -> Iterator[np.ndarray]:
    """The stream's audio at the engine's rate until `stop` is set; raises `ClearedError`
    when it cannot be reached or is refused, and ends when the source does."""
    with media.opened(url, limits) as answer:
        if hls.is_playlist(answer.content_type, answer.url):
            playlist = hls.read(answer)
        else:
            yield from audio.stream_from(_Body(answer.response, stop), config)
            return
    yield from _playlist_chunks(playlist, url, limits, config, stop)


def _playlist_chunks(
    playlist: hls.Playlist, url: str, limits: Limits, config: EngineConfig, stop: threading.Event
) -> Iterator[np.ndarray]:
    if not playlist.segments and (playlist.audio or playlist.variants):
        url = playlist.audio[0] if playlist.audio else min(playlist.variants)[1]
        with media.opened(url, limits) as answer:
            playlist = hls.read(answer)
    newest = -1
    covered = sum(s.seconds for s in playlist.segments)
    for segment in playlist.segments:  # start near the live edge
        covered -= segment.seconds
        if covered >= _FIRST_SECONDS:
            newest = segment.sequence
    while not stop.is_set():
        fresh = [s for s in playlist.segments if s.sequence > newest]
        for segment in fresh:
            if stop.is_set():
                return
            with tempfile.TemporaryDirectory() as folder:
                path = hls.join([segment], limits, folder)
                yield from audio.stream(path, config)
            newest = segment.sequence
        if playlist.ended:
            return
        stop.wait(max(1.0, (playlist.segments[-1].seconds if playlist.segments else 4.0) / 2))
        with media.opened(url, limits) as answer:
            playlist = hls.read(answer)
