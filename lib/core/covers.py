"""Album art embedded in a music file's tags (ID3 APIC, FLAC and Ogg pictures, MP4 covr),
kept with the track at ingest so the demo page can show it when a track has no cover_url.

Only raster formats a browser shows inline are kept (never SVG: it can carry script),
and only up to `MAX_BYTES`: art is for a thumbnail, not an archive of scans.
"""

from __future__ import annotations

import base64
from pathlib import Path

import mutagen
from mutagen.flac import Picture
from mutagen.id3 import ID3
from mutagen.mp4 import MP4Cover

from lib.store.models import Cover

IMAGE_TYPES = ("image/jpeg", "image/png", "image/webp", "image/gif")
MAX_BYTES = 2 * 2**20
_FRONT_COVER = 3  # the picture type ID3 and FLAC both use for the front cover


def embedded_art(path: Path) -> Cover | None:
    """The file's front cover (else its first picture), or None; never raises on odd files."""
    try:
        tags = mutagen.File(str(path))
    except (mutagen.MutagenError, OSError):
        return None
    if tags is None:
        return None
    return next((Cover(c.mime.lower(), c.data) for c in _pictures(tags) if _keepable(c)), None)


def _pictures(tags: mutagen.FileType) -> list[Cover]:
    found: list[tuple[int, Cover]] = []  # (0 for a front cover, else 1; picture)
    if isinstance(tags.tags, ID3):
        found += [(p.type != _FRONT_COVER, Cover(p.mime, p.data)) for p in tags.tags.getall("APIC")]
    for picture in getattr(tags, "pictures", []):  # FLAC
        found.append((picture.type != _FRONT_COVER, Cover(picture.mime, picture.data)))
    if tags.tags is not None and hasattr(tags.tags, "get"):
        for block in tags.tags.get("metadata_block_picture", []) or []:  # Ogg Vorbis and Opus
            picture = Picture(base64.b64decode(block))
            found.append((picture.type != _FRONT_COVER, Cover(picture.mime, picture.data)))
        for art in tags.tags.get("covr", []) or []:  # MP4
            mime = "image/png" if art.imageformat == MP4Cover.FORMAT_PNG else "image/jpeg"
            found.append((1, Cover(mime, bytes(art))))
    return [cover for _, cover in sorted(found, key=lambda item: item[0])]


def _keepable(cover: Cover) -> bool:
    return cover.mime.lower() in IMAGE_TYPES and 0 < len(cover.data) <= MAX_BYTES
