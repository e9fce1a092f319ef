"""Synthetic songs for the demo catalog and the tests: melody, chords, bass and drums.

Every song draws its own key, mode, tempo, progression, timbres and drum pattern from
a seeded generator, so songs are reproducible and their fingerprints differ, yet they
share what makes real music hard to tell apart (12-TET notes, common intervals).
"""

from __future__ import annotations

import colorsys
import csv
import struct
import zlib
from pathlib import Path

import numpy as np
import soundfile
from mutagen.flac import FLAC, Picture

RATE = 22050
_MAJOR = [0, 2, 4, 5, 7, 9, 11]
_MINOR = [0, 2, 3, 5, 7, 8, 10]
_WORDS = (
    "Amber Blue Crystal Dawn Echo Falling Golden Harbor Indigo Jade"
    " Kite Lantern Midnight Neon Ocean Paper Quiet River Silver Tide"
).split()
_COVER_SIZE = 240  # pixels
_LABELS = [
    "Island Records",
    "Columbia Records",
    "Atlantic Records",
    "Warp Records",
    "Ninja Tune",
    "Cleared Demo Records",
]


def _hz(midi: float) -> float:
    return float(440.0 * 2.0 ** ((midi - 69) / 12))


def _tone(freq: float, seconds: float, harmonics: np.ndarray, decay: float) -> np.ndarray:
    t = np.arange(int(seconds * RATE)) / RATE
    wave = sum(a * np.sin(2 * np.pi * freq * (k + 1) * t) for k, a in enumerate(harmonics) if freq * (k + 1) < RATE / 2)
    envelope = np.minimum(t / 0.01, 1.0) * np.exp(-t * decay)
    return np.asarray(wave * envelope, dtype=np.float64)


def _drum(kind: str, rng: np.random.Generator) -> np.ndarray:
    t = np.arange(int(0.25 * RATE)) / RATE
    if kind == "kick":
        return np.sin(2 * np.pi * (50 + 100 * np.exp(-t * 30)) * t) * np.exp(-t * 12)
    noise = rng.standard_normal(len(t))
    if kind == "snare":
        return 0.5 * noise * np.exp(-t * 25) + 0.3 * np.sin(2 * np.pi * 190 * t) * np.exp(-t * 20)
    return 0.2 * np.diff(noise, prepend=0) * np.exp(-t * 80)  # hi-hat: high-passed noise


def _place(out: np.ndarray, sound: np.ndarray, at: float, gain: float) -> None:
    start = int(at * RATE)
    end = min(len(out), start + len(sound))
    if start < end:
        out[start:end] += gain * sound[: end - start]


def song(seed: int, seconds: float = 30.0) -> np.ndarray:
    """Render one song as float32 mono at RATE Hz."""
    rng = np.random.default_rng(seed)
    scale = _MAJOR if rng.random() < 0.5 else _MINOR
    root = int(rng.integers(45, 57))
    beat = 60.0 / rng.uniform(80, 140)
    progression = rng.choice(7, size=4, replace=True)
    lead = rng.uniform(0.2, 1.0, size=int(rng.integers(3, 8))) ** 2
    pad = rng.uniform(0.1, 0.6, size=4)
    pattern = rng.random((3, 8)) < np.array([[0.5], [0.3], [0.7]])
    pattern[0, 0] = True
    out = np.zeros(int(seconds * RATE))

    bar = 4 * beat
    note = 0
    for b in range(int(seconds / bar) + 1):
        degree = int(progression[b % 4])
        chord = [scale[(degree + i) % 7] + 12 * ((degree + i) // 7) for i in (0, 2, 4)]
        for pitch in chord:
            _place(out, _tone(_hz(root + 12 + pitch), bar, pad, 1.0), b * bar, 0.12)
        _place(out, _tone(_hz(root - 12 + chord[0]), bar, np.array([1.0, 0.5]), 2.0), b * bar, 0.3)
        t = b * bar
        while t < (b + 1) * bar:
            length = beat * float(rng.choice([0.5, 1.0, 1.0, 2.0]))
            note = int(np.clip(note + rng.integers(-2, 3), -3, 10))
            pitch = scale[note % 7] + 12 * (note // 7)
            _place(out, _tone(_hz(root + 24 + pitch), length, lead, 3.0), t, 0.25)
            t += length
        for step in range(8):
            for row, kind in enumerate(("kick", "snare", "hat")):
                if pattern[row, step]:
                    _place(out, _drum(kind, rng), b * bar + step * beat / 2, 0.5)
    out /= np.abs(out).max() + 1e-9
    return (0.9 * out).astype(np.float32)


def demo_song(number: int, seconds: float = 30.0, catalog_seed: int = 7) -> np.ndarray:
    """Song `number` (0-based) of the demo catalog that `write_catalog(seed=catalog_seed)` writes."""
    return song(catalog_seed * 1000 + number, seconds)


def write_catalog(folder: str | Path, count: int = 12, seconds: float = 30.0, seed: int = 7) -> Path:
    """Write `count` songs as FLAC plus a catalog.csv ready for `python -m lib ingest`."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(count):
        words = rng.choice(_WORDS, size=2, replace=False)
        path = folder / f"demo{i + 1:02d}.flac"
        soundfile.write(path, demo_song(i, seconds, seed), RATE)
        if i % 4 != 3:  # every fourth song has no art: the demo shows its placeholder
            _embed_cover(path, cover_png(i))
        rows.append(
            {
                "path": path.name,
                "track_id": f"DEMO{i + 1:02d}",
                "title": f"{words[0]} {words[1]}",
                "artist": f"Demo Artist {i % 4 + 1}",
                "album": "Cleared Demo Songs",
                "release_date": f"2026-0{i % 9 + 1}-15",
                "isrc": f"QZDEM26{i + 1:05d}",
                "label": _LABELS[i % len(_LABELS)],
                "content_id": "1" if i % 3 == 0 else "0",
                "exclusive": "1" if i % 2 == 0 else "0",
            }
        )
    catalog = folder / "catalog.csv"
    with catalog.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return catalog


def cover_png(i: int, size: int = _COVER_SIZE) -> bytes:
    """Album art for demo song `i`: rings on a gradient in the song's own hue, as a PNG."""
    y, x = np.mgrid[0:size, 0:size] / size
    rings = 0.5 + 0.5 * np.cos(np.hypot(x - 0.62, y - 0.38) * (18 + 4 * (i % 5)))
    light = 0.25 + 0.45 * (1 - y) + 0.2 * rings
    rgb = np.array([colorsys.hls_to_rgb((i * 0.137) % 1.0, 0.5, 0.65)])[0]
    pixels = (np.clip(light[..., None] * rgb * 1.4, 0, 1) * 255).astype(np.uint8)
    rows = b"".join(b"\x00" + row.tobytes() for row in pixels)  # filter type 0 per row

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0)  # 8-bit RGB
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


def _embed_cover(path: Path, png: bytes) -> None:
    picture = Picture()
    picture.type, picture.mime, picture.data = 3, "image/png", png  # 3: front cover
    picture.width = picture.height = _COVER_SIZE
    picture.depth = 24
    tags = FLAC(path)
    tags.add_picture(picture)
    tags.save()
