"""Long queries: match window by window, then merge the windows into segments.

Matching a whole long query at once finds each track once, at its strongest alignment,
and its probes grow with the query (45 warps x every landmark). Windows keep each
search the size of a short clip, find a track again wherever it recurs, and find
several tracks in sequence or overlapping. The landmarks are computed once for the
whole query and cut per window (peaks are picked per second, so a window's landmarks
are the ones a clip of it would give, but for its edges).

Windows overlap by half, so a sample of `window / 2` seconds lies wholly inside one.
Consecutive windows that found one track at one alignment (the later one starting
where the earlier one's alignment expects it, within `_SAME_ALIGNMENT` seconds) merge into one segment.
"""

from __future__ import annotations

from dataclasses import replace

from lib.fingerprint.config import DEFAULT, EngineConfig
from lib.fingerprint.hashes import Landmarks
from lib.fingerprint.index import Index
from lib.fingerprint.match import Match, find_matches

_SAME_ALIGNMENT = 1.0  # seconds


def window_starts(n_frames: int, window: int, hop: int) -> list[int]:
    """Window start frames covering [0, n_frames): every `hop`, the last one ending at the end."""
    if n_frames <= window:
        return [0]
    starts = list(range(0, n_frames - window, hop))
    return [*starts, n_frames - window]


def _same_alignment(a: Match, b: Match) -> bool:
    """Does `b` continue `a`: is `b`'s start where `a`'s alignment puts that moment of the query?"""
    expected = a.ref_start + a.speed * (b.query_start - a.query_start)
    return abs(b.ref_start - expected) <= _SAME_ALIGNMENT


def merge(matches: list[Match], gap: float) -> list[Match]:
    """Join matches of one track and alignment that overlap or lie within `gap` seconds."""
    segments: list[Match] = []
    for m in sorted(matches, key=lambda m: (m.track_id, m.query_start)):
        last = segments[-1] if segments else None
        if (
            last is not None
            and last.track_id == m.track_id
            and m.query_start <= last.query_end + gap
            and _same_alignment(last, m)
        ):
            strongest = m if m.score > last.score else last
            segments[-1] = replace(
                strongest,
                score=max(m.score, last.score),
                aligned=max(m.aligned, last.aligned),
                query_start=min(m.query_start, last.query_start),
                query_end=max(m.query_end, last.query_end),
                ref_start=min(m.ref_start, last.ref_start),
                ref_end=max(m.ref_end, last.ref_end),
            )
        else:
            segments.append(m)
    return sorted(segments, key=lambda s: (s.query_start, -s.score))


def scan(
    marks: Landmarks, n_frames: int, index: Index, config: EngineConfig = DEFAULT,
    window: float = 10.0, hop: float = 5.0, limit: int = 5,
) -> list[Match]:  # fmt: skip
    """Every (track, alignment) segment heard in the query, in query order."""
    size, step = round(window / config.frame_seconds), round(hop / config.frame_seconds)
    found = []
    for start in window_starts(n_frames, size, step):
        shift = start * config.frame_seconds
        for m in find_matches(marks.window(start, start + size), index, config, limit):
            found.append(
                replace(m, query_start=round(m.query_start + shift, 3), query_end=round(m.query_end + shift, 3))
            )
    return merge(found, gap=hop)
