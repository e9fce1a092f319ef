"""Weak candidates verified peak by peak (verify.py): the track's own peaks at the
candidate's alignment are heard, the same peaks elsewhere or another track's are not."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.signal import resample_poly

from lib.fingerprint.config import DEFAULT
from lib.fingerprint.index import Index, TrackPrint
from lib.fingerprint.match import Match, staged
from lib.fingerprint.peaks import find_peaks
from lib.fingerprint.pipeline import identify, query_landmarks, reference_print
from lib.fingerprint.spectrogram import spectrogram
from lib.fingerprint.verify import anchor_peaks, verified
from lib.synth.songs import RATE, song

SR = DEFAULT.sample_rate
START = 9.0  # seconds into song0 the query is cut from


@pytest.fixture(scope="module")
def prints() -> dict[str, TrackPrint]:
    tracks = {f"song{i}": resample_poly(song(200 + i, 24.0), SR, RATE).astype(np.float32) for i in range(3)}
    return {name: reference_print(name, samples) for name, samples in tracks.items()}


def _noisy_clip(seconds: float, snr_db: float) -> np.ndarray:
    clean = resample_poly(song(200, 24.0), SR, RATE).astype(np.float32)[int(START * SR) : int((START + seconds) * SR)]
    noise = np.random.default_rng(7).standard_normal(len(clean)).astype(np.float32)
    noise *= np.sqrt(np.mean(clean**2) / np.mean(noise**2)) * 10 ** (-snr_db / 20)
    return clean + noise


def _candidate(track_id: str, ref_start: float, aligned: int = 3) -> Match:
    """A rejected candidate as the stages would report it: under the bar, at an alignment."""
    return Match(track_id, 30.0, aligned, 0.0, 2.0, ref_start, ref_start + 2.0, 1.0, 1.0, 1, 500)


def _verify(clip: np.ndarray, candidates: list[Match], prints: dict[str, TrackPrint]) -> list[Match]:
    spec = spectrogram(clip)
    peaks = find_peaks(spec, DEFAULT.query_peaks_per_second)
    return verified(candidates, peaks, len(spec), prints.get, DEFAULT)


def test_anchor_peaks_are_the_reference_peaks(prints: dict[str, TrackPrint]) -> None:
    t, f = anchor_peaks(prints["song0"], DEFAULT)
    assert len(t) == len(set(zip(t.tolist(), f.tolist(), strict=True)))
    assert np.all((f >= 0) & (f < DEFAULT.n_bins))
    seconds = prints["song0"].n_frames * DEFAULT.frame_seconds
    assert 8 < len(t) / seconds <= DEFAULT.ref_peaks_per_second + 0.5


def test_the_track_at_its_alignment_is_verified(prints: dict[str, TrackPrint]) -> None:
    found = _verify(_noisy_clip(3.0, 15.0), [_candidate("song0", START)], prints)
    assert [m.track_id for m in found] == ["song0"]
    assert found[0].score >= DEFAULT.min_score
    assert found[0].ref_start == START  # the candidate's alignment, only rescored


@pytest.mark.parametrize("ref_start", [START - 4.0, START + 5.0])
def test_the_track_elsewhere_is_not(prints: dict[str, TrackPrint], ref_start: float) -> None:
    assert _verify(_noisy_clip(3.0, 15.0), [_candidate("song0", ref_start)], prints) == []


def test_another_track_is_not(prints: dict[str, TrackPrint]) -> None:
    candidates = [_candidate("song1", START), _candidate("song2", 3.0)]
    assert _verify(_noisy_clip(3.0, 15.0), candidates, prints) == []


def test_its_own_anchors_are_not_counted_twice(prints: dict[str, TrackPrint]) -> None:
    """A candidate made of many aligned anchors has those taken out of the evidence."""
    clip = _noisy_clip(3.0, 15.0)
    weak = _verify(clip, [_candidate("song0", START, aligned=3)], prints)
    strong = _verify(clip, [_candidate("song0", START, aligned=12)], prints)
    assert weak and (not strong or strong[0].score < weak[0].score)


def test_a_removed_track_is_skipped(prints: dict[str, TrackPrint]) -> None:
    assert _verify(_noisy_clip(3.0, 15.0), [_candidate("gone", START)], prints) == []


def test_a_clip_the_landmarks_miss_is_found_by_its_peaks(prints: dict[str, TrackPrint]) -> None:
    """2 s under noise: too few landmarks survive for the score, but the best rejected
    candidate is the right track at its alignment, and its peaks are heard."""
    index = Index.build(prints.values())
    clip = _noisy_clip(2.0, 15.0)
    found, rejected = staged(query_landmarks(clip), index)
    assert found == [] and rejected and rejected[0].track_id == "song0"
    assert all(m.score < DEFAULT.min_score for m in rejected)
    assert identify(clip, index) == []  # no prints to read: the landmarks' answer alone
    verified_ = identify(clip, index, prints=prints.get)
    assert [m.track_id for m in verified_] == ["song0"]
    assert verified_[0].ref_start - verified_[0].query_start == pytest.approx(START, abs=2 * DEFAULT.frame_seconds)
