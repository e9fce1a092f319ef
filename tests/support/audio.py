"""Audio for tests: files written with real FFmpeg encoders, generated songs at the engine's rate."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from lib.fingerprint.config import DEFAULT
from lib.synth.songs import RATE


def encode(path: Path, samples: np.ndarray, rate: int, codec: str, video: str | None = None) -> Path:
    """Write mono float samples with a real FFmpeg encoder, with a small video track if asked."""
    with av.open(str(path), "w") as out:
        if video:
            picture = out.add_stream(video, rate=10)
            picture.width, picture.height, picture.pix_fmt = 64, 48, "yuv420p"
        sound = out.add_stream(codec, rate=rate)
        sound.layout = "mono"
        # PyAV converts the sample format and re-frames to the codec's frame size itself
        for start in range(0, len(samples), 4096):
            frame = av.AudioFrame.from_ndarray(
                samples[start : start + 4096].reshape(1, -1), format="flt", layout="mono"
            )
            frame.sample_rate = rate
            frame.pts = start
            frame.time_base = Fraction(1, rate)
            out.mux(sound.encode(frame))
        out.mux(sound.encode(None))
        if video:
            for i in range(int(len(samples) / rate * 10)):
                image = av.VideoFrame.from_ndarray(np.full((48, 64, 3), i % 255, np.uint8), format="rgb24")
                image.pts = i
                out.mux(picture.encode(image))
            out.mux(picture.encode(None))
    return path


def at_engine_rate(samples: np.ndarray) -> np.ndarray:
    """Generated audio (at `RATE`) resampled to the engine's rate, as a decoder would give it."""
    from scipy.signal import resample_poly

    return resample_poly(samples, DEFAULT.sample_rate, RATE).astype(np.float32)
