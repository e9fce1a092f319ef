"""Track metadata: what the licensing products need to know about a catalog recording.

A plain dataclass, not a pydantic model: a one-clip `python -m lib identify` reads tracks
and nothing else of pydantic, whose import alone cost 0.1 s of the 0.3 s that command
may take (the engine issue's target; docs/engine.md). Input from outside (a catalog CSV,
a file's tags, an update) goes through `Track.validated`; rows the store hands back were
validated on their way in.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any, NamedTuple

_TRACK_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
_FALSE, _TRUE = ("", "0", "no", "false", "n", "f"), ("1", "yes", "true", "y", "t")


class InvalidTrack(ValueError):
    """Metadata that cannot make a track; the message names the field."""


@dataclass(frozen=True, slots=True)
class Track:
    """A catalog recording. `content_id` and `exclusive` drive the yt / neyt products."""

    track_id: str
    title: str = ""
    artist: str = ""
    album: str = ""
    release_date: str = ""
    isrc: str = ""
    label: str = ""
    song_link: str = ""
    cover_url: str = ""
    duration: float = 0.0
    content_id: bool = False  # registered for YouTube Content ID claiming
    exclusive: bool = False  # rights held exclusively (others may not claim it)

    @classmethod
    def validated(cls, values: Mapping[str, object]) -> Track:
        """A track from untrusted `values`: unknown keys ignored, text stripped, flags
        read from CSV text (1/0, yes/no, true/false, empty), the id checked."""
        known: dict[str, Any] = {}
        for name, kind in FIELD_TYPES.items():
            if name in values:
                known[name] = _converted(name, kind, values[name])
        if "track_id" not in known:
            raise InvalidTrack("track_id: required")
        if not _TRACK_ID.fullmatch(known["track_id"]):
            raise InvalidTrack("track_id: 1 to 128 of A-Z a-z 0-9 . _ : -")
        return cls(**known)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


FIELD_TYPES: dict[str, type] = {f.name: {"str": str, "float": float, "bool": bool}[str(f.type)] for f in fields(Track)}


def _converted(name: str, kind: type, value: object) -> object:
    if kind is bool:
        return _flag(name, value)
    if kind is float:
        return _number(name, value)
    if isinstance(value, str):
        return value.strip()
    raise InvalidTrack(f"{name}: text")


def _flag(name: str, value: object) -> bool:
    if isinstance(value, bool):
        return value
    text = value.strip().lower() if isinstance(value, str) else value
    if text in _FALSE or text == 0:
        return False
    if text in _TRUE or text == 1:
        return True
    raise InvalidTrack(f"{name}: a flag (1/0, yes/no, true/false)")


def _number(name: str, value: object) -> float:
    if isinstance(value, int | float | str) and not isinstance(value, bool):
        try:
            return float(value)
        except ValueError:
            pass
    raise InvalidTrack(f"{name}: a number")


class Cover(NamedTuple):
    """Album art taken from a reference file's tags (lib/core/covers.py), kept with its track."""

    mime: str  # one of lib.covers.IMAGE_TYPES
    data: bytes
