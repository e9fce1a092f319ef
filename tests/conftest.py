"""Shared fixtures: generated songs, files encoded with real codecs, a populated catalog.

The API's tests call it in open mode (no keys), set here for every `Settings` and every
server process they start; tests/test_keys.py builds its apps with keys and checks them.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from lib.engine import Engine
from lib.fingerprint.config import DEFAULT
from lib.ingest import discover, ingest
from lib.store import Catalog
from lib.synth import RATE, demo_song, song, write_catalog

os.environ.setdefault("CLEARED_AUTH", "open")


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


@pytest.fixture(scope="session")
def demo_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("demo")
    write_catalog(folder, count=6, seconds=24.0)
    return folder


@pytest.fixture(scope="session")
def catalog_path(demo_folder: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("db") / "catalog.db"
    with Catalog(path) as catalog:
        summary = ingest(Engine(catalog), discover(demo_folder / "catalog.csv"), jobs=1, progress=False)
    assert summary.added == 6
    return path


@pytest.fixture
def engine(catalog_path: Path) -> Iterator[Engine]:
    with Catalog(catalog_path) as catalog:
        yield Engine(catalog)


@pytest.fixture(scope="session")
def song_at_engine_rate() -> np.ndarray:
    """Demo song 3 (catalog track DEMO03) resampled to the engine's rate."""
    from scipy.signal import resample_poly

    return resample_poly(demo_song(2, 24.0), DEFAULT.sample_rate, RATE).astype(np.float32)


def private_copy(catalog: Path, folder: Path) -> Path:
    """The demo catalog, copied: these tests add and delete tracks."""
    db = folder / "catalog.db"
    with sqlite3.connect(catalog) as source, sqlite3.connect(db) as target:
        source.backup(target)
    return db


@pytest.fixture(scope="session")
def media(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("index-media")
    new = song(4242, 20.0)  # not in the demo catalog
    notes = folder / "notes.txt"
    notes.write_text("not audio")
    return {
        "catalog_excerpt": encode(folder / "demo03.m4a", demo_song(2, 24.0)[4 * RATE : 20 * RATE], RATE, "aac"),
        "new": encode(folder / "new.flac", new, RATE, "flac"),
        "new_reencoded": encode(folder / "new.mp3", new, RATE, "mp3"),
        "text": notes,
    }
