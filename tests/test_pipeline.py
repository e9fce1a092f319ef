"""Each engine stage on generated signals, then the matcher end to end."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from scipy.signal import resample_poly

from lib.fingerprint.config import DEFAULT
from lib.fingerprint.hashes import Grid, landmarks, warp
from lib.fingerprint.index import Index, TrackPrint
from lib.fingerprint.match import _CELLS_PER_WARP, _best_cells, _candidates, find_matches, full_grid, wide_grid
from lib.fingerprint.peaks import find_peaks
from lib.fingerprint.pipeline import identify, query_landmarks, reference_print
from lib.fingerprint.score import confidence, threshold
from lib.fingerprint.spectrogram import spectrogram
from lib.synth.songs import song

SR = DEFAULT.sample_rate
FRAME = DEFAULT.frame_seconds


def _tone(freq: float, seconds: float = 2.0) -> np.ndarray:
    t = np.arange(int(seconds * SR)) / SR
    return np.sin(2 * np.pi * freq * t).astype(np.float32)


def test_spectrogram_places_a_tone_on_its_log_bin() -> None:
    freq = DEFAULT.f_min * 2 ** (40 / DEFAULT.bins_per_octave)  # exactly bin 40
    spec = spectrogram(_tone(freq))
    assert spec.shape[1] == DEFAULT.n_bins
    assert abs(int(np.median(spec.argmax(axis=1))) - 40) <= 1


def test_pitch_shift_is_a_vertical_translation() -> None:
    base = find_peaks(spectrogram(_tone(700.0)), 5)
    shifted = find_peaks(spectrogram(_tone(700.0 * 2 ** (1 / 12))), 5)
    shift = np.median(shifted.f) - np.median(base.f)
    assert shift == pytest.approx(2.0, abs=0.2)  # one semitone = 2 bins at 24 per octave


def test_peak_density_follows_the_setting(song_at_engine_rate: np.ndarray) -> None:
    spec = spectrogram(song_at_engine_rate)
    seconds = len(song_at_engine_rate) / SR
    sparse, dense = find_peaks(spec, 10), find_peaks(spec, 30)
    assert len(sparse) / seconds <= 10.5
    assert len(dense) > 2 * len(sparse)
    assert np.all(np.diff(dense.t) >= 0)


def test_silence_has_no_peaks() -> None:
    assert len(find_peaks(spectrogram(np.zeros(SR * 3, np.float32)), 30)) == 0


def test_hash_fields_undo_a_warp(song_at_engine_rate: np.ndarray) -> None:
    marks = landmarks(find_peaks(spectrogram(song_at_engine_rate), 14), 4)
    assert len(marks) > 0
    shifted = replace(marks, f=marks.f + 2.0)  # the same landmarks a semitone higher
    assert np.array_equal(warp(shifted, grid=Grid((2.0,), (1.0,))).hash, warp(marks).hash)
    assert not np.array_equal(warp(shifted).hash, warp(marks).hash)
    assert np.all(marks.dt1 <= marks.dt2)


def test_index_keeps_every_entry_however_full_a_row() -> None:
    same_hash = np.full(10_000, 12345, dtype=np.uint32)
    prints = [TrackPrint(f"t{i}", same_hash, np.arange(10_000, dtype=np.uint32), 10_000) for i in range(3)]
    index = Index.build(prints)
    frames = index.lookup(np.array([12345], dtype=np.uint32)).frames
    assert len(frames) == 30_000
    track, local = index.locate(frames)
    assert np.bincount(track).tolist() == [10_000] * 3
    assert sorted(local[track == 2].tolist()) == list(range(10_000))


@pytest.fixture(scope="module")
def small_index() -> Index:
    tracks = [song(100 + i, 24.0) for i in range(4)]
    return Index.build(
        reference_print(f"song{i}", resample_poly(t, SR, 22050).astype(np.float32)) for i, t in enumerate(tracks)
    )


def _excerpt(seed: int, start: float, seconds: float, speed: float = 1.0) -> np.ndarray:
    """An excerpt of song `seed`, optionally played `speed` times faster (pitch and tempo)."""
    full = song(seed, 24.0)
    clip = full[int(start * 22050) : int((start + seconds * speed) * 22050)]
    # resampling to 22050 / speed and reading at 22050 plays it `speed` times faster
    up, down = 1000, round(1000 * speed)
    return resample_poly(resample_poly(clip, up, down), SR, 22050).astype(np.float32)


def test_shifted_excerpt_found_at_its_offset(small_index: Index) -> None:
    matches = identify(_excerpt(102, 7.3, 8.0), small_index)
    assert matches and matches[0].track_id == "song2"
    m = matches[0]
    # reference time of the query's start: within one frame of 7.3 s
    assert m.ref_start - m.query_start == pytest.approx(7.3, abs=FRAME)
    assert m.speed == pytest.approx(1.0, abs=0.01)


@pytest.mark.parametrize("speed", [0.95, 0.97, 1.03, 1.05])
def test_resampled_excerpt_found_at_its_speed(small_index: Index, speed: float) -> None:
    matches = identify(_excerpt(101, 5.0, 8.0, speed), small_index)
    assert matches and matches[0].track_id == "song1"
    assert matches[0].speed == pytest.approx(speed, abs=0.01)
    assert matches[0].pitch == pytest.approx(speed, abs=0.02)


@pytest.mark.parametrize("speed", [0.85, 0.9, 1.1, 1.25])
def test_sped_up_and_slowed_edits_found_by_the_wide_search(small_index: Index, speed: float) -> None:
    """Outside the ±6 % grid: the speed line of the wide search (sped-up and slowed edits)."""
    matches = identify(_excerpt(101, 3.0, 8.0, speed), small_index)
    assert matches and matches[0].track_id == "song1"
    assert matches[0].speed == pytest.approx(speed, rel=0.015)
    assert matches[0].pitch == pytest.approx(speed, rel=0.025)  # a neighbouring hypothesis may win
    assert matches[0].warps == len(full_grid(DEFAULT)) + len(wide_grid(DEFAULT))


def test_wide_grid_walks_the_speed_and_pitch_lines_outside_the_near_grid() -> None:
    config = DEFAULT
    wide, near = wide_grid(config), full_grid(config)
    hypotheses = set(zip(wide.pitches, wide.tempos, strict=True))
    assert not hypotheses & set(zip(near.pitches, near.tempos, strict=True))
    for speed in np.geomspace(config.speed_min, config.speed_max, 40):
        pitch = 24 * np.log2(speed)
        if abs(pitch) > config.pitch_range + 0.25:  # else the near grid's
            assert min(abs(p - pitch) + abs(t - speed) * 10 for p, t in hypotheses) <= 0.25 + 0.1
    for shift in np.arange(-config.wide_pitch_range, config.wide_pitch_range + 0.01, 0.5):
        if abs(shift) > config.pitch_range:
            assert (shift, 1.0) in hypotheses
    seeds = wide.seeds()
    assert sorted({int(w) for _, around in seeds for w in around}) == list(range(len(wide)))
    assert len(seeds) <= len(wide) // 2 + 2


def test_noisy_excerpt_still_found(small_index: Index) -> None:
    clip = _excerpt(103, 10.0, 8.0)
    # 12 dB SNR; the benchmark measures the harder conditions (0-10 dB) on real music
    noisy = clip + np.random.default_rng(3).standard_normal(len(clip)).astype(np.float32) * clip.std() * 0.25
    matches = identify(noisy, small_index)
    assert matches and matches[0].track_id == "song3"


def test_noise_alone_matches_nothing(small_index: Index) -> None:
    noise = np.random.default_rng(4).standard_normal(SR * 8).astype(np.float32)
    assert identify(noise, small_index) == []


def test_song_outside_the_index_matches_nothing(small_index: Index) -> None:
    assert identify(_excerpt(999, 3.0, 10.0), small_index) == []


@pytest.fixture(scope="module")
def crowded_index() -> Index:
    """The small index's songs, plus 400 decoys holding every other hash of song1 at
    random times: half of song1's hashes are crowded (401 entries), the rest are not."""
    rng = np.random.default_rng(5)
    songs = [
        reference_print(f"song{i}", resample_poly(song(100 + i, 24.0), SR, 22050).astype(np.float32)) for i in range(4)
    ]
    half = songs[1].hashes[::2]
    decoys = [
        TrackPrint(f"decoy{k}", half, np.sort(rng.integers(0, 750, len(half))).astype(np.uint32), 750)
        for k in range(400)
    ]
    return Index.build(songs + decoys)


