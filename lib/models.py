"""The identify API's request and response bodies (openapi.yaml describes the same shapes).

The response keeps the original Cleared API's shape so existing clients keep working:
`{"status": "success", "result": [{"songs": [Song, ...]}]}`. Fields beyond the original
ones are additions; none of the original ones is ever removed or renamed.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, HttpUrl

ApiType = Literal["yt", "ml", "neyt", "dn", "mlsi", "dt"]
API_TYPES: tuple[str, ...] = ("yt", "ml", "neyt", "dn", "mlsi", "dt")


class IdentifyRequest(BaseModel):
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    api_type: ApiType
    url: HttpUrl = Field(max_length=4096)


def timecode(seconds: float) -> str:
    """`MM:SS`, or `H:MM:SS` from one hour on: where a song starts in the submitted media."""
    whole = max(int(seconds), 0)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes:02d}:{secs:02d}"


class Song(BaseModel):
    # the original fields
    score: float = Field(description="0-100 confidence; 50 is the engine's match threshold")
    artist: str
    title: str
    album: str
    release_date: str
    timecode: str = Field(description="where the song starts in the submitted media, MM:SS or H:MM:SS")
    isrc: str
    song_link: str
    start_offset: int = Field(description="start of the matched region in the submitted media, ms")
    end_offset: int = Field(description="end of the matched region in the submitted media, ms")
    # additions
    track_id: str
    label: str
    major_label: str | None = Field(description="the major group owning the label, if any")
    cover_url: str
    ref_start: int = Field(description="start of the matched region in the catalog recording, ms")
    ref_end: int = Field(description="end of the matched region in the catalog recording, ms")
    speed: float = Field(description="playback speed of the media relative to the recording (1.05: 5 % fast)")
    pitch: float = Field(description="pitch of the media relative to the recording (frequency ratio)")
    content_id: bool
    exclusive: bool
    coverage: float = Field(description="share of the submitted media the match covers, 0-1")
    is_duplicate: bool | None = Field(default=None, description="dt only: the same recording as the catalog track")


class Result(BaseModel):
    songs: list[Song]
    media_seconds: float = Field(description="seconds of the submitted media that were analysed")
    is_duplicate: bool | None = Field(default=None, description="dt only: a song covers most of the media")
    matched_track: str | None = Field(default=None, description="dt only: the track_id it duplicates")


class IdentifyResponse(BaseModel):
    status: Literal["success"] = "success"
    result: list[Result]
