"""A stream that never ends, matched as it plays: each song reported once per play.

The audio's landmarks are made once, span by span as it arrives (stream.py: each
sample is fingerprinted once, whatever the overlap of the windows), and every `hop`
seconds the last `window` seconds of them are matched (the identity warp and the near
grid: radio plays records at their speed; match.find_matches). `Plays` turns those
window matches into song starts: a track heard again within `gap` seconds of its last
hearing is the same play (a chorus repeats, so the alignment may jump), otherwise it is
a new one.

A stream is an endless series of searches, so each window is scored against the chance
of an hour of them (`SEARCHES`: the independent windows of an hour), as a long file's
windows are (segments.py): at the single-search bar, 5 s windows of unknown music made
a false report within minutes (bench/STREAMS.md).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import replace

import numpy as np

from lib.fingerprint.config import DEFAULT, EngineConfig
from lib.fingerprint.hashes import Landmarks
from lib.fingerprint.index import HashIndex
from lib.fingerprint.match import Match, find_matches
from lib.fingerprint.score import confidence
from lib.fingerprint.stream import landmark_spans

SEARCHES_SECONDS = 3600.0  # a window's chance is that of an hour's windows


def heard(
    chunks: Iterable[np.ndarray], index: Callable[[], HashIndex], config: EngineConfig = DEFAULT,
    window: float = 5.0, hop: float = 2.0,
) -> Iterator[Match]:  # fmt: skip
    """Every window's matches, in stream order, on the stream's clock (seconds since its
    first sample). `index()` is asked at each window: the catalog may change meanwhile."""
    fs = config.frame_seconds
    size, step = round(window / fs), round(hop / fs)
    searches = round(SEARCHES_SECONDS / window)
    pending = Landmarks.empty()
    start = 0  # the next window's first frame
    for span in landmark_spans(chunks, config, span_seconds=hop):
        pending = Landmarks.joined([pending.window(start, span.start, clock=0), span.marks])
        while start + size <= span.stop:
            shift = start * fs
            for m in find_matches(pending.window(start, start + size), index(), config, limit=3, wide=False):
                score = confidence(m.aligned, m.warps, m.landmarks, searches)
                if score >= config.min_score:
                    yield replace(
                        m, score=score, query_start=round(m.query_start + shift, 3),
                        query_end=round(m.query_end + shift, 3),
                    )  # fmt: skip
            start += step


class Plays:
    """Which matches start a play (see the module docstring); memory stays bounded: a
    track not heard for `gap` seconds is forgotten."""

    def __init__(self, gap: float = 20.0) -> None:
        self.gap = gap
        self.last: dict[str, float] = {}  # track id: stream time it was last heard

    def starts(self, m: Match) -> bool:
        seen = self.last.get(m.track_id)
        self.last[m.track_id] = max(m.query_end, seen or 0.0)
        self.last = {t: at for t, at in self.last.items() if m.query_start - at <= self.gap}
        return seen is None or m.query_start - seen > self.gap
