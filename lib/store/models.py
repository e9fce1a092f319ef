"""Track metadata: what the licensing products need to know about a catalog recording."""

from __future__ import annotations

from typing import NamedTuple

from pydantic import BaseModel, ConfigDict, Field, field_validator


class Track(BaseModel):
    """A catalog recording. `content_id` and `exclusive` drive the yt / neyt products."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    track_id: str = Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9._:-]+$")
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

    @field_validator("content_id", "exclusive", mode="before")
    @classmethod
    def _csv_bool(cls, value: object) -> object:
        """CSV cells arrive as text: accept 1/0, yes/no, true/false and empty."""
        if isinstance(value, str):
            text = value.strip().lower()
            if text in ("", "0", "no", "false", "n", "f"):
                return False
            if text in ("1", "yes", "true", "y", "t"):
                return True
        return value


class Cover(NamedTuple):
    """Album art taken from a reference file's tags (lib/core/covers.py), kept with its track."""

    mime: str  # one of lib.covers.IMAGE_TYPES
    data: bytes
