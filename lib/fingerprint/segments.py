"""Long queries: match window by window, then merge the windows into segments.

Matching a whole long query at once finds each track once, at its strongest alignment,
and its probes grow with the query (45 warps x every landmark). Windows keep each
search the size of a short clip, find a track again wherever it recurs, and find
several tracks in sequence or overlapping (a cross-fade, a sample over a beat). The
landmarks arrive span by span (stream.py) and are cut per window.

Windows overlap by half, so a sample of `window / 2` seconds lies wholly inside one.
Windows of one track merge into one segment when
- they keep one alignment (the later starts where the earlier's alignment expects it,
  within `_SAME_ALIGNMENT` s) and lie less than `_QUIET_GAP` s apart: a quiet passage
  gives no landmarks, yet the track plays on;
- or they lie less than a window apart at different alignments: songs repeat
  themselves (a loop, a chorus), and a window may align with the repeat instead.

Each window is a new chance for chance: the strongest chance alignment grows with the
number of hypotheses searched (score.py), so segments are scored against the warps
*and windows* searched (half the windows: they overlap by half, so neighbours share
their evidence). A short query (one window) scores as before; an hour-long mix needs
about six more aligned anchors per segment (ln 360). Without this, the 60-minute
benchmark mix showed 8 chance segments of 1-4 s (11-14 anchors, scores 50-61).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace

from lib.fingerprint.config import DEFAULT, EngineConfig
from lib.fingerprint.hashes import Landmarks
from lib.fingerprint.index import HashIndex
from lib.fingerprint.match import Match, find_matches
from lib.fingerprint.score import confidence
from lib.fingerprint.stream import Span

_SAME_ALIGNMENT = 1.0  # seconds
_QUIET_GAP = 15.0  # seconds


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
    """Join the matches of one track that continue each other (module docstring)."""
    segments: list[Match] = []
    for m in sorted(matches, key=lambda m: (m.track_id, m.query_start)):
        last = segments[-1] if segments else None
        if last is not None and last.track_id == m.track_id and _continues(last, m, gap):
            strongest = m if m.aligned > last.aligned else last
            start, end = min(m.query_start, last.query_start), max(m.query_end, last.query_end)
            segments[-1] = replace(
                strongest,
                score=max(m.score, last.score),
                aligned=max(m.aligned, last.aligned),
                query_start=start,
                query_end=end,
                # the strongest window's alignment, carried to the segment's ends
                # (a repeat's alignment may reach back past the track's start: clamped)
                ref_start=max(round(strongest.ref_start - strongest.speed * (strongest.query_start - start), 3), 0.0),
                ref_end=round(strongest.ref_end + strongest.speed * (end - strongest.query_end), 3),
            )
        else:
            segments.append(m)
    return sorted(segments, key=lambda s: (s.query_start, -s.score))


def _continues(a: Match, b: Match, gap: float) -> bool:
    """Does `b` (starting no earlier than `a`) continue `a`'s segment?"""
    apart = b.query_start - a.query_end
    return apart <= gap or (apart <= _QUIET_GAP and _same_alignment(a, b))


def _rescored(matches: list[Match], windows: int, config: EngineConfig) -> list[Match]:
    """Scores against every hypothesis of the scan (module docstring); chance-level ones go."""
    independent = max(1, round(windows / 2))  # windows overlap by half
    rescored = [replace(m, score=confidence(m.aligned, m.warps * independent)) for m in matches]
    return [m for m in rescored if m.score >= config.min_score]


def scan(
    spans: Iterable[Span], index: HashIndex, config: EngineConfig = DEFAULT,
    window: float = 10.0, hop: float = 5.0, limit: int = 5,
) -> list[Match]:  # fmt: skip
    """Every (track, alignment) segment heard in the query, in query order.

    Windows run as soon as the spans cover them, and landmarks behind the next window
    are dropped, so memory does not grow with the query. The windows are those of
    `window_starts` over the whole query.
    """
    size, step = round(window / config.frame_seconds), round(hop / config.frame_seconds)
    found: list[Match] = []
    pending = Landmarks.empty()
    next_start = n_frames = windows = 0

    def run(start: int) -> None:
        nonlocal windows
        windows += 1
        shift = start * config.frame_seconds
        for m in find_matches(pending.window(start, start + size), index, config, limit):
            found.append(
                replace(m, query_start=round(m.query_start + shift, 3), query_end=round(m.query_end + shift, 3))
            )

    for span in spans:
        pending = Landmarks.joined([pending.window(next_start, span.start, clock=0), span.marks])
        n_frames = span.stop
        while next_start + size < n_frames:
            run(next_start)
            next_start += step
    for start in range(next_start, n_frames - size, step):
        run(start)
    run(max(n_frames - size, 0))
    return _rescored(merge(found, gap=window), windows, config)
