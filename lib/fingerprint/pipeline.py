"""The engine read top to bottom: samples → spectrogram → peaks → landmarks → hashes / matches."""

from __future__ import annotations

from collections.abc import Callable, Iterable

import numpy as np

from lib.fingerprint.config import DEFAULT, EngineConfig
from lib.fingerprint.hashes import Landmarks, landmarks, warp
from lib.fingerprint.index import HashIndex, TrackPrint
from lib.fingerprint.match import Match, staged
from lib.fingerprint.peaks import find_peaks
from lib.fingerprint.segments import scan
from lib.fingerprint.spectrogram import spectrogram
from lib.fingerprint.stream import landmark_spans
from lib.fingerprint.verify import verified


def reference_print(track_id: str, samples: np.ndarray, config: EngineConfig = DEFAULT) -> TrackPrint:
    """The sparse fingerprint stored for a catalog track (each (hash, time) once)."""
    spec = spectrogram(samples, config)
    marks = landmarks(find_peaks(spec, config.ref_peaks_per_second, config), config.ref_fanout, config)
    hashes = warp(marks, config)
    packed = np.unique((hashes.hash.astype(np.uint64) << np.uint64(32)) | hashes.t.astype(np.uint64))
    return TrackPrint(
        track_id=track_id,
        hashes=(packed >> np.uint64(32)).astype(np.uint32),
        times=(packed & np.uint64(0xFFFFFFFF)).astype(np.uint32),
        n_frames=len(spec),
    )


def query_landmarks(samples: np.ndarray, config: EngineConfig = DEFAULT) -> Landmarks:
    """The dense landmarks of a query: more peaks and pairs than a reference keeps."""
    spec = spectrogram(samples, config)
    return landmarks(find_peaks(spec, config.query_peaks_per_second, config), config.query_fanout, config)


def identify(
    samples: np.ndarray,
    index: HashIndex,
    config: EngineConfig = DEFAULT,
    limit: int = 5,
    prints: Callable[[str], TrackPrint | None] | None = None,
) -> list[Match]:
    """The tracks heard in a clip, best first. With `prints` (a track's stored
    fingerprint), a clip the landmarks leave unanswered has its best rejected
    candidates verified peak by peak (verify.py)."""
    spec = spectrogram(samples, config)
    peaks = find_peaks(spec, config.query_peaks_per_second, config)
    found, rejected = staged(landmarks(peaks, config.query_fanout, config), index, config, limit)
    if found or prints is None:
        return found
    return verified(rejected, peaks, len(spec), prints, config)[:limit]


def segments(
    chunks: Iterable[np.ndarray],
    index: HashIndex,
    prints: Callable[[str], TrackPrint | None],
    config: EngineConfig = DEFAULT,
    window: float = 10.0,
    hop: float = 5.0,
) -> list[Match]:
    """Every catalog segment in a query of any length, given as consecutive sample
    chunks, in query order, in bounded memory (see stream.py and segments.py); `prints`
    gives a track's stored fingerprint (its segments' edges are looked for with it)."""
    return scan(landmark_spans(chunks, config), index, prints, config, window, hop)
