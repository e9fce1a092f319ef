"""A track's stored constellation looked for in a query (presence.py, hashes.unhashed)."""

from __future__ import annotations

import numpy as np
import pytest

from lib.fingerprint.config import DEFAULT
from lib.fingerprint.edges import Spectra
from lib.fingerprint.hashes import landmarks, unhashed, warp
from lib.fingerprint.match import Match
from lib.fingerprint.peaks import find_peaks
from lib.fingerprint.pipeline import reference_print
from lib.fingerprint.presence import Constellation, farther
from lib.fingerprint.spectrogram import spectrogram
from lib.synth.songs import RATE, song
from tests.support.audio import at_engine_rate

FS = DEFAULT.frame_seconds


def test_unhashed_gives_back_what_warp_quantised() -> None:
    spec = spectrogram(at_engine_rate(song(7, 12.0)))
    marks = landmarks(find_peaks(spec, DEFAULT.ref_peaks_per_second), DEFAULT.ref_fanout)
    back = unhashed(warp(marks).hash)
    assert len(back) == len(marks) > 100
    np.testing.assert_array_equal(back.f, np.rint(marks.f))
    assert np.all(np.abs(back.df1 - marks.df1) <= 0.5 + 1e-6) and np.all(np.abs(back.df2 - marks.df2) <= 0.5 + 1e-6)
    # the span is kept on a log scale of 10 % steps, dt1 as a 4-bit share of it
    assert np.all(np.abs(back.dt2 - marks.dt2) <= 0.05 * marks.dt2 + 0.5)
    assert np.all(np.abs(back.dt1 - marks.dt1) <= marks.dt2 / 30 + 0.05 * marks.dt2 + 1)


@pytest.fixture(scope="module")
def stars() -> Constellation:
    return Constellation.of(reference_print("song1", at_engine_rate(song(201, 30.0))), DEFAULT)


def _frames(samples: np.ndarray) -> Spectra:
    spectra = Spectra(DEFAULT.n_bins)
    spectra.add(spectrogram(at_engine_rate(samples)))
    return spectra


def _segment(start: float, ref_at_start: float) -> Match:
    return Match(
        track_id="song1", score=90.0, aligned=40, query_start=start, query_end=start + 5.0,
        ref_start=ref_at_start, ref_end=ref_at_start + 5.0, speed=1.0, pitch=1.0,
    )  # fmt: skip


def _start(stars: Constellation, query: np.ndarray, edge: float, ref_at_edge: float) -> float:
    """Where the track's constellation says it starts, looking back 6 s from `edge`."""
    frame = round(edge / FS)
    spectra = _frames(query)
    moved = farther(stars, _segment(edge, ref_at_edge), spectra.between, frame, -1, round(6.0 / FS), 31, DEFAULT)
    return (frame - moved) * FS


def test_the_constellation_is_heard_up_a_fade_in_and_not_in_loud_noise(stars: Constellation) -> None:
    """song1 (from its 5th second) fades in over 3 s under another song: heard from at
    least 2 s before the window's edge (4 s into it), never before the fade begins.
    After white noise as loud as the song, where chance placements are as common as the
    song's own: from the song's first moment, not before. (Through the whole of edges.py,
    the fade is found within a second: test_edges.py.)"""
    excerpt = song(201, 30.0)[5 * RATE : 25 * RATE]
    other = song(300, 9.0)
    fade = 3 * RATE
    ramp = np.linspace(0.0, 1.0, fade, dtype=np.float32)
    faded = np.concatenate([other[:-fade], other[-fade:] * (1 - ramp) + excerpt[:fade] * ramp, excerpt[fade:]])
    start = (len(other) - fade) / RATE  # the fade's far end: song1 is nil there
    assert start <= _start(stars, faded, start + 4.0, 9.0) <= start + 2.0

    noise = np.random.default_rng(5).normal(0, np.sqrt(np.mean(excerpt**2)), 6 * RATE).astype(np.float32)
    assert 6.0 - 0.1 <= _start(stars, np.concatenate([noise, excerpt]), 9.0, 8.0) <= 6.25
