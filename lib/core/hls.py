"""HLS (`.m3u8`), live and on demand, fetched segment by segment into one local file.

FFmpeg could read a playlist itself, but it would open every segment, key and variant
playlist with its own network code, behind none of our address rules. So the playlists
are read here, and every playlist, segment and key is one `media.opened` request under
the same rules, caps and deadline as a file; the decoder only ever sees local bytes.

    master playlist ─▶ the audio-only rendition if there is one, else the variant of the
                       lowest bandwidth (the smallest that carries the audio)
    media playlist  ─▶ on demand (#EXT-X-ENDLIST): every segment, up to the size cap;
                       live: the newest segments that cover `live_seconds`
    segments        ─▶ decrypted when AES-128 (#EXT-X-KEY), written one after the other
                       behind the init section (#EXT-X-MAP) when fragmented MP4

MPEG-TS, ADTS and fragmented-MP4 segments concatenate into one valid stream.
"""

from __future__ import annotations

import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urljoin

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from lib.core import media
from lib.core.media import Limits
from lib.core.uploads import INCOMING
from lib.errors import TooLarge, UnsupportedMedia

PLAYLIST_BYTES = 1 * 2**20
TYPES = {"application/vnd.apple.mpegurl", "application/x-mpegurl", "audio/mpegurl", "audio/x-mpegurl"}
_ATTRIBUTE = re.compile(r'([A-Z0-9-]+)=("[^"]*"|[^,]*)')


def is_playlist(content_type: str, url: str) -> bool:
    return content_type in TYPES or url.split("?")[0].lower().endswith(".m3u8")


def _attributes(text: str) -> dict[str, str]:
    return {name: value.strip('"') for name, value in _ATTRIBUTE.findall(text)}


@dataclass
class Segment:
    url: str
    seconds: float
    sequence: int
    key: dict[str, str] | None  # the #EXT-X-KEY in force (METHOD, URI, IV)
    init: str | None  # the #EXT-X-MAP in force (its URI)


@dataclass
class Playlist:
    segments: list[Segment] = field(default_factory=list)
    variants: list[tuple[int, str]] = field(default_factory=list)  # (bandwidth, url) of a master playlist
    audio: list[str] = field(default_factory=list)  # audio-only renditions (#EXT-X-MEDIA TYPE=AUDIO)
    ended: bool = False  # #EXT-X-ENDLIST: on demand

    @classmethod
    def parsed(cls, text: str, base: str) -> Playlist:
        if not text.lstrip("\ufeff").startswith("#EXTM3U"):
            raise UnsupportedMedia("unsupported_media", "not an HLS playlist (no #EXTM3U)")
        playlist, sequence, seconds, bandwidth = cls(), 0, 0.0, None
        key: dict[str, str] | None = None
        init: str | None = None
        for raw in text.splitlines():
            line = raw.strip()
            tag, _, value = line.partition(":")
            if tag == "#EXT-X-MEDIA-SEQUENCE" and value.strip().isdigit():
                sequence = int(value)
            elif tag == "#EXTINF":
                seconds = float(value.split(",")[0] or 0)
            elif tag == "#EXT-X-KEY":
                given = _attributes(value)
                key = None if given.get("METHOD", "NONE") == "NONE" else given
                if key and "URI" in key:
                    key["URI"] = urljoin(base, key["URI"])
            elif tag == "#EXT-X-MAP":
                init = urljoin(base, _attributes(value).get("URI", ""))
            elif tag == "#EXT-X-STREAM-INF":
                bandwidth = int(_attributes(value).get("BANDWIDTH", "0") or 0)
            elif tag == "#EXT-X-MEDIA":
                given = _attributes(value)
                if given.get("TYPE") == "AUDIO" and given.get("URI"):
                    playlist.audio.append(urljoin(base, given["URI"]))
            elif tag == "#EXT-X-ENDLIST":
                playlist.ended = True
            elif line and not line.startswith("#"):
                if bandwidth is not None:
                    playlist.variants.append((bandwidth, urljoin(base, line)))
                    bandwidth = None
                else:
                    playlist.segments.append(Segment(urljoin(base, line), seconds, sequence, key, init))
                    sequence += 1
        return playlist


def read(answer: media.Opened) -> Playlist:
    return Playlist.parsed(answer.read(PLAYLIST_BYTES).decode("utf-8", "replace"), answer.url)


def fetch(playlist: Playlist, limits: Limits, folder: str | Path | None, live_seconds: float) -> tuple[Path, bool]:
    """The playlist's audio in a new file in `folder`, and whether it is live (then the
    newest `live_seconds` of it)."""
    if not playlist.segments and (playlist.audio or playlist.variants):
        chosen = playlist.audio[0] if playlist.audio else min(playlist.variants)[1]
        with media.opened(chosen, limits) as answer:
            playlist = read(answer)
    if not playlist.segments:
        raise UnsupportedMedia("unsupported_media", "the HLS playlist lists no media segments")
    segments = playlist.segments
    if not playlist.ended:  # live: the newest segments, enough for the window
        covered, start = 0.0, len(segments)
        while start > 0 and covered < live_seconds:
            start -= 1
            covered += segments[start].seconds or live_seconds
        segments = segments[start:]
    return join(segments, limits, folder), not playlist.ended


def join(segments: list[Segment], limits: Limits, folder: str | Path | None) -> Path:
    """The segments, each fetched under the rules (decrypted, behind its init section), in
    one new file in `folder` (DASH's too: dash.py)."""
    keys: dict[str, bytes] = {}
    written, init = 0, None
    with tempfile.NamedTemporaryFile(prefix=INCOMING, dir=folder, delete=False) as out:
        path = Path(out.name)
        try:
            for segment in segments:
                if segment.init and segment.init != init:
                    init = segment.init
                    written += _write(out, _get(init, limits, limits.max_bytes - written))
                data = _get(segment.url, limits, limits.max_bytes - written)
                if segment.key is not None:
                    data = _decrypted(data, segment, keys, limits)
                written += _write(out, data)
        except BaseException:
            path.unlink(missing_ok=True)
            raise
    return path


def _write(out: tempfile._TemporaryFileWrapper[bytes], data: bytes) -> int:
    out.write(data)
    return len(data)


def _get(url: str, limits: Limits, room: int) -> bytes:
    """One whole resource, refused past the `room` left under the size cap."""
    with media.opened(url, limits) as answer:
        data = answer.read(room + 1)
    if len(data) > room:
        raise TooLarge("too_large", f"the stream's segments are larger than the limit of {limits.max_bytes} bytes")
    return data


def _decrypted(data: bytes, segment: Segment, keys: dict[str, bytes], limits: Limits) -> bytes:
    """AES-128-CBC with PKCS7 padding, the key fetched once per URI (under the same rules)."""
    assert segment.key is not None
    if segment.key.get("METHOD") != "AES-128" or "URI" not in segment.key:
        raise UnsupportedMedia("unsupported_media", f"HLS encryption {segment.key.get('METHOD')} is not supported")
    uri = segment.key["URI"]
    if uri not in keys:
        keys[uri] = _get(uri, limits, 16)
    iv_text = segment.key.get("IV")
    iv = bytes.fromhex(iv_text[2:]) if iv_text else segment.sequence.to_bytes(16, "big")
    decryptor = Cipher(algorithms.AES(keys[uri]), modes.CBC(iv)).decryptor()
    plain = decryptor.update(data) + decryptor.finalize()
    return plain[: -plain[-1]] if plain and 1 <= plain[-1] <= 16 else plain
