"""Is a segment's own track still heard past its edge? Its stored constellation, looked for.

At a cross-fade's far end the song lies 6-20 dB under the other one. Its peaks survive
where the other song is quiet (music's spectra are sparse), but a landmark needs the
query's peak picking to pair them, and that picks the strongest targets: the other
song's. Here nothing is picked. The track's stored landmarks (its fingerprint, the
same one the index holds) are decoded back into their three peaks (`unhashed`), placed
in the query where the segment's alignment puts them, and a landmark is heard when all
three are local maxima of the query's spectrogram there: within a frame and a bin for
the anchor, two frames for a target (the span is known to ±5 %).

Landmarks that share their edge-side peak (a start's anchor, an end's last target) are
one piece of evidence: one peak heard by chance makes several heard at once. Chance is
measured on the spot, block by block: the same landmarks placed ~1 s off the alignment
(not a beat's multiple) are heard that often by accident, and loud noise is all peaks
where a quiet passage has few. A quarter-second block holds the track when its heard
peaks beat that by two standard deviations, and the edge moves to the farthest heard
peak of such blocks, walking out through no more than a gap's worth of blocks without.
The alignment is first corrected for drift (a speed known to ~0.1 % moves a long
segment's far end a few frames): the offset within `_SLACK` frames with the most peaks
heard.

On the hour-long benchmark mix, with the dense look-up of edges.py, fades found within
1 s of their far end went from 61 % to 77 % (docs/engine.md, "Long media").
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from lib.fingerprint.config import EngineConfig
from lib.fingerprint.filters import dilated, maximum_2d
from lib.fingerprint.hashes import unhashed
from lib.fingerprint.index import TrackPrint
from lib.fingerprint.match import Match

BLOCK = 0.25  # seconds: the resolution of an edge found this way
_RADIUS = 2  # a peak is the maximum of its 5 x 5 cells (3 x 3 kept too many, 7 x 7 too few)
_SLACK = 8  # frames either side of the alignment searched for drift
_CHANCE_SHIFTS = (-37, -29, -23, 23, 29, 37)  # frames off the alignment, about 0.7-1.2 s
_SIGMAS = 2.0
_LEAST = 2  # peaks heard in a block, at least (1 let chance extend edges; 3 lost fades)


@dataclass(frozen=True)
class Constellation:
    """A track's stored landmarks as peaks: the anchor's frame (reference clock) and bin,
    each target's frames after it and its bin."""

    t: np.ndarray
    f: np.ndarray
    f1: np.ndarray
    f2: np.ndarray
    dt1: np.ndarray
    dt2: np.ndarray

    @classmethod
    def of(cls, fingerprint: TrackPrint, config: EngineConfig) -> Constellation:
        marks = unhashed(fingerprint.hashes, config)
        f = marks.f.astype(np.float64)
        return cls(fingerprint.times.astype(np.float64), f, f + marks.df1, f + marks.df2, marks.dt1, marks.dt2)


