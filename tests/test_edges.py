"""Segment edges followed out to where their song is still heard (edges.py)."""

from __future__ import annotations

import numpy as np
import pytest

from lib.fingerprint.config import DEFAULT
from lib.fingerprint.edges import Edges, Spectra, _farthest
from lib.fingerprint.index import Index, TrackPrint
from lib.fingerprint.match import Match
from lib.fingerprint.pipeline import reference_print
from lib.fingerprint.spectrogram import spectrogram
from lib.synth.mixes import speed_changed
from lib.synth.songs import RATE, song
from tests.support.audio import at_engine_rate


@pytest.fixture(scope="module")
def prints() -> dict[str, TrackPrint]:
    return {f"song{i}": reference_print(f"song{i}", at_engine_rate(song(200 + i, 30.0))) for i in range(3)}


@pytest.fixture(scope="module")
def index(prints: dict[str, TrackPrint]) -> Index:
    return Index.build(prints.values())


def _edges(index: Index, samples: np.ndarray, prints: dict[str, TrackPrint]) -> Edges:
    spectra = Spectra(DEFAULT.n_bins)
    spectra.add(spectrogram(samples))
    return Edges(index, spectra, DEFAULT, prints.get)


def _segment(start: float, end: float, ref_at_start: float, speed: float = 1.0) -> Match:
    """song1 heard from `start` to `end` of the query, `ref_at_start` being its time at `start`."""
    return Match(
        track_id="song1", score=90.0, aligned=40, query_start=start, query_end=end, ref_start=ref_at_start,
        ref_end=ref_at_start + speed * (end - start), speed=speed, pitch=speed,
    )  # fmt: skip


@pytest.mark.parametrize("speed", [1.0, 1.03])
def test_edges_move_out_to_where_the_song_is_heard(index: Index, prints: dict[str, TrackPrint], speed: float) -> None:
    """A segment found late and left early (as windows find it under other music) is
    followed out to the song's real start and end, its reference times along with it."""
    excerpt = speed_changed(song(201, 30.0)[5 * RATE : 25 * RATE], speed)
    stranger = song(300, 6.0)  # not in the index
    query = at_engine_rate(np.concatenate([stranger, excerpt, stranger]))
    start, end = 6.0, 6.0 + len(excerpt) / RATE  # where song1 is heard
    edges = _edges(index, query, prints)

    found = edges.end(edges.start(_segment(9.0, end - 3.0, 5.0 + 3.0 * speed, speed)))

    assert start - 0.1 <= found.query_start <= start + 0.5
    assert end - 0.5 <= found.query_end <= end + 0.1
    assert found.ref_start == pytest.approx(5.0 + speed * (found.query_start - start), abs=0.05)
    assert found.ref_end == pytest.approx(5.0 + speed * (found.query_end - start), abs=0.05)


@pytest.mark.parametrize("speed", [1.0, 1.03])
def test_a_cross_fade_is_found_from_its_far_end(index: Index, prints: dict[str, TrackPrint], speed: float) -> None:
    """song1 fades in over 3 s under a stranger and out under another: each edge within a
    second of the fade's far end (where song1's level is nil), and not past it."""
    fade = 3 * RATE
    excerpt = speed_changed(song(201, 30.0)[5 * RATE : 25 * RATE], speed)
    before, after = song(300, 9.0), song(301, 9.0)  # not in the index
    ramp = np.linspace(0.0, 1.0, fade, dtype=np.float32)
    query = np.concatenate([
        before[:-fade], before[-fade:] * (1 - ramp) + excerpt[:fade] * ramp, excerpt[fade:-fade],
        excerpt[-fade:] * (1 - ramp) + after[:fade] * ramp, after[fade:],
    ])  # fmt: skip
    start = (len(before) - fade) / RATE
    end = start + len(excerpt) / RATE
    edges = _edges(index, at_engine_rate(query), prints)

    found = edges.end(edges.start(_segment(start + 4.0, end - 4.0, 5.0 + 4.0 * speed, speed)))

    assert start - 0.25 <= found.query_start <= start + 1.0
    assert end - 1.0 <= found.query_end <= end + 0.25


def test_an_edge_within_a_second_of_the_inputs_start_stays(index: Index, prints: dict[str, TrackPrint]) -> None:
    edges = _edges(index, at_engine_rate(song(201, 30.0)[5 * RATE : 25 * RATE]), prints)
    early = _segment(0.6, 10.0, 5.6)
    assert edges.start(early) == early


def test_an_edge_follows_aligned_hits_unless_chance_could_bridge_a_gap() -> None:
    """`_farthest`: steps of at most a gap through aligned hits; none where the hits off
    the alignment say that chance alone would put one on it within a gap."""
    gap, reach = 31, 187
    beyond = np.array([-5, 10, 30, 55, 80, 150, 170])  # 80 -> 150 is more than a gap
    aligned = np.ones(len(beyond), bool)
    assert _farthest(beyond, aligned, gap, reach) == 80
    noise = np.arange(1, reach, 2)  # a chance hit every other frame, off the alignment
    crowded = np.r_[beyond, noise]
    assert _farthest(crowded, np.r_[aligned, np.zeros(len(noise), bool)], gap, reach) == 0
    assert _farthest(np.array([40]), np.array([True]), gap, reach) == 0  # nothing within a gap


def test_the_spectra_hold_only_the_frames_kept() -> None:
    spectra = Spectra(DEFAULT.n_bins)
    rows = np.arange(50 * DEFAULT.n_bins, dtype=np.float32).reshape(50, DEFAULT.n_bins)
    spectra.add(rows[:30])
    spectra.add(rows[30:])
    spectra.forget_before(20)
    first, held = spectra.between(10, 25)
    assert (first, spectra.first, spectra.stop) == (20, 20, 50)
    np.testing.assert_array_equal(held, rows[20:25])
    assert len(spectra.between(60, 70)[1]) == 0
