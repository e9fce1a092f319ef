"""Decoding: every common container and codec, through PyAV and the libsndfile fallback."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest
import soundfile
from scipy.signal import resample_poly

from lib.fingerprint import audio
from lib.fingerprint.config import DEFAULT
from lib.synth.songs import RATE, song
from tests.support.audio import encode
from tests.support.ogg import remuxed_with_bad_packet, with_bad_packet, with_empty_packet

SECONDS = 6.0


@pytest.fixture(scope="module")
def source() -> np.ndarray:
    return song(5, SECONDS)


def _expected(source: np.ndarray) -> np.ndarray:
    return resample_poly(source, DEFAULT.sample_rate, RATE)


def _similarity(decoded: np.ndarray, expected: np.ndarray) -> float:
    """Best normalised correlation over small lags (codecs add a few samples of delay)."""
    n = min(len(decoded), len(expected)) - 400
    return max(float(np.corrcoef(decoded[lag : lag + n], expected[200 : 200 + n])[0, 1]) for lag in range(0, 400, 2))


@pytest.mark.parametrize(
    ("name", "codec", "rate", "video"),
    [
        ("clip.wav", "pcm_s16le", RATE, None),
        ("clip.flac", "flac", RATE, None),
        ("clip.opus", "libopus", 48000, None),
        ("clip.mp3", "libmp3lame", RATE, None),
        ("clip.m4a", "aac", RATE, None),
        ("clip.mp4", "aac", RATE, "mpeg4"),
        ("clip.webm", "libopus", 48000, "libvpx"),
    ],
)
def test_decodes_container_and_codec(
    tmp_path: Path, source: np.ndarray, name: str, codec: str, rate: int, video: str | None
) -> None:
    samples = resample_poly(source, rate, RATE).astype(np.float32) if rate != RATE else source
    decoded = audio.load(encode(tmp_path / name, samples, rate, codec, video))
    assert decoded.dtype == np.float32
    assert abs(len(decoded) / DEFAULT.sample_rate - SECONDS) < 0.1
    assert _similarity(decoded, _expected(source)) > 0.9


def test_ogg_vorbis(tmp_path: Path, source: np.ndarray) -> None:
    path = tmp_path / "clip.ogg"
    soundfile.write(path, source, RATE, format="OGG", subtype="VORBIS")
    assert _similarity(audio.load(path), _expected(source)) > 0.9


def test_files_decoded_inside_ffmpeg_match_pyavs_loop(tmp_path: Path, source: np.ndarray) -> None:
    """The fast path (an `amovie` source) gives the samples PyAV's loop gives, for any file
    name: it is an option value, not part of a filter string."""
    path = tmp_path / "a b:c'd,e[f]=%20é.ogg"
    soundfile.write(path, np.stack([source, source[::-1]], axis=1), RATE, format="OGG", subtype="VORBIS")
    fast = np.concatenate(list(audio._decode_file(path, DEFAULT.sample_rate)))
    pyav = np.concatenate(list(audio._decode_ffmpeg(path, DEFAULT.sample_rate)))
    np.testing.assert_array_equal(fast, pyav)
    np.testing.assert_array_equal(audio.load(path), pyav)


def test_stereo_is_downmixed(tmp_path: Path, source: np.ndarray) -> None:
    path = tmp_path / "stereo.wav"
    other = song(6, SECONDS)
    soundfile.write(path, np.stack([source, other], axis=1), RATE)
    decoded = audio.load(path)
    # both channels are in the mix (FFmpeg downmixes at -3 dB each; the engine is level-free)
    assert 0.4 < _similarity(decoded, _expected(source)) < 0.95
    assert 0.4 < _similarity(decoded, _expected(other)) < 0.95


@pytest.mark.parametrize("channels", [1, 2])
def test_soundfile_fallback_matches_ffmpeg(tmp_path: Path, source: np.ndarray, channels: int) -> None:
    """The fallback path feeds the same downmix and resampler, so both decoders agree
    sample for sample (FFmpeg mixes stereo to (L + R) / sqrt 2, not to the mean)."""
    path = tmp_path / "clip.flac"
    soundfile.write(path, np.stack([source, 0.5 * source][:channels], axis=1), RATE)
    via_ffmpeg = audio.load(path)
    via_soundfile = np.concatenate(list(audio._decode_soundfile(path, DEFAULT.sample_rate)))
    assert len(via_soundfile) == len(via_ffmpeg)
    assert np.max(np.abs(via_soundfile - via_ffmpeg)) < 1e-3


@pytest.fixture(scope="module")
def vorbis(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("vorbis") / "clean.ogg"
    long = song(5, 20.0)
    soundfile.write(path, np.stack([long, 0.5 * long], axis=1), RATE, format="OGG", subtype="VORBIS")
    return path


def test_empty_packet_midway_does_not_end_the_stream(tmp_path: Path, vorbis: Path) -> None:
    """A zero-length Ogg packet (a real dev-corpus file has one 0.5 s before its end)
    used to reach FFmpeg as end-of-stream, and the next packet failed with EINVAL."""
    path = tmp_path / "empty_packet.ogg"
    path.write_bytes(with_empty_packet(vorbis.read_bytes(), at=20))
    report = audio.Report()
    decoded = audio.load(path, report=report)
    clean = audio.load(vorbis)
    assert report.warnings == [] and report.lost_after is None
    assert len(decoded) == len(clean)
    assert np.max(np.abs(decoded - clean)) < 1e-4


def test_failure_midway_continues_with_the_fallback(tmp_path: Path, vorbis: Path) -> None:
    """FFmpeg gives up on a bad packet 12 s in; libvorbis skips it. The file is read to
    its end, FFmpeg's part and then the fallback's from where FFmpeg stopped, and the
    caller is told."""
    path = tmp_path / "bad_packet.ogg"
    path.write_bytes(with_bad_packet(vorbis.read_bytes(), at=20))
    with pytest.raises(av.FFmpegError):
        list(audio._decode_ffmpeg(path, DEFAULT.sample_rate))
    report = audio.Report()
    decoded = audio.load(path, report=report)
    whole = np.concatenate(list(audio._decode_soundfile(path, DEFAULT.sample_rate)))
    assert len(decoded) == len(whole) == pytest.approx(20.0 * DEFAULT.sample_rate, abs=DEFAULT.sample_rate * 0.05)
    assert np.max(np.abs(decoded - whole)) < 1e-3  # no jump where the decoders hand over
    assert len(report.warnings) == 1 and "libsndfile read the rest" in report.warnings[0]
    assert report.lost_after is None


def test_failure_midway_without_a_fallback_keeps_what_decoded(tmp_path: Path, vorbis: Path) -> None:
    """When no decoder gets past the break, the audio before it is the answer, with a warning."""
    path = tmp_path / "bad_packet.mka"
    remuxed_with_bad_packet(vorbis, path, at=400)
    report = audio.Report()
    decoded = audio.load(path, report=report)
    clean = audio.load(vorbis)
    assert 2.0 * DEFAULT.sample_rate < len(decoded) < len(clean) - 2.0 * DEFAULT.sample_rate
    assert _similarity(decoded, clean[: len(decoded)]) > 0.99
    assert len(report.warnings) == 1 and "the rest is lost" in report.warnings[0]
    assert report.lost_after == pytest.approx(len(decoded) / DEFAULT.sample_rate, abs=0.01)


def test_fallback_reads_what_ffmpeg_rejects(tmp_path: Path, source: np.ndarray) -> None:
    """A real file FFmpeg cannot open (MATLAB 5 audio, libsndfile can): the fallback decodes it."""
    path = tmp_path / "clip.mat"
    soundfile.write(path, source, RATE, format="MAT5", subtype="FLOAT")
    with pytest.raises(av.FFmpegError):
        list(audio._decode_ffmpeg(path, DEFAULT.sample_rate))
    assert _similarity(audio.load(path), _expected(source)) > 0.99


def test_streams_in_chunks(tmp_path: Path, source: np.ndarray) -> None:
    path = encode(tmp_path / "clip.mp3", source, RATE, "libmp3lame")
    chunks = list(audio.stream(path))
    assert len(chunks) > 10
    assert max(len(c) for c in chunks) < DEFAULT.sample_rate


def test_max_seconds_stops_early(tmp_path: Path, source: np.ndarray) -> None:
    path = tmp_path / "clip.wav"
    soundfile.write(path, source, RATE)
    assert len(audio.load(path, max_seconds=2.0)) == 2 * DEFAULT.sample_rate


@pytest.mark.parametrize("content", [b"", b"not audio at all" * 100])
def test_non_audio_is_a_clear_error(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "bad.mp3"
    path.write_bytes(content)
    with pytest.raises(audio.DecodeError, match=r"bad\.mp3"):
        audio.load(path)
