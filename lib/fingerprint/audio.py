"""Decode any container/codec to mono float32 at the engine's sample rate.

FFmpeg (through PyAV) reads nearly everything, audio tracks of videos included. A few
real Ogg Vorbis files make FFmpeg fail in header parsing while libvorbis reads them fine,
so libsndfile (soundfile) is the fallback; its blocks go through the same FFmpeg
resampler, so both paths produce identical sample streams.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from fractions import Fraction
from itertools import pairwise
from pathlib import Path

import av
import numpy as np
import soundfile

from lib.fingerprint.config import DEFAULT, EngineConfig

Chunk = np.ndarray  # 1-D float32, mono, at config.sample_rate
_CHUNK_SECONDS = 0.5

# Containers libsndfile reads natively. The fallback is tried only on these: for MPEG
# audio FFmpeg is the better decoder, and libsndfile's MP3 probe prints to stderr.
_SNDFILE_MAGIC = (b"OggS", b"fLaC", b"RIFF", b"RIFX", b"RF64", b"FORM", b"MATLAB 5.0", b".snd", b"caff")


class DecodeError(ValueError):
    """The file holds no audio that either decoder can read."""


def _frames_to_chunks(frames: Iterator[av.AudioFrame], rate: int) -> Iterator[Chunk]:
    """Downmix, then resample, in one FFmpeg filter graph built for the first frame.

    Downmixing before resampling halves the resampler's work; the graph runs twice as
    fast as PyAV's AudioResampler for the same swresample filter. Codecs hand out small
    frames (Vorbis: 43 a second), and a pull and an array per frame cost more than the
    resampling: the graph regroups its output into `_CHUNK_SECONDS` chunks and is
    pulled once per chunk of input (ingest decode 540x -> 910x realtime, same samples).
    """
    graph: av.filter.Graph | None = None
    pending = 0  # input samples pushed since the last pull
    for frame in frames:
        if graph is None:
            graph = av.filter.Graph()
            chain = [
                graph.add_abuffer(
                    format=frame.format.name,
                    sample_rate=frame.sample_rate,
                    layout=frame.layout.name,
                    time_base=Fraction(1, frame.sample_rate),
                ),
                graph.add("aformat", "sample_fmts=flt:channel_layouts=mono"),
                graph.add("aresample", str(rate)),
                graph.add("asetnsamples", f"n={round(rate * _CHUNK_SECONDS)}:p=0"),
                graph.add("abuffersink"),
            ]
            for upstream, downstream in pairwise(chain):
                upstream.link_to(downstream)
            graph.configure()
        frame.pts = None  # the graph counts samples itself (robust to odd timestamps)
        graph.push(frame)
        pending += frame.samples
        if pending >= frame.sample_rate * _CHUNK_SECONDS:
            yield from _pull(graph)
            pending = 0
    if graph is not None:
        graph.push(None)
        yield from _pull(graph)


def _pull(graph: av.filter.Graph) -> Iterator[Chunk]:
    while True:
        try:
            out = graph.pull()
        except (av.BlockingIOError, av.EOFError):
            return
        yield out.to_ndarray().reshape(-1)


def _decode_ffmpeg(path: Path, rate: int) -> Iterator[Chunk]:
    with av.open(str(path)) as container:
        if not container.streams.audio:
            raise DecodeError(f"{path.name}: no audio stream")
        stream = container.streams.audio[0]
        yield from _frames_to_chunks(container.decode(stream), rate)


def _soundfile_frames(path: Path, block: int = 65536) -> Iterator[av.AudioFrame]:
    with soundfile.SoundFile(str(path)) as f:
        for data in f.blocks(blocksize=block, dtype="float32", always_2d=True):
            mono = data.mean(axis=1, dtype=np.float32).reshape(1, -1)
            frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(mono), format="flt", layout="mono")
            frame.sample_rate = f.samplerate
            yield frame


def _decode_soundfile(path: Path, rate: int) -> Iterator[Chunk]:
    yield from _frames_to_chunks(_soundfile_frames(path), rate)


def stream(path: str | Path, config: EngineConfig = DEFAULT) -> Iterator[Chunk]:
    """Yield the decoded audio in chunks, never holding the whole file at its own rate.

    Falls back to libsndfile only if FFmpeg fails before producing any audio: a failure
    halfway through a file is reported rather than silently restarted.
    """
    path = Path(path)
    produced = False
    try:
        for chunk in _decode_ffmpeg(path, config.sample_rate):
            produced = True
            yield chunk
        return
    except (av.FFmpegError, DecodeError) as ffmpeg_error:
        if produced:
            raise DecodeError(f"{path.name}: decoding failed midway: {ffmpeg_error}") from ffmpeg_error
        first_error = ffmpeg_error
    with path.open("rb") as f:
        if not f.read(16).startswith(_SNDFILE_MAGIC):
            raise DecodeError(f"{path.name}: not readable audio ({first_error})") from first_error
    try:
        yield from _decode_soundfile(path, config.sample_rate)
    except (soundfile.LibsndfileError, RuntimeError, av.FFmpegError) as sf_error:
        raise DecodeError(f"{path.name}: not readable audio ({first_error}; {sf_error})") from sf_error


def head(chunks: Iterable[Chunk], max_samples: int | None) -> Iterator[Chunk]:
    """The chunks, cut after `max_samples` samples in all (None: all of them)."""
    left = max_samples
    for chunk in chunks:
        if left is not None:
            if left <= 0:
                return
            chunk = chunk[:left]
            left -= len(chunk)
        yield chunk


def load(path: str | Path, config: EngineConfig = DEFAULT, max_seconds: float | None = None) -> np.ndarray:
    """Decode a file to one array, stopping after `max_seconds` when given."""
    limit = None if max_seconds is None else int(max_seconds * config.sample_rate)
    chunks = list(head(stream(path, config), limit))
    if not chunks:
        raise DecodeError(f"{Path(path).name}: no audio samples")
    return np.concatenate(chunks)
