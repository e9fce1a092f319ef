"""Decode any container/codec to mono float32 at the engine's sample rate.

FFmpeg reads nearly everything, audio tracks of videos included: a file inside its own
filter graph (fast), a stream through PyAV's decode loop. A few real Ogg Vorbis files
make FFmpeg fail in header parsing while libvorbis reads them fine, so libsndfile
(soundfile) is the fallback; its blocks go through the same FFmpeg resampler, so every
path produces the same sample stream.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from itertools import pairwise
from pathlib import Path

import av
import numpy as np

from lib.fingerprint.config import DEFAULT, EngineConfig

_log = logging.getLogger(__name__)

Chunk = np.ndarray  # 1-D float32, mono, at config.sample_rate
_CHUNK_SECONDS = 0.5

# Containers libsndfile reads natively. The fallback is tried only on these: for MPEG
# audio FFmpeg is the better decoder, and libsndfile's MP3 probe prints to stderr.
_SNDFILE_MAGIC = (b"OggS", b"fLaC", b"RIFF", b"RIFX", b"RF64", b"FORM", b"MATLAB 5.0", b".snd", b"caff")


class DecodeError(ValueError):
    """The file holds no audio that either decoder can read."""


@dataclass
class Report:
    """What decoding a file had to work around, for the caller to pass on: a line per
    event for people, and where the audio ended early when the rest of the file could not
    be decoded at all (an answer must not claim the part it never heard)."""

    warnings: list[str] = field(default_factory=list)
    lost_after: float | None = None  # seconds decoded before the rest was lost


def duration(path: str | Path) -> float | None:
    """The media's duration as its container states it, when it does: what an answer
    reports as the whole when it analysed less (never used to decide anything)."""
    try:
        with av.open(str(path)) as container:
            if container.duration is not None:
                return round(container.duration / av.time_base, 3)
            stream = container.streams.audio[0] if container.streams.audio else None
            if stream is not None and stream.duration is not None and stream.time_base is not None:
                return round(float(stream.duration * stream.time_base), 3)
    except (av.FFmpegError, OSError):
        pass
    return None


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
        assert isinstance(out, av.AudioFrame)  # an audio sink
        # the frame's own buffer (mono float32: one plane), not `to_ndarray`: that cost
        # 23 microseconds a chunk against 1, 4 % of an ingest
        yield np.frombuffer(memoryview(out.planes[0]), np.float32, out.samples)


def _decode_ffmpeg(source: Path | io.RawIOBase, rate: int, live: bool = False) -> Iterator[Chunk]:
    """Frames decoded by PyAV's loop and pushed through the graph (`_frames_to_chunks`):
    slower than `_decode_file`, but it reads a stream as it arrives and skips empty packets."""
    with av.open(str(source) if isinstance(source, Path) else source, "r") as container:
        if not container.streams.audio:
            raise DecodeError(f"{getattr(source, 'name', 'the stream')}: no audio stream")
        stream = container.streams.audio[0]
        yield from _frames_to_chunks(_decoded(container, stream, live), rate)


def _decode_file(path: Path, rate: int) -> Iterator[Chunk]:
    """A file decoded inside FFmpeg: an `amovie` source reads and decodes it in the same
    filter graph that downmixes and resamples, so Python only pulls a chunk every half
    second. Pushing each decoded frame from Python (`_frames_to_chunks`, 43 a second for
    Vorbis) cost a third of the decode: 760x realtime against 1,035x here, same samples
    (docs/engine.md). The name is handed over as an option value, not parsed from a
    filter string, and only through the `file:` protocol: a catalog row's path never
    reaches the network. FFmpeg stops here at an empty packet midway (EINVAL), as PyAV's
    own loop did before `_decoded` skipped them: `stream` then goes on with that loop."""
    graph = av.filter.Graph()
    try:
        chain = [
            # a playlist or concat list inside the file may name local files only
            graph.add("amovie", filename=f"file:{path.resolve()}", streams="da", format_opts="protocol_whitelist=file"),
            graph.add("aformat", "sample_fmts=flt:channel_layouts=mono"),
            graph.add("aresample", str(rate)),
            graph.add("asetnsamples", f"n={round(rate * _CHUNK_SECONDS)}:p=0"),
            graph.add("abuffersink"),
        ]
    except av.FFmpegError as error:  # not media, or no audio stream in it
        raise DecodeError(f"{path.name}: not audio that can be decoded ({error})") from error
    for upstream, downstream in pairwise(chain):
        upstream.link_to(downstream)
    graph.configure()
    yield from _pull(graph)


def stream_from(source: io.RawIOBase, config: EngineConfig = DEFAULT) -> Iterator[Chunk]:
    """Decode audio as it is read from `source` (a live stream's body: no seeking, no
    end; raw, so that a read returns what has arrived rather than wait for a full
    buffer: 32 kB is 4 s of a 64 kb/s stream), in chunks at the engine's rate. A packet
    that does not decode (a glitch on air, a relay that joined mid-frame) is skipped, as
    a player would: the stream goes on. Raises `DecodeError` when it is not audio at
    all, and FFmpeg's error when the stream breaks."""
    try:
        yield from _decode_ffmpeg(source, config.sample_rate, live=True)
    except av.InvalidDataError as error:
        raise DecodeError(f"not audio that can be decoded: {error}") from error


