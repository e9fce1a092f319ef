"""A query's landmarks from a stream of samples, span by span, in bounded memory.

An hour-long mix must not be held whole (an hour at 8 kHz is 115 MB of samples and
several times that in spectrogram and landmarks). Samples are cut into spans of about
a minute; each span is analysed with `_MARGIN` frames of context on both sides, and
keeps only the landmarks anchored inside it. The margin covers the peak neighbourhood
and the target zone, and spans start on whole "seconds" of peak picking (`_SECOND`
frames), so a span's landmarks are the ones the whole input would give, provided the
loudness reference is the same (`tests/test_stream.py` checks exactly that).

The loudness reference (the silence gate and the noise floor, peaks.Levels) is each
span's own: over an hour the level of a mix moves, and the songs in it should be
picked relative to their own loudness, not the loudest moment of the hour.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np

from lib.fingerprint.config import DEFAULT, EngineConfig
from lib.fingerprint.hashes import Landmarks, landmarks
from lib.fingerprint.peaks import Levels, Peaks, find_peaks
from lib.fingerprint.spectrogram import spectrogram


@dataclass(frozen=True)
class Span:
    marks: Landmarks  # anchored in [start, stop), on the whole input's clock
    start: int  # frames
    stop: int
    spec: np.ndarray  # the spectrogram's frames [start, stop): segment edges are refined on them (edges.py)
    peaks: Peaks  # picked in [start, stop), on the whole input's clock: a short query's are verified (verify.py)


def _second(config: EngineConfig) -> int:
    """Frames per "second" of peak picking (find_peaks' blocks)."""
    return max(1, round(1.0 / config.frame_seconds))


def _margin(config: EngineConfig) -> int:
    """Context frames around a span, in whole seconds of peak picking.

    A span's last targets lie up to `dt_max` frames past it, and the second they fall
    in must be complete and clear of the piece's cut edge (where no maximum can be
    told), or a different peak would win that second's selection than in the whole.
    """
    second = _second(config)
    return (-(-(config.dt_max + config.peak_time_radius) // second) + 1) * second


def landmark_spans(
    chunks: Iterable[np.ndarray], config: EngineConfig = DEFAULT, span_seconds: float = 60.0,
    level: Levels | None = None,
) -> Iterator[Span]:  # fmt: skip
    """The query landmarks of the samples in `chunks`, one span at a time, in time order.

    The last span ends at the input's last whole frame (`samples // hop`). `level`
    fixes the loudness reference for every span (tests); by default each span has its own.
    """
    hop, second, margin = config.hop, _second(config), _margin(config)
    size = max(1, round(span_seconds / config.frame_seconds / second)) * second
    buffer = np.zeros(0, np.float32)
    origin = 0  # input frame of buffer[0]
    start = 0  # next span's first frame
    total = 0  # samples seen

    def analyse(stop: int, last: bool) -> Span:
        # frames [start - margin, stop + margin) of the input, as far as they exist
        lo = max(start - margin, 0)
        hi = stop if last else stop + margin
        piece = buffer[(lo - origin) * hop : (hi - origin - 1) * hop + config.n_fft]
        spec = spectrogram(piece, config)[: hi - lo]
        peaks = find_peaks(spec, config.query_peaks_per_second, config, level)
        marks = landmarks(peaks, config.query_fanout, config)
        return Span(
            marks.window(start - lo, stop - lo, clock=-lo), start, stop, spec[start - lo : stop - lo],
            peaks.window(start - lo, stop - lo, clock=-lo),
        )  # fmt: skip

    for chunk in chunks:
        buffer = np.concatenate([buffer, chunk.astype(np.float32, copy=False)])
        total += len(chunk)
        # a span is ready once its right margin (and that margin's last frame) is decoded
        while (start + size + margin - 1 - origin) * hop + config.n_fft <= len(buffer):
            yield analyse(start + size, last=False)
            start += size
            keep_from = max(start - margin, 0)
            buffer, origin = buffer[(keep_from - origin) * hop :], keep_from
    n_frames = total // hop
    if n_frames > start:
        yield analyse(n_frames, last=True)
