"""Hard queries at catalog scale: 5 s excerpts at 10 dB SNR, played 0.94-1.06x fast.

The scale benchmark's 192 queries are 10 s long and mostly answered at any size; a
change to the search (the seeds, the cap, the PostgreSQL look-up) can lose the marginal
ones and still score 144/144 there. These are the marginal ones: 24 corpus tracks ×
14 speeds (tempo and pitch together, resampled), a random 5 s excerpt each, white noise
at 10 dB SNR, all drawn from one seed. Each catalog is searched in turn: the public
corpus plus synthetic tracks up to each size in memory (bench/scale.py's), and, with
`--postgresql`, the scale benchmark's database as it left it (database look-ups).

    python -m bench.hard_queries --hours 0,100,1000 --postgresql

Prints, per catalog, how many queries found their track first and the median time
(figures: docs/engine.md, "Catalog scale").
"""

from __future__ import annotations

import argparse
import csv
import time
from collections.abc import Iterator
from itertools import chain
from pathlib import Path

import numpy as np

from bench.run import ensure_corpus
from bench.scale import PG_DB, PG_URL, ROOT, Synthetic, n_synthetic
from lib.core.recognizer import Recognizer
from lib.fingerprint import audio
from lib.fingerprint.config import DEFAULT, EngineConfig
from lib.fingerprint.index import HashIndex, Index, TrackPrint
from lib.fingerprint.pipeline import identify
from lib.store import Catalog, connect

SEED = 7
TRACKS = 24
SPEEDS = np.linspace(0.94, 1.06, 14)
SECONDS = 5.0
SNR_DB = 10.0


def hard_queries(corpus: Path, config: EngineConfig) -> Iterator[tuple[str, np.ndarray]]:
    """(source track id, samples) of every hard query, the same on every call."""
    rng = np.random.default_rng(SEED)
    with (corpus / "catalog.csv").open() as f:
        rows = [r for r in csv.DictReader(f) if float(r["duration_s"]) > 30][:TRACKS]
    n_out = round(SECONDS * config.sample_rate)
    for row in rows:
        samples = audio.load(corpus / row["path"], config)
        for speed in SPEEDS:
            start = rng.integers(0, len(samples) - int(n_out * speed) - 1)
            played = np.interp(start + np.arange(n_out) * speed, np.arange(len(samples)), samples)
            noise = rng.normal(0, np.sqrt(np.mean(played**2) / 10 ** (SNR_DB / 10)), n_out)
            yield row["track_id"], (played + noise).astype(np.float32)


def found(queries: list[tuple[str, np.ndarray]], index: HashIndex, config: EngineConfig) -> tuple[int, float]:
    """(queries whose best match is their track, median milliseconds)."""
    hits, ms = 0, []
    for track_id, samples in queries:
        start = time.perf_counter()
        matches = identify(samples, index, config)
        ms.append((time.perf_counter() - start) * 1000)
        hits += bool(matches) and matches[0].track_id == track_id
    return hits, float(np.median(ms))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", type=Path, default=ROOT / ".corpus")
    parser.add_argument("--real", type=Path, default=ROOT / "bench" / "work" / "scale" / "real.db",
                        help="the corpus's catalog as bench/scale.py ingested it")  # fmt: skip
    parser.add_argument("--hours", default="0,100,1000", help="in-memory catalog sizes, comma-separated")
    parser.add_argument("--postgresql", action="store_true", help=f"also the database {PG_DB} bench/scale.py left")
    args = parser.parse_args()
    config = DEFAULT
    ensure_corpus(args.corpus)
    queries = list(hard_queries(args.corpus, config))
    with Catalog(args.real, config) as catalog:
        real: list[TrackPrint] = list(catalog.prints())
    synth = Synthetic.fitted(real, config)
    real_seconds = sum(p.n_frames for p in real) * config.frame_seconds
    for hours in (int(h) for h in args.hours.split(",") if h):
        n_syn = n_synthetic(hours, real_seconds) if hours else 0

        def prints(n: int = n_syn) -> Iterator[TrackPrint]:
            return chain(real, synth.prints(n))

        index = Index.streamed(prints, config)
        hits, median = found(queries, index, config)
        size = f"{hours} h" if hours else "the public corpus"
        print(f"memory, {size}: {hits}/{len(queries)} found, median {median:.1f} ms", flush=True)
        del index
    if args.postgresql:
        with Catalog(connect(f"{PG_URL}/{PG_DB}"), config) as catalog:
            hits, median = found(queries, Recognizer(catalog, config, lookups="database").index, config)
            print(f"postgresql ({catalog.count()} tracks): {hits}/{len(queries)} found, median {median:.1f} ms")


if __name__ == "__main__":
    main()
