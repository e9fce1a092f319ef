"""Query landmarks × index → time-aligned candidates → scored matches.

Every query landmark is hashed once per warp hypothesis (pitch shift × tempo factor).
A true match makes many hits agree on one (track, warp, offset) cell, where offset is
reference time minus warped query time; chance hits scatter. The best cell of each
track is then refined: its hits give the tempo by least squares (speed within the grid
step) and the offset by a median (exact to a frame on unmodified audio).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from lib.fingerprint.config import DEFAULT, EngineConfig
from lib.fingerprint.filters import median
from lib.fingerprint.hashes import IDENTITY, Grid, Hashes, Landmarks, warp
from lib.fingerprint.index import HashIndex
from lib.fingerprint.score import confidence

_OFFSET_BIAS = 2**24  # keeps offset bins non-negative inside the packed cell key
_CELLS_PER_WARP = 2**33  # more than every offset bin of the uint32 timeline, biased
_SCATTER = 0x9E3779B1  # odd multiplier that spreads the warps' cells over the buckets
MAX_GAP = 1.0  # seconds between aligned anchors of one matched region
_MIN_FIT_SPAN = 4.0  # seconds of aligned anchors needed to measure tempo


@dataclass(frozen=True)
class Match:
    """One reference track found in the query; times in seconds."""

    track_id: str
    score: float  # 0-100 confidence, see lib/fingerprint/score.py
    aligned: int  # query anchor frames with landmarks agreeing on this alignment
    query_start: float
    query_end: float
    ref_start: float
    ref_end: float
    speed: float  # reference time per query time: 1.05 = the query plays 5 % fast
    pitch: float  # query frequency / reference frequency
    warps: int = 1  # warp hypotheses searched to find it (the score's chance level depends on it)
    landmarks: int = 0  # query landmarks searched (so does it: score.py)


def full_grid(config: EngineConfig) -> Grid:
    """The rectangle of small changes around the identity: ±1 semitone × ±6 % tempo."""
    return Grid.product(config.pitch_shifts, config.tempo_factors, config.pitch_step, config.tempo_step)


def wide_grid(config: EngineConfig) -> Grid:
    """Large changes, outside `full_grid`: the speed line (a speed change s shifts pitch by
    log2(s) octaves and tempo by s) and the pitch-only line, one pitch step apart."""
    step, per_octave = config.pitch_step, config.bins_per_octave
    low = math.floor(per_octave * math.log2(config.speed_min) / step)
    high = math.ceil(per_octave * math.log2(config.speed_max) / step)
    speed = [(k * step, 2.0 ** (k * step / per_octave)) for k in range(low, high + 1)]
    n = round(config.wide_pitch_range / step)
    pitch = [(k * step, 1.0) for k in range(-n, n + 1)]
    points = speed + pitch
    line = Grid(tuple(p for p, _ in points), tuple(t for _, t in points), step, config.tempo_step)
    return line.without(full_grid(config))


def _candidates(warp_of: np.ndarray, offset_bin: np.ndarray, min_count: int) -> np.ndarray:
    """Indices of the hits that may belong to a (warp, offset bin) cell reaching `min_count` with its next bin.

    Counting hits into hashed buckets is linear; the exact count (a sort) then runs on
    the few hits left, where sorting all of them was 40 % of a grid search. A bucket
    holds at least its cells' hits, so no qualifying cell is missed: a collision only
    keeps some chance hits a little longer. The bucket of `cell + 1` is the bucket of
    `cell` plus one, so neighbouring bins merge in the buckets as they do exactly.
    """
    bits = int(np.clip(np.ceil(np.log2(max(len(offset_bin), 1))) + 1, 10, 24))  # about half full
    mask = (1 << bits) - 1
    bucket = (offset_bin + warp_of * _SCATTER) & mask  # warps scattered apart, bins kept in order
    counts = np.bincount(bucket, minlength=mask + 1)
    open_ = (counts + np.roll(counts, -1)) >= min_count  # the bucket with the next one
    either = open_ | np.roll(open_, 1)  # ... or the one before with this one: a hit's cell may be either
    return np.flatnonzero(either[bucket])


def _best_cells(cell: np.ndarray, min_count: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cells whose hits, merged with the next offset bin's, reach `min_count`.

    Returns (cell key, merged count, index of one hit in the cell). Merging neighbours
    catches alignments that straddle a bin edge or drift across one (a residual tempo
    error of 1 % moves the offset 3 frames over a 10 s query).
    """
    keys, sample, counts = np.unique(cell, return_index=True, return_counts=True)
    merged = counts.copy()
    adjacent = np.nonzero(keys[1:] == keys[:-1] + 1)[0]
    merged[adjacent] += counts[adjacent + 1]
    keep = merged >= min_count
    return keys[keep], merged[keep], sample[keep]


