"""Peaks → landmark hashes with their times.

A landmark is an anchor peak with two later peaks (a triplet, as in Panako and Olaf).
Pairs (Wang 2003) proved too unspecific for music: notes sit on a semitone grid and
intervals are mostly unisons, octaves and fifths, so a 20-bit pair hash carried only
15 bits of entropy and matched 45 reference entries per look-up (docs/engine.md).
Its 31-bit hash packs, most significant first:

    anchor bin (f_bits) | bin difference to target 1, to target 2 (df_bits each)
    | time ratio dt1/dt2 (ratio_bits) | time span dt2 on a log scale (span_bits)

Frequency differences on the log axis are the same at any pitch, and the time ratio
is the same at any tempo, so only the anchor bin and the span move when a query is
pitched or stretched; `warp` undoes a hypothesised (pitch shift, tempo factor) on the
query's landmarks before quantising, so the reference is stored once, unwarped. The
span's log bins are wide enough that a few tempo hypotheses cover ±6 %.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import combinations

import numpy as np

from lib.fingerprint.config import DEFAULT, EngineConfig
from lib.fingerprint.peaks import Peaks


@dataclass(frozen=True)
class Landmarks:
    """Anchor/target triplets, unquantised."""

    t: np.ndarray  # int32 anchor frame
    f: np.ndarray  # float32 anchor log bin
    df1: np.ndarray  # float32 bin of target 1 minus anchor bin
    df2: np.ndarray  # float32 bin of target 2 minus anchor bin
    dt1: np.ndarray  # int32 frames from anchor to target 1 (dt1 <= dt2)
    dt2: np.ndarray  # int32 frames from anchor to target 2

    def __len__(self) -> int:
        return len(self.t)

    def window(self, start: int, stop: int, clock: int | None = None) -> Landmarks:
        """The landmarks anchored in frames [start, stop), on a clock starting at `clock`
        (default `start`: the window's own)."""
        lo, hi = np.searchsorted(self.t, [start, stop])  # anchors are in time order
        return Landmarks(
            t=self.t[lo:hi] - (start if clock is None else clock), f=self.f[lo:hi], df1=self.df1[lo:hi],
            df2=self.df2[lo:hi], dt1=self.dt1[lo:hi], dt2=self.dt2[lo:hi],
        )  # fmt: skip

    @staticmethod
    def empty() -> Landmarks:
        ints, floats = np.empty(0, np.int32), np.empty(0, np.float32)
        return Landmarks(ints, floats, floats, floats, ints, ints)

    @staticmethod
    def joined(parts: list[Landmarks]) -> Landmarks:
        """Consecutive parts (each later than the one before) as one."""
        fields = ("t", "f", "df1", "df2", "dt1", "dt2")
        return Landmarks(*(np.concatenate([getattr(p, name) for p in parts]) for name in fields))


@dataclass(frozen=True)
class Grid:
    """Warp hypotheses, each a (pitch shift in log bins, tempo factor) point.

    Not always a rectangle: a speed change moves pitch and tempo together (a "sped up"
    edit at 1.25 is +7.7 bins at tempo 1.25), so the wide search walks that line and the
    pitch-only line instead of filling the whole rectangle between them (match.py).
    `pitch_step` and `tempo_step` say how far apart two hypotheses may be and still be
    neighbours (one step on each axis).
    """

    pitches: tuple[float, ...]
    tempos: tuple[float, ...]
    pitch_step: float = 0.5
    tempo_step: float = 0.03

    @staticmethod
    def product(
        pitches: Sequence[float], tempos: Sequence[float], pitch_step: float = 0.5, tempo_step: float = 0.03
    ) -> Grid:
        """Every pitch with every tempo, pitch-major."""
        return Grid(
            tuple(p for p in pitches for _ in tempos), tuple(t for _ in pitches for t in tempos), pitch_step, tempo_step
        )

    def __len__(self) -> int:
        return len(self.pitches)

    def __getitem__(self, i: int) -> tuple[float, float]:
        return self.pitches[i], self.tempos[i]

    def __add__(self, other: Grid) -> Grid:
        return Grid(self.pitches + other.pitches, self.tempos + other.tempos, self.pitch_step, self.tempo_step)

    def _steps_apart(self) -> np.ndarray:
        """(n, n) distance between hypotheses in steps: the larger of the two axes'."""
        p = np.asarray(self.pitches) / self.pitch_step
        t = np.log(np.asarray(self.tempos)) / math.log1p(self.tempo_step)
        return np.maximum(np.abs(p[:, None] - p[None, :]), np.abs(t[:, None] - t[None, :]))

    def seeds(self) -> list[tuple[int, np.ndarray]]:
        """Hypotheses that, with their neighbours (within one step on both axes), cover
        the grid: each hypothesis not yet covered, in order, becomes a seed. On a
        rectangle in pitch-major order that is every other hypothesis on each axis, both
        ends included.

        Neighbouring hypotheses quantise most landmarks alike (a half-bin pitch step
        moves half the anchor bins, a 3 % tempo step a third of the spans), so the
        seeds alone find a match's cell with a third of the look-ups, and its
        neighbourhood then measures it at the grid's full resolution (match.py).
        """
        near = self._steps_apart() <= 1.25  # tempo grids are linear: 0.94 -> 0.97 is 1.06 log steps
        covered = np.zeros(len(self), bool)
        seeds = []
        for i in range(len(self)):
            if not covered[i]:
                seeds.append((i, np.flatnonzero(near[i])))
                covered |= near[i]
        return seeds

    def without(self, other: Grid) -> Grid:
        """The hypotheses of this grid farther than half a step from every one of `other`."""
        both = self + other
        apart = both._steps_apart()[: len(self), len(self) :]
        keep = [i for i in range(len(self)) if len(other) == 0 or apart[i].min() > 0.5]
        pitches, tempos = tuple(self.pitches[i] for i in keep), tuple(self.tempos[i] for i in keep)
        return Grid(pitches, tempos, self.pitch_step, self.tempo_step)


IDENTITY = Grid((0.0,), (1.0,))


@dataclass(frozen=True)
class Hashes:
    hash: np.ndarray  # uint32
    t: np.ndarray  # float32 anchor frame, in reference time for warped queries
    landmark: np.ndarray  # int64 index of the hashed landmark
    warp: np.ndarray  # int64 index of the hypothesis in the grid


def _targets(peaks: Peaks, fanout: int, config: EngineConfig) -> np.ndarray:
    """(peaks, fanout) matrix of each anchor's targets in time order, -1 where fewer.

    The targets are the `fanout` *strongest* peaks of the zone, not the nearest: the
    query keeps more peaks than the reference, and its extra weak peaks must not push
    the strong ones both sides share out of the selection.
    """
    n = len(peaks)
    df_max = 2 ** (config.df_bits - 1) - 1
    chosen = np.full((n, fanout), -1, dtype=np.int64)
    # how many later peaks can fall inside the zone's time span
    reach = int(np.max(np.searchsorted(peaks.t, peaks.t + config.dt_max, side="right") - np.arange(n), initial=1))
    reach = min(reach, n - 1)
    if reach <= 0:
        return chosen
    anchor = np.arange(n)[:, None]
    target = np.minimum(anchor + np.arange(1, reach + 1)[None, :], n - 1)
    dt = peaks.t[target] - peaks.t[anchor]
    df = peaks.f[target] - peaks.f[anchor]
    valid = (target > anchor) & (dt >= config.dt_min) & (dt <= config.dt_max) & (np.abs(df) <= df_max)
    strength = np.where(valid, peaks.strength[target], -np.inf)
    top = np.argsort(-strength, axis=1, kind="stable")[:, :fanout]
    top_valid = np.take_along_axis(valid, top, axis=1)
    picked = np.where(top_valid, np.take_along_axis(target, top, axis=1), np.iinfo(np.int64).max)
    picked.sort(axis=1)  # time order; missing ones sort last
    width = picked.shape[1]
    chosen[:, :width] = np.where(picked == np.iinfo(np.int64).max, -1, picked)
    return chosen


def landmarks(peaks: Peaks, fanout: int, config: EngineConfig = DEFAULT) -> Landmarks:
    """Every anchor with each pair of its `fanout` strongest targets in the target zone."""
    chosen = _targets(peaks, fanout, config)
    anchors, firsts, seconds = [], [], []
    for u, v in combinations(range(fanout), 2):
        ok = chosen[:, v] >= 0  # targets fill left to right, so v present implies u present
        # Two targets on one frequency are one sustained tone: any two pieces in the same
        # key share such triplets, and they made most chance alignments (docs/engine.md).
        ok &= np.abs(np.rint(peaks.f[chosen[:, u]]) - np.rint(peaks.f[chosen[:, v]])) >= 1
        anchors.append(np.nonzero(ok)[0])
        firsts.append(chosen[ok, u])
        seconds.append(chosen[ok, v])
    a = np.concatenate(anchors) if anchors else np.empty(0, np.int64)
    b = np.concatenate(firsts) if firsts else np.empty(0, np.int64)
    c = np.concatenate(seconds) if seconds else np.empty(0, np.int64)
    order = np.argsort(a, kind="stable")
    a, b, c = a[order], b[order], c[order]
    return Landmarks(
        t=peaks.t[a],
        f=peaks.f[a],
        df1=peaks.f[b] - peaks.f[a],
        df2=peaks.f[c] - peaks.f[a],
        dt1=peaks.t[b] - peaks.t[a],
        dt2=peaks.t[c] - peaks.t[a],
    )


def warp(marks: Landmarks, config: EngineConfig = DEFAULT, grid: Grid = IDENTITY) -> Hashes:
    """Quantise landmarks as if the query were shifted by -pitch bins and stretched by tempo,
    for every (pitch, tempo) of `grid`.

    A tempo maps query time to reference time (a query played 5 % fast needs 1.05).
    Only the anchor bin depends on the pitch and only the span on the tempo, so the
    other fields are quantised once and the grid is one broadcast (a loop over the 45
    hypotheses was a seventh of a query). Landmarks whose anchor leaves the frequency
    axis after the shift are dropped.
    """
    half = 2 ** (config.df_bits - 1)
    pitches, pitch_of = np.unique(np.asarray(grid.pitches), return_inverse=True)
    tempos, tempo_of = np.unique(np.asarray(grid.tempos), return_inverse=True)
    f = np.rint(marks.f - pitches[:, None]).astype(np.int64)[pitch_of]  # (hypotheses, landmarks)
    df1 = np.rint(marks.df1).astype(np.int64) + half
    df2 = np.rint(marks.df2).astype(np.int64) + half
    ratio = np.rint(marks.dt1 / marks.dt2 * (2**config.ratio_bits - 1)).astype(np.int64)
    span = np.rint(np.log(marks.dt2 * tempos[:, None]) / math.log1p(config.span_step)).astype(np.int64)
    span = np.clip(span - config.span_origin, 0, 2**config.span_bits - 1)[tempo_of]
    middle = (((df1 << config.df_bits) | df2) << config.ratio_bits | ratio) << config.span_bits
    code = (f << (config.hash_bits - config.f_bits)) | middle | span
    ok = (f >= 0) & (f < 2**config.f_bits)
    return Hashes(
        hash=code[ok].astype(np.uint32),
        t=(marks.t * tempos[tempo_of][:, None]).astype(np.float32)[ok],
        landmark=np.broadcast_to(np.arange(len(marks)), ok.shape)[ok],
        warp=np.broadcast_to(np.arange(len(grid))[:, None], ok.shape)[ok],
    )


def unhashed(codes: np.ndarray, config: EngineConfig = DEFAULT) -> Landmarks:
    """The landmarks stored codes stand for, as `warp` quantised them unwarped: the anchor
    bin and both bin differences exact to a bin, the span to its log step (±5 %), dt1 to
    the time ratio's step. Anchor frames are not in a code (`t` is zero): a print keeps
    them beside it. Lets a track's own constellation be looked for in a query (presence.py)."""
    c = codes.astype(np.int64)
    half = 2 ** (config.df_bits - 1)

    def field(shift: int, bits: int) -> np.ndarray:
        return (c >> shift) & (2**bits - 1)

    span_shift = 0
    ratio_shift = span_shift + config.span_bits
    df2_shift = ratio_shift + config.ratio_bits
    df1_shift = df2_shift + config.df_bits
    f_shift = df1_shift + config.df_bits
    dt2 = np.exp((field(span_shift, config.span_bits) + config.span_origin) * math.log1p(config.span_step))
    ratio = field(ratio_shift, config.ratio_bits) / (2**config.ratio_bits - 1)
    return Landmarks(
        t=np.zeros(len(c), np.int32),
        f=field(f_shift, config.f_bits).astype(np.float32),
        df1=(field(df1_shift, config.df_bits) - half).astype(np.float32),
        df2=(field(df2_shift, config.df_bits) - half).astype(np.float32),
        dt1=np.rint(ratio * dt2).astype(np.int32),
        dt2=np.rint(dt2).astype(np.int32),
    )
