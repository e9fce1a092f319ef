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
Segments are merged as the windows arrive, so that each edge can be refined (edges.py)
on the spectrogram of the last few dozen seconds, which is all the scan holds.

Each window is a new chance for chance: the strongest chance alignment grows with the
number of hypotheses searched (score.py), so segments are scored against the warps
*and windows* searched (half the windows: they overlap by half, so neighbours share
their evidence). A short query (one window) scores as before; an hour-long mix needs
about six more aligned anchors per segment (ln 360). Without this, the 60-minute
benchmark mix showed 8 chance segments of 1-4 s (11-14 anchors, scores 50-61).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import replace

from lib.fingerprint.config import DEFAULT, EngineConfig
from lib.fingerprint.edges import REACH, Edges, Spectra
from lib.fingerprint.hashes import Landmarks
from lib.fingerprint.index import HashIndex, TrackPrint
from lib.fingerprint.match import Match, staged
from lib.fingerprint.peaks import Peaks
from lib.fingerprint.score import confidence
from lib.fingerprint.stream import Span
from lib.fingerprint.verify import verified

_SAME_ALIGNMENT = 1.0  # seconds
_QUIET_GAP = 15.0  # seconds


def _same_alignment(a: Match, b: Match) -> bool:
    """Does `b` continue `a`: is `b`'s start where `a`'s alignment puts that moment of the query?"""
    expected = a.ref_start + a.speed * (b.query_start - a.query_start)
    return abs(b.ref_start - expected) <= _SAME_ALIGNMENT


def _joined(a: Match, b: Match) -> Match:
    """One segment of `a` and `b` (no earlier than `a`), with the stronger one's alignment."""
    strongest = b if b.aligned > a.aligned else a
    start, end = min(a.query_start, b.query_start), max(a.query_end, b.query_end)
    return replace(
        strongest,
        score=max(a.score, b.score),
        aligned=max(a.aligned, b.aligned),
        query_start=start,
        query_end=end,
        # the strongest window's alignment, carried to the segment's ends
        # (a repeat's alignment may reach back past the track's start: clamped)
        ref_start=max(round(strongest.ref_start - strongest.speed * (strongest.query_start - start), 3), 0.0),
        ref_end=round(strongest.ref_end + strongest.speed * (end - strongest.query_end), 3),
    )


def _continues(a: Match, b: Match, gap: float) -> bool:
    """Does `b` (starting no earlier than `a`) continue `a`'s segment?"""
    apart = b.query_start - a.query_end
    return apart <= gap or (apart <= _QUIET_GAP and _same_alignment(a, b))


def _rescored(matches: list[Match], windows: int, config: EngineConfig) -> list[Match]:
    """Scores against every hypothesis of the scan (module docstring); chance-level ones go.
    A scan of one independent window keeps its scores: they are that search's already
    (and a verified candidate's is its peak test's, verify.py)."""
    independent = max(1, round(windows / 2))  # windows overlap by half
    if independent == 1:
        return [m for m in matches if m.score >= config.min_score]
    rescored = [replace(m, score=confidence(m.aligned, m.warps, m.landmarks, independent)) for m in matches]
    return [m for m in rescored if m.score >= config.min_score]


class _Segments:
    """`_continues`' rule applied as the windows' matches arrive, in query order (as if
    they were all sorted at the end), each segment's edges refined (edges.py) while the
    spectrogram around them is still held: its start when it opens, its end once no
    later window can continue it."""

    def __init__(self, edges: Edges, gap: float) -> None:
        self.edges, self.gap = edges, gap
        self.waiting: list[Match] = []  # found, possibly before an earlier-starting one
        self.open: dict[str, Match] = {}  # each track's latest segment
        self.closed: list[Match] = []

    def found(self, matches: Iterable[Match]) -> None:
        self.waiting.extend(matches)

    def settle(self, before: float) -> None:
        """Take in the matches that start before `before`, the start of the next window
        (no later window finds one), and close the segments none from there on continues."""
        ready = sorted((m for m in self.waiting if m.query_start < before), key=lambda m: m.query_start)
        self.waiting = [m for m in self.waiting if m.query_start >= before]
        for m in ready:
            last = self.open.get(m.track_id)
            if last is not None and _continues(last, m, self.gap):
                self.open[m.track_id] = _joined(last, m)
            else:
                if last is not None:
                    self.closed.append(self.edges.end(last))
                self.open[m.track_id] = self.edges.start(m)
        for track_id, segment in list(self.open.items()):
            if before - segment.query_end > max(self.gap, _QUIET_GAP):
                self.closed.append(self.edges.end(self.open.pop(track_id)))

    def all(self) -> list[Match]:
        self.settle(math.inf)
        return sorted(self.closed, key=lambda s: (s.query_start, -s.score))


def scan(
    spans: Iterable[Span], index: HashIndex, prints: Callable[[str], TrackPrint | None],
    config: EngineConfig = DEFAULT, window: float = 10.0, hop: float = 5.0, limit: int = 5,
) -> list[Match]:  # fmt: skip
    """Every (track, alignment) segment heard in the query, in query order (`prints`
    gives a track's stored fingerprint, for its edges: edges.py).

    Windows start every `hop` and the last one ends at the query's end; each runs as
    soon as the spans cover it. Landmarks behind the next window are dropped, and the
    spectrogram is held only as far back as an edge still to refine, so memory does
    not grow with the query.
    """
    fs = config.frame_seconds
    size, step = round(window / fs), round(hop / fs)
    # an end still to refine lies at most max(window, quiet gap) + hop before the next
    # window, a start at most a hop; their searches reach back dt_max and REACH
    held = round((max(window, _QUIET_GAP) + hop + REACH) / fs)
    spectra = Spectra(config.n_bins)
    segments = _Segments(Edges(index, spectra, config, prints), gap=window)
    pending = Landmarks.empty()
    short: list[Peaks] = []  # the peaks of a query no longer than one window (verified if need be)
    next_start = n_frames = windows = 0
    rejected: list[Match] = []

    def run(start: int) -> None:
        nonlocal windows, rejected
        windows += 1
        shift = start * fs
        segments.settle(round(shift, 3))
        spectra.forget_before(start - held)
        found, rejected = staged(pending.window(start, start + size), index, config, limit)
        segments.found(
            replace(m, query_start=round(m.query_start + shift, 3), query_end=round(m.query_end + shift, 3))
            for m in found
        )

    for span in spans:
        pending = Landmarks.joined([pending.window(next_start, span.start, clock=0), span.marks])
        spectra.add(span.spec)
        if span.stop <= size:
            short.append(span.peaks)
        n_frames = span.stop
        while next_start + size < n_frames:
            run(next_start)
            next_start += step
    for start in range(next_start, n_frames - size, step):
        run(start)
    run(max(n_frames - size, 0))
    if windows == 1 and not segments.waiting and not segments.open:
        # a clip the landmarks leave unanswered: its best rejected candidates, peak by peak
        segments.found(verified(rejected, Peaks.joined(short), n_frames, prints, config)[:limit])
    return _rescored(segments.all(), windows, config)
