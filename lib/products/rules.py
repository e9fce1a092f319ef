"""What the six products share: their thresholds (in one table) and the song they report.

Each product (`lib/products/<api_type>.py`) is a licensing question asked of the same
analysis, the catalog segments heard in the media:

    analysis -> qualifying(...) -> the product's own filter -> songs -> result

`THRESHOLDS` is the one place the products' cut-offs live. The engine reports nothing
below score 50 (its chance threshold, lib/fingerprint/score.py), so `min_score` can
only make a product stricter.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from gen.models import Collection, Result, Song
from lib.analysis import Analysis, Identified
from lib.products.labels import major_group
from lib.store import Track


@dataclass(frozen=True)
class Thresholds:
    min_score: float = 50.0
    min_seconds: float = 0.0  # matched length in the media
    min_coverage: float = 0.0  # matched share of the media (dt)


# Why these values: docs/products.md.
THRESHOLDS: dict[str, Thresholds] = {
    "yt": Thresholds(),
    "neyt": Thresholds(),
    "ml": Thresholds(),
    "mlsi": Thresholds(min_seconds=2.0),
    "dn": Thresholds(),
    "dt": Thresholds(min_score=60.0, min_coverage=0.7),
}


def qualifying(analysis: Analysis, api_type: str, keep: Callable[[Track], bool] | None = None) -> list[Identified]:
    """The segments passing `api_type`'s thresholds whose track `keep` accepts."""
    bar = THRESHOLDS[api_type]
    return [
        f
        for f in analysis.found
        if f.match.score >= bar.min_score
        and f.match.query_end - f.match.query_start >= bar.min_seconds
        and coverage(f, analysis) >= bar.min_coverage
        and (keep is None or keep(f.track))
    ]


def coverage(found: Identified, analysis: Analysis) -> float:
    """The share of the whole media the match covers: of an incomplete scan's stated
    duration (none stated: nothing can cover it), never only of what was heard."""
    whole = analysis.media_seconds or math.inf
    return min((found.match.query_end - found.match.query_start) / max(whole, analysis.seconds), 1.0)


def strongest_per_track(found: list[Identified]) -> list[Identified]:
    """One entry per track (its strongest segment), strongest first: "which songs are in it"."""
    best: dict[str, Identified] = {}
    for f in found:
        if f.track.track_id not in best or f.match.score > best[f.track.track_id].match.score:
            best[f.track.track_id] = f
    return sorted(best.values(), key=lambda f: -f.match.score)


def timecode(seconds: float) -> str:
    """`MM:SS`, or `H:MM:SS` from one hour on: where a song starts in the submitted media."""
    whole = max(int(seconds), 0)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes:02d}:{secs:02d}"


def _ms(seconds: float) -> int:
    return round(seconds * 1000)


def song(found: Identified, analysis: Analysis, is_duplicate: bool | None = None) -> Song:
    m, t = found.match, found.track
    return Song(
        score=m.score,
        artist=t.artist,
        title=t.title,
        album=t.album,
        release_date=t.release_date,
        timecode=timecode(m.query_start),
        isrc=t.isrc,
        song_link=t.song_link,
        start_offset=_ms(m.query_start),
        end_offset=_ms(m.query_end),
        track_id=t.track_id,
        label=t.label,
        major_label=major_group(t.label),
        cover_url=t.cover_url,
        ref_start=_ms(m.ref_start),
        ref_end=_ms(m.ref_end),
        speed=m.speed,
        pitch=m.pitch,
        content_id=t.content_id,
        exclusive=t.exclusive,
        coverage=round(coverage(found, analysis), 3),
        is_duplicate=is_duplicate,
        collection=Collection(found.collection),
    )


def songs_result(found: list[Identified], analysis: Analysis) -> Result:
    return result(analysis, [song(f, analysis) for f in found])


def result(analysis: Analysis, songs: list[Song], is_duplicate: bool | None = None) -> Result:
    """A product's answer: its songs (and for dt whether the media is a duplicate), and
    how much of the media was heard. Cleared only with nothing to report in the whole
    media: an incomplete scan says why and is never cleared."""
    flagged = is_duplicate if is_duplicate is not None else bool(songs)
    return Result.model_validate(
        {
            "songs": songs,
            **heard(analysis),
            "cleared": analysis.complete and not flagged,
            "is_duplicate": is_duplicate,
            "matched_track": next((s.track_id for s in songs if s.is_duplicate), None) if is_duplicate else None,
        }
    )


def heard(analysis: Analysis) -> dict[str, Any]:
    """How much of the media was heard, as every answer reports it (JSON values)."""
    cut = analysis.cut
    return {
        "media_seconds": analysis.media_seconds,
        "analysed_seconds": analysis.seconds,
        "status": "complete" if cut is None else "incomplete",
        "reason": None if cut is None else {"code": cut.code, "message": cut.message},
    }
