"""What `make run` shows until the HTTP API exists: the demo catalog recognising
damaged excerpts of its own songs, and rejecting a song it does not hold."""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
import soundfile

from lib.cli import default_db, main
from lib.synth import RATE, demo_song, song

_HOW_TO = """
Your own music:  .venv/bin/python -m lib ingest /path/to/music     (a folder, tags read from the files)
                 .venv/bin/python -m lib ingest catalog.csv        (path,title,artist,album,release_date,isrc,label,...)
Identify:        .venv/bin/python -m lib identify clip.mp3 [--json]
"""


def _excerpts(folder: Path) -> list[str]:
    rng = np.random.default_rng(1)
    clip = demo_song(2, 30.0)[8 * RATE : 18 * RATE]  # DEMO03
    noisy = clip + rng.standard_normal(len(clip)).astype(np.float32) * clip.std()
    files = {
        "demo03_excerpt_clean.wav": (clip, RATE),
        "demo03_excerpt_noise_0dB.wav": (noisy / np.abs(noisy).max(), RATE),
        "demo03_excerpt_4pct_faster.wav": (clip, int(RATE * 1.04)),  # same samples played faster
        "not_in_catalog.wav": (song(424242, 10.0), RATE),
    }
    for name, (samples, rate) in files.items():
        soundfile.write(folder / name, samples, rate)
    return [str(folder / name) for name in files]


def run(db: str) -> int:
    with tempfile.TemporaryDirectory() as folder:
        status = main(["--db", db, "identify", *_excerpts(Path(folder))])
    print(_HOW_TO)
    return status


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--db", default=default_db())
    raise SystemExit(run(parser.parse_args().db))
