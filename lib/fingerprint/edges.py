"""Segment edges, found again where a song fades in or out under another one.

A window's match starts and ends where its aligned landmarks do, and a landmark needs
its anchor and both targets among the peaks the query keeps. In a cross-fade the
incoming song lies several dB under the outgoing one and few of its triplets survive, so
a song was found only once it was about as loud as the other (on the hour-long mix,
1.53 s from the far end of a 3 s fade, bench/RESULTS_LONG.md).

Once a segment is known, its track, warp and alignment are known too, and a look-up
that asks only "is this triplet in that track, at that moment" meets a chance hit about
once in a million. So the frames beyond each edge are picked again three times as
densely (more of the quieter song's peaks survive), hashed under the segment's own warp,
looked up in its track only, and the edge moves out as long as aligned hits follow each
other within `MAX_GAP`. That is the rule a match's own region follows (match.py).

Dense peaks and 190 pairs per anchor make chance hits far commoner than in a normal
look-up, though: in loud noise several a second land within the tolerance, enough to
carry an edge seconds into the noise. Hits at the other offsets searched measure that
rate on the spot; where chance alone could bridge a gap, the edge stays where the
windows put it.

The track's stored landmarks are also looked for directly, placed where the alignment
puts them (presence.py): that needs no triplet of the query's own picking, only the
song's peaks. The edge moves as far as either way follows the song. Figures and what
was tried: docs/engine.md, "Long media".
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import NamedTuple

import numpy as np

from lib.fingerprint.config import EngineConfig
from lib.fingerprint.hashes import Grid, landmarks, warp
from lib.fingerprint.index import HashIndex, TrackPrint
from lib.fingerprint.match import MAX_GAP, Match
from lib.fingerprint.peaks import find_peaks
from lib.fingerprint.presence import Constellation, farther

REACH = 6.0  # seconds searched beyond an edge: a cross-fade, or a song's own quiet edge
_PEAKS_PER_SECOND = 90.0  # 3x the query's (60 or 150 changed nothing: the peak neighbourhood limits)
_FANOUT = 20  # pairs of 20 targets: the quieter song's targets are seldom the strongest
_SEARCHED = 8  # frames either side of the alignment searched: its speed is known to ~1 %
_TOLERANCE = 2  # frames either side of the offset most hits agree on
# chance hits expected on the alignment within MAX_GAP beyond which the edge stays
# (hour mix: median 0.14, p90 0.41; white noise at -20 dB full scale: 0.34-0.82)
_MOST_CHANCE_PER_GAP = 0.6
_CONSTELLATIONS = 8  # tracks' decoded prints kept: a segment's end is refined a while after its start


class Spectra:
    """The spectrogram frames of the recent past, on the input's clock (the scan holds
    the last few dozen seconds, so its memory does not grow with the input)."""

    def __init__(self, n_bins: int) -> None:
        self.first = 0  # input frame of rows[0]
        self.rows = np.empty((0, n_bins), np.float32)

    @property
    def stop(self) -> int:
        return self.first + len(self.rows)

    def add(self, rows: np.ndarray) -> None:
        """The frames that follow `stop`."""
        self.rows = np.concatenate([self.rows, rows])

    def forget_before(self, frame: int) -> None:
        drop = min(max(frame - self.first, 0), len(self.rows))
        self.rows, self.first = self.rows[drop:], self.first + drop

    def between(self, lo: int, hi: int) -> tuple[int, np.ndarray]:
        """(first frame, rows) of frames [lo, hi), as far as they are held."""
        lo, hi = max(lo, self.first), min(hi, self.stop)
        return lo, self.rows[lo - self.first : max(hi, lo) - self.first]


@dataclass
class Edges:
    """Moves a segment's edges out to where its song is still heard: as far as the dense
    look-up (module docstring) or the track's own constellation (presence.py) follows
    it, whichever reaches farther. `prints` gives a track's stored fingerprint."""

    index: HashIndex
    spectra: Spectra
    config: EngineConfig
    prints: Callable[[str], TrackPrint | None]
    _numbers: dict[str, int] = field(default_factory=dict)
    _stars: OrderedDict[str, Constellation | None] = field(default_factory=OrderedDict)

    def start(self, segment: Match) -> Match:
        fs, gap = self.config.frame_seconds, self._frames(MAX_GAP)
        edge = round(segment.query_start / fs)
        if edge - self.spectra.first < gap:  # the input starts (or the held frames do) within the gap
            return segment
        reach = min(self._frames(REACH), edge - self.spectra.first)
        hits = self._hits(segment, edge - reach, edge + gap)
        dense = _farthest(edge - hits.anchor, hits.aligned, gap, reach)
        new = edge - max(dense, self._heard(segment, edge, -1, reach))
        moved = (edge - new) * fs
        return replace(
            segment,
            query_start=round(new * fs, 3),
            ref_start=max(round(segment.ref_start - segment.speed * moved, 3), 0.0),
        )

    def end(self, segment: Match) -> Match:
        fs, gap = self.config.frame_seconds, self._frames(MAX_GAP)
        edge = round(segment.query_end / fs)
        if self.spectra.stop - edge < gap:
            return segment
        reach = min(self._frames(REACH), self.spectra.stop - edge)
        hits = self._hits(segment, edge - self.config.dt_max, edge + reach)
        dense = _farthest(hits.end - edge, hits.aligned, gap, reach)
        new = edge + max(dense, self._heard(segment, edge, 1, reach))
        moved = (new - edge) * fs
        return replace(segment, query_end=round(new * fs, 3), ref_end=round(segment.ref_end + segment.speed * moved, 3))

    def _heard(self, segment: Match, edge: int, direction: int, reach: int) -> int:
        """Frames past `edge` the segment's track is still heard by its constellation (0
        for a track removed from the store since the index was built)."""
        stars = self._constellation(segment.track_id)
        if stars is None or reach <= 0:
            return 0
        return farther(stars, segment, self.spectra.between, edge, direction, reach, self._frames(MAX_GAP), self.config)

    def _constellation(self, track_id: str) -> Constellation | None:
        """The track's decoded print, kept for the few tracks seen last."""
        if track_id in self._stars:
            self._stars.move_to_end(track_id)
        else:
            stored = self.prints(track_id)
            self._stars[track_id] = None if stored is None else Constellation.of(stored, self.config)
            if len(self._stars) > _CONSTELLATIONS:
                self._stars.popitem(last=False)
        return self._stars[track_id]

    def _frames(self, seconds: float) -> int:
        return round(seconds / self.config.frame_seconds)

    def _hits(self, segment: Match, lo: int, hi: int) -> _Hits:
        """The dense landmarks anchored in [lo, hi) that `segment`'s track holds near its alignment."""
        config = self.config
        radius = config.peak_time_radius  # a peak needs its neighbourhood; targets lie up to dt_max on
        first, rows = self.spectra.between(lo - radius, hi + config.dt_max + radius)
        peaks = find_peaks(rows, _PEAKS_PER_SECOND, config)
        marks = landmarks(peaks, _FANOUT, config).window(lo - first, hi - first, clock=-first)
        shift = math.log2(segment.pitch) * config.bins_per_octave
        probes = warp(marks, config, Grid((shift,), (segment.speed,)))
        track = np.full(len(probes.hash), self._number(segment.track_id), np.int64)
        hits = self.index.lookup_in(probes.hash, track)
        _, local = self.index.locate(hits.frames)
        mark = probes.landmark[hits.probe]
        fs = config.frame_seconds
        expected = (segment.ref_start + segment.speed * (marks.t[mark] * fs - segment.query_start)) / fs
        residual = np.rint(local - expected).astype(np.int64)
        searched = np.abs(residual) <= _SEARCHED
        mark, residual = mark[searched], residual[searched]
        mode = np.argmax(np.bincount(residual + _SEARCHED)) - _SEARCHED if len(mark) else 0
        anchor = marks.t[mark].astype(np.int64)
        return _Hits(anchor, anchor + marks.dt2[mark], np.abs(residual - mode) <= _TOLERANCE)

    def _number(self, track_id: str) -> int:
        """The track's number in the index; a track replaced since is listed again later,
        hidden where it was first, so the last listing is the live one."""
        if track_id not in self._numbers:
            ids = self.index.track_ids
            self._numbers[track_id] = len(ids) - 1 - list(reversed(ids)).index(track_id)
        return self._numbers[track_id]


class _Hits(NamedTuple):
    """Look-up hits within `_SEARCHED` frames of a segment's alignment: each one's anchor
    and end frame, and whether it lies on the offset most of them agree on."""

    anchor: np.ndarray
    end: np.ndarray
    aligned: np.ndarray


def _farthest(beyond: np.ndarray, aligned: np.ndarray, gap: int, reach: int) -> int:
    """How far past an edge aligned hits reach, each step no longer than `gap`
    (`beyond`: each hit's distance past the edge, searched `reach` frames past it; those
    inside the segment are ignored).

    The hits past the edge off the alignment are chance: as many per offset land on
    it. Where chance alone would bridge a gap, no step past the edge is trusted."""
    out = beyond > 0
    off = np.count_nonzero(out & ~aligned) / (2 * _SEARCHED - 2 * _TOLERANCE)
    if off * (2 * _TOLERANCE + 1) * gap / reach > _MOST_CHANCE_PER_GAP:
        return 0
    past = np.sort(beyond[out & aligned])
    too_far = np.flatnonzero(np.diff(past, prepend=0) > gap)
    reached = too_far[0] if len(too_far) else len(past)
    return int(past[reached - 1]) if reached else 0
