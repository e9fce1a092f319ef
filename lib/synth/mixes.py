"""DJ-style mixes with a known answer: for the long-media tests and benchmark.

A mix is a sequence of pieces (an excerpt of a song, maybe sped up or slowed down, or
silence); a piece may cross-fade over the end of the one before, so for a few seconds
two songs play at once, as in a real DJ set. `layout` says where each piece lies in the
mix (the truth a scan is checked against) and `render` produces the audio block by
block, so an hour-long mix is never held in memory.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from itertools import pairwise

import numpy as np


@dataclass(frozen=True)
class Piece:
    samples: np.ndarray  # mono float32 at the mix's rate, already sped up or down
    track_id: str | None = None  # None: not catalog music (an unknown song, silence)
    ref_start: float = 0.0  # seconds into the track where the excerpt starts
    speed: float = 1.0
    fade_in: float = 0.0  # seconds of cross-fade over the end of the previous piece


@dataclass(frozen=True)
class Placed:
    """Where a catalog piece lies in the mix, fades included."""

    track_id: str
    start: float
    end: float
    ref_start: float
    speed: float
    fade_in: float  # seconds at the start shared with the previous piece
    fade_out: float  # seconds at the end shared with the next piece


def speed_changed(samples: np.ndarray, speed: float) -> np.ndarray:
    """Played `speed` times as fast (tempo and pitch together, like a turntable's pitch fader)."""
    positions = np.arange(0.0, len(samples) - 1, speed)
    return np.interp(positions, np.arange(len(samples)), samples).astype(np.float32)


def _starts(pieces: Sequence[Piece], rate: int) -> list[int]:
    starts, at = [], 0
    for piece in pieces:
        at -= round(piece.fade_in * rate)
        starts.append(at)
        at += len(piece.samples)
    return starts


def layout(pieces: Sequence[Piece], rate: int) -> list[Placed]:
    fade_outs = [p.fade_in for p in pieces[1:]] + [0.0]
    return [
        Placed(p.track_id, start / rate, (start + len(p.samples)) / rate, p.ref_start, p.speed, p.fade_in, fade_out)
        for p, start, fade_out in zip(pieces, _starts(pieces, rate), fade_outs, strict=True)
        if p.track_id is not None
    ]


def render(pieces: Sequence[Piece], rate: int) -> Iterator[np.ndarray]:
    """The mix, one piece at a time: each block is a piece less what the next fades over."""
    carry = np.zeros(0, np.float32)  # the end of the previous piece, still to be faded over
    for piece, following in zip(pieces, [*pieces[1:], None], strict=True):
        audio = piece.samples.astype(np.float32, copy=True)
        overlap = round(piece.fade_in * rate)
        if overlap:
            ramp = np.linspace(0.0, 1.0, overlap, dtype=np.float32)
            audio[:overlap] = audio[:overlap] * ramp + carry * (1.0 - ramp)
        keep = round(following.fade_in * rate) if following is not None else 0
        yield audio[: len(audio) - keep]
        carry = audio[len(audio) - keep :]


def silence(seconds: float, rate: int) -> Piece:
    return Piece(np.zeros(round(seconds * rate), np.float32))


def sequence(pieces: Iterable[Piece]) -> list[Piece]:
    """The pieces, checked: a fade may not be longer than either piece it joins."""
    pieces = list(pieces)
    if pieces and pieces[0].fade_in:
        raise ValueError("the first piece has nothing to fade over")
    for before, piece in pairwise(pieces):
        if piece.fade_in * 2 > min(len(before.samples), len(piece.samples)):
            raise ValueError("a cross-fade longer than half a piece")
    return pieces
