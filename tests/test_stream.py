"""Long queries in bounded memory: landmarks span by span, windows as the spans arrive."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.signal import resample_poly

from lib.fingerprint.config import DEFAULT
from lib.fingerprint.hashes import Landmarks, landmarks
from lib.fingerprint.peaks import find_peaks, levels
from lib.fingerprint.spectrogram import spectrogram
from lib.fingerprint.stream import landmark_spans
from lib.synth.songs import RATE, song


@pytest.fixture(scope="module")
def samples() -> np.ndarray:
    music = np.concatenate([song(11, 14.0), np.zeros(RATE), song(12, 9.0)])
    return resample_poly(music, DEFAULT.sample_rate, RATE).astype(np.float32)


def chunked(samples: np.ndarray, size: int) -> list[np.ndarray]:
    return [samples[i : i + size] for i in range(0, len(samples), size)]


@pytest.mark.parametrize(("span_seconds", "chunk"), [(2.0, 4000), (3.0, 997), (7.0, 1 << 15), (60.0, 4000)])
def test_spans_give_the_whole_inputs_landmarks(samples: np.ndarray, span_seconds: float, chunk: int) -> None:
    """With the same loudness reference, cutting the input into spans changes nothing."""
    spec = spectrogram(samples)
    level = levels(spec)
    whole = landmarks(find_peaks(spec, DEFAULT.query_peaks_per_second, DEFAULT, level), DEFAULT.query_fanout)
    spans = list(landmark_spans(chunked(samples, chunk), DEFAULT, span_seconds, level))
    assert [s.start for s in spans[1:]] == [s.stop for s in spans[:-1]]  # consecutive
    assert spans[-1].stop == len(samples) // DEFAULT.hop
    assert len({s.stop - s.start for s in spans[:-1]}) <= 1  # equal spans, then what is left
    assert len(spans) > 1 or span_seconds > 25
    streamed = Landmarks.joined([s.marks for s in spans])
    assert len(whole) > 1000
    for name in ("t", "f", "df1", "df2", "dt1", "dt2"):
        np.testing.assert_array_equal(getattr(streamed, name), getattr(whole, name), err_msg=name)


def test_no_samples_no_spans() -> None:
    assert list(landmark_spans([], DEFAULT)) == []
    assert list(landmark_spans([np.zeros(0, np.float32)], DEFAULT)) == []