def _decoded(
    container: av.container.InputContainer, stream: av.AudioStream, live: bool = False
) -> Iterator[av.AudioFrame]:
    """The stream's frames, skipping empty packets: an Ogg page may carry a zero-length
    packet (seen in a real Vorbis file), and PyAV hands an empty packet to the decoder as
    the end of the stream, so decoding stopped there with EINVAL. The demuxer's own
    last packet (no timestamp) still flushes the decoder. `live`: a packet that does not
    decode is skipped (stream_from); a file's is an error (the fallback decoder may read it)."""
    decoded = 0
    for packet in container.demux(stream):
        if packet.size == 0 and packet.dts is not None:
            continue
        try:
            frames = packet.decode()
        except av.InvalidDataError:
            if not live or not decoded:  # nothing decoded yet: it is not audio we read
                raise
            continue
        decoded += len(frames)
        yield from frames


# FFmpeg's default layout per channel count: the fallback's frames go through the same
# downmix as FFmpeg's own (stereo to mono is (L + R) / sqrt 2 there, not a plain mean),
# so a file that FFmpeg gives up on midway continues at the same level.
_LAYOUTS = {1: "mono", 2: "stereo", 3: "2.1", 4: "quad", 5: "5.0", 6: "5.1", 7: "6.1", 8: "7.1"}


def _soundfile_frames(path: Path, block: int = 65536) -> Iterator[av.AudioFrame]:
    import soundfile  # here: only files FFmpeg fails on need it (its import: 10 ms of a one-clip identify)

    with soundfile.SoundFile(str(path)) as f:
        for data in f.blocks(blocksize=block, dtype="float32", always_2d=True):
            if f.channels not in _LAYOUTS:
                data = data.mean(axis=1, dtype=np.float32, keepdims=True)
            packed = np.ascontiguousarray(data).reshape(1, -1)
            frame = av.AudioFrame.from_ndarray(packed, format="flt", layout=_LAYOUTS[data.shape[1]])
            frame.sample_rate = f.samplerate
            yield frame


def _decode_soundfile(path: Path, rate: int) -> Iterator[Chunk]:
    yield from _frames_to_chunks(_soundfile_frames(path), rate)


# what a decoder raises when it cannot go on (libsndfile's errors are RuntimeErrors):
# `stream` then tries the next one
_FAILURES = (av.FFmpegError, DecodeError, RuntimeError)