@pytest.mark.parametrize("speed", [1.0, 1.05])
def test_crowded_hashes_left_out_of_the_first_pass_still_count(crowded_index: Index, speed: float) -> None:
    """With a cap that leaves out the crowded half of the song's hashes, the first pass
    probes only the grid's seeds and only finds the candidate, whose evidence is then
    gathered in full over the seed's neighbourhood: the same match as with no cap,
    where every hit of every warp is searched at once."""
    query = query_landmarks(_excerpt(101, 5.0, 8.0, speed))
    cap = 4
    probes = warp(query, grid=full_grid(DEFAULT))
    seeds = [seed for seed, _ in full_grid(DEFAULT).seeds()]
    assert not crowded_index.lookup(probes.hash[np.isin(probes.warp, seeds)], cap).complete
    uncapped = find_matches(query, crowded_index, replace(DEFAULT, query_hash_cap=2**31))
    capped = find_matches(query, crowded_index, replace(DEFAULT, query_hash_cap=cap))
    assert uncapped and uncapped[0].track_id == "song1"
    assert capped == uncapped


def test_empty_index_matches_nothing() -> None:
    assert find_matches(query_landmarks(_excerpt(100, 6.0, 8.0)), Index.build([])) == []


def test_threshold_grows_with_the_hypotheses_searched_and_the_query_length() -> None:
    assert threshold(1, 3000) < threshold(45, 3000) < threshold(45, 3000, searches=10)
    assert threshold(1, 700) < threshold(1, 3700)
    assert confidence(13, 1, 700) >= 50 > confidence(13, 1, 3700)
    assert confidence(200, 45, 3000) <= 100 and confidence(0, 1, 3000) == 0