def find_matches(
    marks: Landmarks, index: HashIndex, config: EngineConfig = DEFAULT, limit: int = 5, wide: bool = True
) -> list[Match]:
    """Return the tracks of `index` heard in the query, best first, at most `limit`.

    Unmodified audio is the common case and the cheapest: the identity warp is searched
    first, and its answer stands if the fitted speed confirms it. Only otherwise is the
    whole warp grid searched. Each search is judged against the chance level of its own
    number of hypotheses (see score.py), so the first is both faster and more sensitive.
    Without `wide`, the wide speed and pitch lines are left out (a monitored stream: its
    windows, mostly of music the catalog does not hold, would all reach that stage).
    """
    return staged(marks, index, config, limit, wide)[0]


def staged(
    marks: Landmarks, index: HashIndex, config: EngineConfig = DEFAULT, limit: int = 5, wide: bool = True
) -> tuple[list[Match], list[Match]]:
    """`find_matches`' answer and the candidates its stages turned down (under the score
    threshold, or an identity match whose speed said otherwise), which verify.py can
    test peak by peak when the answer is empty."""
    if len(marks) == 0 or not index.track_ids:
        return [], []
    unbarred = replace(config, min_score=0.0)
    rejected: list[Match] = []

    def stage(grid: Grid, n_warps: int | None = None) -> list[Match]:
        found = search(marks, index, grid, unbarred, limit, n_warps)
        rejected.extend(m for m in found if m.score < config.min_score)
        return [m for m in found if m.score >= config.min_score]

    unwarped = stage(IDENTITY)
    if unwarped and abs(unwarped[0].speed - 1.0) < config.tempo_step / 3:
        return unwarped, rejected
    rejected.extend(unwarped)
    near = full_grid(config)
    found = stage(near)
    if found or not wide:
        return found, rejected
    lines = wide_grid(config)
    return stage(lines, n_warps=len(near) + len(lines)), rejected


