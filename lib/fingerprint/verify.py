"""Weak candidates, verified peak by peak against the chance measured beside them.

A short or noisy query often names the right track as its best candidate and still
falls under the score threshold (score.py): a landmark needs all three of its peaks
among the query's picked ones, so when a third of the peaks drown, about 70 % of the
landmarks are gone (0.7^3 = 0.34 survive). On the dev set (docs/engine.md, "Weak
candidates verified") the true track was the best rejected candidate of 14 of the 14
lost 2 s clips and of most lost noisy ones. Single peaks survive far better than
triplets, and once a candidate gives a (track, warp, alignment) they can be counted
directly: the track's stored landmarks are decoded into their anchor peaks (time and
bin), placed in the query where the alignment puts them, and a peak is heard when the
query picked a peak within a frame and a bin of it.

Chance is measured on the spot, with the same peaks placed 0.5-3 s off the alignment:
loud noise or dense music hears many peaks anywhere, a quiet passage few. The
candidate's own aligned anchors were heard by construction (they are why it is a
candidate), so they are left out of both counts; what remains is evidence the hash
search did not use. The test is a binomial z-score of the rest against the chance
rate, and the bar (`Z_MIN`) was set over the strongest unknown query of two seeds of
the dev set (docs/engine.md).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import replace

import numpy as np

from lib.fingerprint.config import EngineConfig
from lib.fingerprint.filters import dilated
from lib.fingerprint.index import TrackPrint
from lib.fingerprint.match import Match
from lib.fingerprint.peaks import Peaks

CANDIDATES = 3  # distinct tracks verified, best rejected score first
Z_MIN = 7.0  # the bar: score 50 (the strongest unknown query of two dev seeds: 5.3)
Z_SCALE = 4.0  # every Z_SCALE above the bar halves the distance to 100 (as score.SCALE does for anchors)
_WITHIN = (3, 3)  # a reference peak is heard within a frame and a bin of a query peak
_SLACK = 2  # frames either side of the alignment searched (its intercept is a median of a few hits)
_CHANCE_SHIFTS = tuple(s for s in range(-96, 97, 8) if abs(s) >= 16)  # frames: 0.5-3 s off


def anchor_peaks(fingerprint: TrackPrint, config: EngineConfig) -> tuple[np.ndarray, np.ndarray]:
    """The distinct (frame, log bin) anchors of a track's stored landmarks: nearly all of
    the peaks its reference kept, exact to a frame and a bin."""
    anchor_bin = fingerprint.hashes.astype(np.int64) >> (config.hash_bits - config.f_bits)
    packed = np.unique(fingerprint.times.astype(np.int64) << config.f_bits | anchor_bin)
    return packed >> config.f_bits, packed & (2**config.f_bits - 1)


def heard_z(peak_t: np.ndarray, peak_f: np.ndarray, heard: np.ndarray, candidate: Match, config: EngineConfig) -> float:
    """The binomial z-score of the reference peaks `heard` at `candidate`'s alignment
    against the rate heard at shifted ones; `heard` is the query's (frames, bins) mask
    of picked peaks, dilated to the tolerance."""
    fs = config.frame_seconds
    query_t = ((peak_t * fs - candidate.ref_start) / candidate.speed + candidate.query_start) / fs
    query_f = np.rint(peak_f + math.log2(candidate.pitch) * config.bins_per_octave).astype(np.int64)
    frames, bins = heard.shape
    in_band = (query_f >= 0) & (query_f < bins)
    edge = config.peak_time_radius  # no peak is picked this close to the query's ends

    def count(shift: int) -> tuple[int, int]:
        t = np.rint(query_t + shift).astype(np.int64)
        inside = in_band & (t >= edge) & (t < frames - edge)
        return int(np.count_nonzero(heard[t[inside], query_f[inside]])), int(np.count_nonzero(inside))

    hits, placed = max(count(s) for s in range(-_SLACK, _SLACK + 1))
    chance = [count(s) for s in _CHANCE_SHIFTS]
    rate = min(max(sum(h for h, _ in chance) / max(sum(n for _, n in chance), 1), 0.01), 0.99)
    rest, tried = hits - candidate.aligned, placed - candidate.aligned
    if tried <= 0:
        return 0.0
    return (rest - rate * tried) / math.sqrt(tried * rate * (1.0 - rate))


def verified(
    rejected: list[Match],
    peaks: Peaks,
    n_frames: int,
    prints: Callable[[str], TrackPrint | None],
    config: EngineConfig,
    min_score: float | None = None,
) -> list[Match]:
    """The rejected candidates (best first) whose peaks are heard, rescored from their z
    (score 50 at `Z_MIN`), best first; `min_score` defaults to the config's (0 gives
    every verified candidate's score: how near an unknown query came)."""
    mask = np.zeros((n_frames, config.n_bins), bool)
    mask[peaks.t, np.clip(np.rint(peaks.f).astype(np.int64), 0, config.n_bins - 1)] = True
    heard = dilated(mask, _WITHIN)
    bar = config.min_score if min_score is None else min_score
    found: list[Match] = []
    seen: set[str] = set()
    for candidate in sorted(rejected, key=lambda m: -m.score):
        if candidate.track_id in seen or len(seen) >= CANDIDATES:
            continue
        seen.add(candidate.track_id)
        stored = prints(candidate.track_id)
        if stored is None:  # removed from the store since the index was built
            continue
        z = heard_z(*anchor_peaks(stored, config), heard, candidate, config)
        score = _score(z)
        if score >= bar:
            found.append(replace(candidate, score=score))
    return sorted(found, key=lambda m: -m.score)


def _score(z: float) -> float:
    if z < Z_MIN:
        return round(max(50.0 * z / Z_MIN, 0.0), 1)
    return round(100.0 - 50.0 * 2.0 ** (-(z - Z_MIN) / Z_SCALE), 1)