def test_bucket_prefilter_keeps_every_qualifying_cell() -> None:
    """Counting in hashed buckets must find exactly the cells an exact count finds."""
    rng = np.random.default_rng(7)
    n = 200_000
    warp_of = rng.integers(0, 45, n)
    offset_bin = rng.integers(0, 100_000, n)
    # planted alignments, some straddling two offset bins
    for k, (w, b) in enumerate([(3, 500), (44, 99_999), (0, 0), (20, 51_234)]):
        warp_of[k * 10 : k * 10 + 7] = w
        offset_bin[k * 10 : k * 10 + 7] = b + np.arange(7) % 2
    cell = warp_of * _CELLS_PER_WARP + offset_bin
    kept = _candidates(warp_of, offset_bin, 6)
    assert len(kept) < n // 10
    exact_keys, exact_counts, _ = _best_cells(cell, 6)
    keys, counts, _ = _best_cells(cell[kept], 6)
    assert keys.tolist() == exact_keys.tolist()
    assert counts.tolist() == exact_counts.tolist()
    assert len(keys) >= 4


def test_grid_seeds_cover_every_hypothesis_within_a_step() -> None:
    """The seeds are every other hypothesis on each axis, both ends included, and each
    hypothesis of the grid lies in some seed's neighbourhood, one step away at most."""
    grid = full_grid(DEFAULT)
    seeds = grid.seeds()
    n_tempos = len(DEFAULT.tempo_factors)
    assert [divmod(s, n_tempos) for s, _ in seeds] == [(p, t) for p in (0, 2, 4, 6, 8) for t in (0, 2, 4)]
    for seed, around in seeds:
        p, t = divmod(seed, n_tempos)
        assert all(abs(q - p) <= 1 and abs(u - t) <= 1 for q, u in (divmod(int(w), n_tempos) for w in around))
    assert sorted({int(w) for _, around in seeds for w in around}) == list(range(len(grid)))
    assert [(s, a.tolist()) for s, a in Grid((0.0,), (1.0,)).seeds()] == [(0, [0])]