def search(
    marks: Landmarks, index: HashIndex, grid: Grid, config: EngineConfig, limit: int, n_warps: int | None = None
) -> list[Match]:
    """Matches of `marks` in `index` under the warps of `grid`, best first, scored against
    the chance level of `n_warps` hypotheses (default: the grid's; more when other grids
    were searched before it for the same query).

    Cells are keyed by offset on the global timeline: tracks occupy disjoint ranges of
    it, so no per-hit track look-up is needed; only candidate cells are located.

    Look-up cost is the number of index entries the probes meet. A small catalog's
    entries are few and cheap: every warp is looked up at once and the hits are the
    whole evidence. In a big one (the index thins the look-up: `query_hash_cap`) the
    first pass meets as few entries as it can and only finds candidate (track, warp)
    cells; each candidate's evidence is then gathered from all its probes, but only
    within its track, which costs a search per probe instead of a pass over every hit
    (docs/engine.md, "Catalog scale"). That first pass saves twice:

    - it leaves out crowded hashes: most hits come from a few of them, nearly all by
      chance (at 1,000 hours the 25 % of probes whose hashes have more than 8 entries
      meet 90 % of the hits);
    - it probes only the grid's seeds (`Grid.seeds`: every other hypothesis on each
      axis, a third of the grid), and a candidate is then measured over its seed's
      neighbourhood, where its best hypothesis is taken.
    """
    probes = warp(marks, config, grid)
    seeds = grid.seeds()
    is_seed = np.zeros(len(grid), bool)
    is_seed[[seed for seed, _ in seeds]] = True
    is_seed = is_seed[probes.warp]
    first = np.flatnonzero(is_seed)
    hits = index.lookup(probes.hash[first], config.query_hash_cap)
    probe, frames = first[hits.probe], hits.frames
    seeds_only = not hits.complete
    if not seeds_only and len(first) < len(probes.hash):
        rest = np.flatnonzero(~is_seed)
        more = index.lookup(probes.hash[rest])
        probe, frames = np.concatenate([probe, rest[more.probe]]), np.concatenate([frames, more.frames])
    offset_bin = _offset_bins(frames, probes.t[probe], config)
    warp_of = probes.warp[probe]
    kept = _candidates(warp_of, offset_bin, config.min_aligned)
    probe, frames, offset_bin, warp_of = probe[kept], frames[kept], offset_bin[kept], warp_of[kept]
    keys, counts, sample = _best_cells(warp_of * _CELLS_PER_WARP + offset_bin, config.min_aligned)
    if len(keys) == 0:
        return []
    cell_track, _ = index.locate(frames[sample])
    # strongest cell per track, strongest tracks first
    order = np.lexsort((-counts, cell_track))
    first_of_track = np.r_[True, cell_track[order][1:] != cell_track[order][:-1]]
    best = order[first_of_track]
    best = best[np.argsort(-counts[best], kind="stable")][: limit * 3]
    cells = [(int(cell_track[k]), *divmod(int(keys[k]), _CELLS_PER_WARP)) for k in best]
    if not seeds_only:
        evidence = [(w, _near(probe, frames, offset_bin, warp_of == w, b, index, track)) for track, w, b in cells]
    else:
        around = dict(seeds)
        evidence = _verified(probes, index, [(track, around[w]) for track, w, _ in cells], config)

    matches = []
    for (track, _, _), (warp_index, (cell_probe, local)) in zip(cells, evidence, strict=True):
        if len(cell_probe) == 0:
            continue
        landmark = probes.landmark[cell_probe]
        ends = marks.t[landmark] + marks.dt2[landmark]
        hypothesis = grid[warp_index]
        match = _refine(marks.t[landmark], ends, local, index, track, hypothesis, n_warps or len(grid), len(marks))
        if match.score >= config.min_score:
            matches.append(match)
    matches.sort(key=lambda m: (-m.score, -m.aligned))
    return matches[:limit]


def _offset_bins(frames: np.ndarray, query_t: np.ndarray, config: EngineConfig) -> np.ndarray:
    return np.floor((frames - query_t) / config.offset_bin).astype(np.int64) + _OFFSET_BIAS


def _near(
    probe: np.ndarray,
    frames: np.ndarray,
    offset_bin: np.ndarray,
    of_warp: np.ndarray,
    bin_k: int,
    index: HashIndex,
    track: int,
) -> tuple[np.ndarray, np.ndarray]:
    """The hits of one warp in offset bins bin_k - 1 .. bin_k + 2 that lie in `track`:
    (probe, frame within the track). A cell at a track boundary may hold the
    neighbour's hits."""
    near = np.flatnonzero(of_warp & (offset_bin >= bin_k - 1) & (offset_bin <= bin_k + 2))
    hit_track, local = index.locate(frames[near])
    mine = hit_track == track
    return probe[near[mine]], local[mine]


def _verified(
    probes: Hashes, index: HashIndex, candidates: list[tuple[int, np.ndarray]], config: EngineConfig
) -> list[tuple[int, tuple[np.ndarray, np.ndarray]]]:
    """Each (track, warps) candidate's evidence from every probe of those warps, crowded
    hashes included, in its best (warp, offset) cell: one `lookup_in` for all of them.
    Returns (the best warp, its evidence) per candidate."""
    asked = [np.flatnonzero(np.isin(probes.warp, warps)) for _, warps in candidates]
    label = np.repeat(np.arange(len(candidates)), [len(a) for a in asked])
    asking = np.concatenate(asked) if asked else np.empty(0, np.int64)
    tracks = np.array([track for track, _ in candidates], dtype=np.int64)[label]
    hits = index.lookup_in(probes.hash[asking], tracks)
    probe, frames, which = asking[hits.probe], hits.frames, label[hits.probe]
    offset_bin = _offset_bins(frames, probes.t[probe], config)
    warp_of = probes.warp[probe]
    evidence = []
    for c, (track, warps) in enumerate(candidates):
        mine = which == c
        keys, counts, _ = _best_cells(warp_of[mine] * _CELLS_PER_WARP + offset_bin[mine], 1)
        w, bin_k = divmod(int(keys[np.argmax(counts)]), _CELLS_PER_WARP) if len(keys) else (int(warps[0]), 0)
        evidence.append((w, _near(probe, frames, offset_bin, mine & (warp_of == w), bin_k, index, track)))
    return evidence