def farther(
    stars: Constellation, segment: Match, frames: Callable[[int, int], tuple[int, np.ndarray]],
    edge: int, direction: int, reach: int, gap: int, config: EngineConfig,
) -> int:  # fmt: skip
    """Frames past `edge` (a start if `direction` is -1, an end if +1) the track is still
    heard, through no more than `gap` frames of blocks without it; 0 if not past the edge.
    Searches `reach` frames past the edge and `gap` before it; `frames(lo, hi)` gives the
    query's spectrogram frames [lo, hi) as far as they are held, and the first one's number."""
    lo, hi = (edge - reach, edge + gap) if direction < 0 else (edge - gap, edge + reach)
    margin = _SLACK + max(abs(s) for s in _CHANCE_SHIFTS)  # landmarks are also placed this far off
    first, rows = frames(lo - margin, hi + config.dt_max + margin)
    peaks = _peak_maps(rows, config)
    # each landmark's anchor in query frames (from `first`), as the segment aligns it
    fs = config.frame_seconds
    anchor = segment.query_start / fs + (stars.t - segment.ref_start / fs) / segment.speed - first
    # an edge is where the song's evidence starts or stops: a start's first peak is an
    # anchor, an end's last one a landmark's second target
    where = anchor + (stars.dt2 / segment.speed if direction > 0 else 0.0)
    mine = (where >= lo - first) & (where < hi - first)
    if not mine.any():
        return 0
    shift = math.log2(segment.pitch) * config.bins_per_octave
    placed = (anchor[mine], stars.f[mine] + shift, stars.f1[mine] + shift, stars.f2[mine] + shift)
    targets = (stars.dt1[mine] / segment.speed, stars.dt2[mine] / segment.speed)

    # Landmarks sharing their edge-side peak are one piece of evidence: a peak heard by
    # chance with its targets makes several landmarks at once (one anchor has up to a
    # dozen), so peaks, not landmarks, are counted against chance.
    edge_bin = placed[1] if direction < 0 else placed[3]
    _, peak_of = np.unique(np.rint(where[mine]) * 1024 + np.rint(edge_bin), return_inverse=True)

    def heard(offset: int) -> np.ndarray:
        """Whether each edge-side peak has a landmark heard, the landmarks `offset` frames later."""
        t, f, f1, f2 = placed
        t = t + offset
        landmark = _at(peaks[0], t, f) & _at(peaks[1], t + targets[0], f1) & _at(peaks[1], t + targets[1], f2)
        return np.bincount(peak_of, weights=landmark) > 0

    drift = max(range(-_SLACK, _SLACK + 1), key=lambda d: int(heard(d).sum()))
    found = heard(drift)
    at = np.zeros(len(found))
    at[peak_of] = where[mine] + drift + first  # each edge-side peak's frame in the query
    block_frames = round(BLOCK / fs)
    block = ((at - lo) // block_frames).astype(np.int64).clip(min=0)  # drift may move a few before lo
    counted = np.bincount(block)
    heard_in = np.bincount(block[found], minlength=len(counted))
    # chance where each block is: loud noise is all peaks, a quiet passage has few
    by_chance = np.mean([np.bincount(block[heard(drift + s)], minlength=len(counted)) for s in _CHANCE_SHIFTS], 0)
    chance = by_chance / np.maximum(counted, 1)
    spread = np.sqrt(by_chance * (1 - chance))
    holds = (heard_in >= _LEAST) & (heard_in > by_chance + _SIGMAS * spread)
    # each holding block's farthest heard peak, in frames past the edge (0: none)
    past = np.zeros(len(counted))
    evidence = found & holds[block]
    np.maximum.at(past, block[evidence], (at[evidence] - edge) * direction)
    centre = (lo + (np.arange(len(counted)) + 0.5) * block_frames - edge) * direction
    outward = np.argsort(centre)[np.sort(centre) > 0]
    return _walked(past[outward], gap / block_frames)


def _peak_maps(rows: np.ndarray, config: EngineConfig) -> tuple[np.ndarray, np.ndarray]:
    """Where the spectrogram has a local maximum within an anchor's tolerance (a frame,
    a bin) and a target's (two frames, a bin); silence has none."""
    size = 2 * _RADIUS + 1
    is_peak = (rows == maximum_2d(rows, (size, size))) & (rows > config.silence_floor_db)
    return dilated(is_peak, (3, 3)), dilated(is_peak, (5, 3))


def _at(peaks: np.ndarray, t: np.ndarray, f: np.ndarray) -> np.ndarray:
    frame, bin_ = np.rint(t).astype(np.int64), np.rint(f).astype(np.int64)
    inside = (frame >= 0) & (frame < peaks.shape[0]) & (bin_ >= 0) & (bin_ < peaks.shape[1])
    out = np.zeros(len(frame), bool)
    out[inside] = peaks[frame[inside], bin_[inside]]
    return out


def _walked(past: np.ndarray, gap_blocks: float) -> int:
    """How far out the track is followed: blocks in order outward from the edge, each
    with its farthest heard peak past the edge (`past`; 0 where the block does not hold
    the track). More than `gap_blocks` blocks in a row without the track end the walk.
    (Not counting blocks where the track itself has nothing to hear, a rest in the
    song, found 2 more fades within 1 s on the hour mix but carried one start 1.5 s into
    the song before.)"""
    reached, silence = 0.0, 0
    for distance in past.tolist():
        if distance > 0:
            reached, silence = max(reached, distance), 0
        else:
            silence += 1
            if silence > gap_blocks:
                break
    return round(reached)