def stream(path: str | Path, config: EngineConfig = DEFAULT, report: Report | None = None) -> Iterator[Chunk]:
    """Yield the decoded audio in chunks, never holding the whole file at its own rate.

    Decoders are tried in turn, each continuing where the one before stopped (they all
    end in the same resampler, so their sample streams line up): FFmpeg inside its filter
    graph (fast), FFmpeg through PyAV's loop (skips the empty packets the first stops at),
    then libsndfile, on the containers it reads: real Vorbis files break a few seconds
    before their end in FFmpeg and decode fully in libvorbis. A failure midway is not a
    reason to drop the file: when no decoder gets further, the audio decoded so far is
    what the file gives. Either way a line goes to the `report` (and the log), and when
    the rest is lost, where the audio ended.
    """
    path = Path(path)
    rate = config.sample_rate
    with path.open("rb") as f:
        sndfile = f.read(16).startswith(_SNDFILE_MAGIC)
    decoders: list[tuple[str, Callable[[], Iterator[Chunk]]]] = [
        ("FFmpeg", lambda: _decode_file(path, rate)),
        ("FFmpeg", lambda: _decode_ffmpeg(path, rate)),
    ]
    if sndfile:
        decoders.append(("libsndfile", lambda: _decode_soundfile(path, rate)))
    produced = 0  # samples yielded, from the start of the file
    stops: list[tuple[str, int, BaseException]] = []  # each decoder that failed, where it stopped, why
    finisher: str | None = None
    for name, decode in decoders:
        seen = 0  # samples this decoder decoded, from the start of the file
        try:
            for chunk in decode():
                rest = chunk[max(produced - seen, 0) :]
                seen += len(chunk)
                produced += len(rest)
                if len(rest):
                    yield rest
        except _FAILURES as error:
            stops.append((name, seen, error))
            continue
        finisher = name
        break
    why = "; ".join(_distinct(stops))
    if not produced:
        raise DecodeError(f"{path.name}: not readable audio ({why})")
    ffmpeg_stop = max((seen for name, seen, _ in stops if name == "FFmpeg"), default=0)
    if finisher == "FFmpeg" or (finisher == "libsndfile" and not ffmpeg_stop):
        return  # FFmpeg read it, or could not start and libsndfile read it all: this file's decoder
    if finisher == "libsndfile":
        message = f"{path.name}: FFmpeg stopped at {ffmpeg_stop / rate:.1f} s ({why}); libsndfile read the rest"
    else:
        message = f"{path.name}: decoding stopped at {produced / rate:.1f} s ({why}); the rest is lost"
    _log.warning(message)
    if report is not None:
        report.warnings.append(message)
        if finisher is None:
            report.lost_after = round(produced / rate, 3)


def _distinct(stops: list[tuple[str, int, BaseException]]) -> list[str]:
    """The decoders' errors, each once (both FFmpeg paths often fail alike)."""
    return list(dict.fromkeys(str(error) for _, _, error in stops))


class Limited:
    """The chunks, cut after `max_samples` samples in all (None: all of them); afterwards
    `cut` says whether there was more (asked of the source only once the limit is reached)."""

    def __init__(self, chunks: Iterable[Chunk], max_samples: int | None) -> None:
        self.chunks, self.max_samples = chunks, max_samples
        self.cut = False

    def __iter__(self) -> Iterator[Chunk]:
        left = self.max_samples
        for chunk in self.chunks:
            if left is not None:
                if left <= 0:
                    self.cut = True
                    return
                self.cut = len(chunk) > left
                chunk = chunk[:left]
                left -= len(chunk)
            yield chunk


def load(
    path: str | Path,
    config: EngineConfig = DEFAULT,
    max_seconds: float | None = None,
    report: Report | None = None,
) -> np.ndarray:
    """Decode a file to one array, stopping after `max_seconds` when given (see `stream`
    for the `report`)."""
    limit = None if max_seconds is None else int(max_seconds * config.sample_rate)
    chunks = list(Limited(stream(path, config, report), limit))
    if not chunks:
        raise DecodeError(f"{Path(path).name}: no audio samples")
    return np.concatenate(chunks)