def _matched_region(anchors: np.ndarray, max_gap: int) -> tuple[float, float]:
    """First and last anchor of the largest run of aligned anchors no more than `max_gap` apart.

    A cell also collects a few chance hits from anywhere in the query; taken as the
    region's ends they would stretch it over music that does not match.
    """
    q = np.sort(anchors)
    breaks = np.nonzero(np.diff(q) > max_gap)[0]
    starts = np.r_[0, breaks + 1]
    ends = np.r_[breaks, len(q) - 1]
    run = int(np.argmax(ends - starts))
    return float(q[starts[run]]), float(q[ends[run]])


def _measured_tempo(q: np.ndarray, r: np.ndarray, hypothesis: float, config: EngineConfig) -> float:
    """The tempo the aligned anchors measure, or `hypothesis` when their span is too short to tell.

    A cell admits hits within about ±6 frames of its offset, so over a short span a few
    edge hits tilt the fitted slope by several per cent (a 2.5 s sample at true speed
    fitted 1.02-1.03), and adopting that turned a correct identity match into an
    apparent speed change that the identity search then refused: short samples were
    lost. Over `_MIN_FIT_SPAN` seconds a 3 % tempo change drifts by a whole offset bin,
    so the slope means something. The fit must also stay within two grid steps: a
    neighbouring hypothesis hashes alike and its cell can win, so a fit lands up to a
    step or so away; a 5 % tempo-only change found by the identity search is thereby
    reported (and sent on to the grid) rather than hidden as 1.0.
    """
    if np.ptp(q) * config.frame_seconds < _MIN_FIT_SPAN:
        return hypothesis
    dq = q - q.mean()
    slope = float(np.dot(dq, r - r.mean()) / np.dot(dq, dq))  # least squares, without LAPACK
    return slope if abs(slope - hypothesis) <= 2 * config.tempo_step else hypothesis


def _refine(
    query_frames: np.ndarray,
    query_ends: np.ndarray,
    ref_frames: np.ndarray,
    index: HashIndex,
    track: int,
    warp_hypothesis: tuple[float, float],
    n_warps: int,
    n_landmarks: int,
) -> Match:
    """Fit tempo and offset to the aligned hits of one cell (query and reference anchor
    frames; `query_ends`: where each hit's landmark ends in the query)."""
    config = index.config
    pitch_shift, tempo = warp_hypothesis
    q = query_frames.astype(np.float64)
    r = ref_frames.astype(np.float64)
    ends = query_ends.astype(np.float64)
    # One vote per query anchor frame: the triplets of one anchor share peaks, so a
    # single chance coincidence of a few peaks would otherwise cast a dozen votes.
    _, unique = np.unique(np.rint(q), return_index=True)
    q_start, last_anchor = _matched_region(q[unique], round(MAX_GAP / config.frame_seconds))
    # the region ends where the evidence does: the last peak of its last anchors' landmarks
    q_end = float(ends[(q >= q_start) & (q <= last_anchor)].max())
    q, r = q[unique], r[unique]
    run = (q >= q_start) & (q <= last_anchor)  # chance hits elsewhere in the cell would tilt the fit
    tempo = _measured_tempo(q[run], r[run], tempo, config)
    intercept = median(r[run] - tempo * q[run])
    seconds = config.frame_seconds
    return Match(
        track_id=index.track_ids[track],
        score=confidence(len(q), n_warps, n_landmarks),
        aligned=len(q),
        query_start=round(q_start * seconds, 3),
        query_end=round(q_end * seconds, 3),
        ref_start=round((tempo * q_start + intercept) * seconds, 3),
        ref_end=round((tempo * q_end + intercept) * seconds, 3),
        speed=round(tempo, 4),
        pitch=round(config.pitch_factor(pitch_shift), 4),
        warps=n_warps,
        landmarks=n_landmarks,
    )
