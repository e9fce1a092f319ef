"""`make bench-long`: an hour-long DJ mix of real corpus music, scanned for every song.

The mix (built once, then kept in bench/work) strings excerpts of catalog tracks and of
unknown tracks with 3 s cross-fades, stretches of silence, and some excerpts played
±3 % fast or slow, and is encoded as a 44.1 kHz stereo MP3, like a mix a client uploads.
The scan runs pinned to one core, decode included, several times; the report gives the
median throughput, peak memory, and how the segments compare with the truth: every
catalog piece found as one segment of the right track, boundary errors, extra segments.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import resource
import subprocess
import sys
import time
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np

from bench.run import ROOT, ensure_corpus
from lib.core.ingest import discover, ingest
from lib.core.recognizer import Recognizer
from lib.fingerprint import audio
from lib.fingerprint.config import EngineConfig
from lib.store import Catalog
from lib.synth.mixes import Piece, Placed, layout, render, sequence, silence, speed_changed

RATE = 44100
_SHARES_AUDIO_WITH_CATALOG = {"P0046"}  # hr3-desert: a few seconds of hr3-hell (corpus README)


def _decode(path: Path) -> np.ndarray:
    return audio.load(path, EngineConfig(sample_rate=RATE))  # the engine's decoder, at the mix's rate


def catalog_rows(corpus: Path) -> list[dict[str, str]]:
    with (corpus / "catalog.csv").open() as f:
        return list(csv.DictReader(f))


def _pieces(corpus: Path, minutes: float, seed: int) -> list[Piece]:
    rng = np.random.default_rng(seed)
    catalog = catalog_rows(corpus)
    with (corpus / "unknown.csv").open() as f:
        unknown = [row for row in csv.DictReader(f) if row["track_id"] not in _SHARES_AUDIO_WITH_CATALOG]
    pieces: list[Piece] = []
    total = 0.0
    order = list(rng.permutation(len(catalog)))
    while total < minutes * 60:
        roll = rng.random()
        if roll < 0.08:
            pieces.append(silence(float(rng.uniform(4, 10)), RATE))
        else:
            known = roll >= 0.23
            row = catalog[order.pop()] if known and order else unknown[rng.integers(len(unknown))]
            samples = _decode(corpus / row["path"])
            length = min(float(rng.uniform(40, 150)), len(samples) / RATE - 4)
            ref_start = float(rng.uniform(0, len(samples) / RATE - length))
            speed = float(rng.choice([0.97, 1.03])) if rng.random() < 0.2 else 1.0
            excerpt = samples[round(ref_start * RATE) : round((ref_start + length) * RATE)]
            previous_is_music = bool(pieces) and pieces[-1].samples.any()
            pieces.append(
                Piece(
                    speed_changed(excerpt, speed) if speed != 1.0 else excerpt,
                    track_id=row["track_id"] if known else None,
                    ref_start=round(ref_start, 3),
                    speed=speed,
                    fade_in=3.0 if previous_is_music else 0.0,
                )
            )
        total = sum(len(p.samples) for p in pieces) / RATE - sum(p.fade_in for p in pieces)
    return sequence(pieces)


def build_mix(corpus: Path, out: Path, minutes: float, seed: int) -> None:
    pieces = _pieces(corpus, minutes, seed)
    with av.open(str(out), "w") as container:
        stream = container.add_stream("mp3", rate=RATE)
        stream.layout, stream.bit_rate = "stereo", 192_000
        at = 0
        for block in render(pieces, RATE):
            for start in range(0, len(block), 1 << 16):
                part = np.clip(block[start : start + (1 << 16)], -1, 1)
                frame = av.AudioFrame.from_ndarray(np.vstack([part, part]), format="fltp", layout="stereo")
                frame.sample_rate, frame.pts, frame.time_base = RATE, at, Fraction(1, RATE)
                at += len(part)
                container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    truth = [p.__dict__ for p in layout(pieces, RATE)]
    out.with_suffix(".json").write_text(json.dumps({"seconds": at / RATE, "truth": truth}, indent=1))


def compare(truth: list[Placed], found: list[tuple[str, float, float]]) -> dict[str, Any]:
    """Each catalog piece against the segments of its track that overlap it; boundary
    errors apart for cuts (a hard cut or silence) and cross-fades."""
    errors: dict[str, list[float]] = {"cut": [], "fade": []}
    missed = split = 0
    used: set[int] = set()
    for piece in truth:
        mine = [
            i for i, (track, s, e) in enumerate(found) if track == piece.track_id and s < piece.end and e > piece.start
        ]
        used.update(mine)
        if not mine:
            missed += 1
            continue
        split += len(mine) > 1
        start, end = min(found[i][1] for i in mine), max(found[i][2] for i in mine)
        errors["fade" if piece.fade_in else "cut"].append(abs(start - piece.start))
        errors["fade" if piece.fade_out else "cut"].append(abs(end - piece.end))
    return {"pieces": len(truth), "missed": missed, "split": split, "extra": len(found) - len(used), **errors}


def _errors(values: list[float]) -> str:
    if not values:
        return "none"
    within = 100 * float(np.mean(np.array(values) <= 1.0))
    return f"{len(values)}: median {np.median(values):.2f} s, max {np.max(values):.2f} s, {within:.0f}% within 1 s"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--corpus", type=Path, default=ROOT / ".corpus")
    parser.add_argument("--work", type=Path, default=ROOT / "bench" / "work")
    parser.add_argument("--minutes", type=float, default=60.0)
    parser.add_argument("--seed", type=int, default=20261121)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "RESULTS_LONG.md")
    parser.add_argument("--build-mix", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.build_mix:
        build_mix(args.corpus, args.build_mix, args.minutes, args.seed)
        return
    ensure_corpus(args.corpus)
    args.work.mkdir(parents=True, exist_ok=True)
    mix = args.work / f"mix-{args.minutes:g}min-{args.seed}.mp3"
    if not mix.with_suffix(".json").exists():  # in another process: its memory is not the scan's
        command = [sys.executable, "-m", "bench.long_media", "--build-mix", str(mix)]
        subprocess.run([*command, "--minutes", str(args.minutes), "--seed", str(args.seed)], check=True, cwd=ROOT)
    answer = json.loads(mix.with_suffix(".json").read_text())
    truth = [Placed(**t) for t in answer["truth"]]

    with Catalog(args.work / "long.db") as catalog:
        engine = Recognizer(catalog)
        ingest(catalog, discover(args.corpus / "catalog.csv"), jobs=os.cpu_count() or 1, progress=False)
        engine.index  # noqa: B018 (built before timing)
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        seconds = []
        for _ in range(args.runs):
            start = time.perf_counter()
            found = engine.scan_file(mix).found
            seconds.append(time.perf_counter() - start)
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    score = compare(truth, [(f.track.track_id, f.match.query_start, f.match.query_end) for f in found])
    wall = float(np.median(seconds))
    runs = ", ".join(f"{s:.1f}" for s in seconds)
    report = [
        f"# Long media: a {answer['seconds'] / 60:.1f}-minute mix of corpus music (seed {args.seed})",
        "",
        f"Machine: {platform.machine()}, scan pinned to one core; catalog {len(catalog_rows(args.corpus))} tracks.",
        "",
        "| figure | value | target |",
        "|---|---|---|",
        f"| scan, decode included, one core | {answer['seconds'] / wall:.0f}x realtime ({wall:.1f} s, median of "
        f"{args.runs}: {runs}) | ≥ 200x |",
        f"| catalog pieces found as one segment | {score['pieces'] - score['missed'] - score['split']}"
        f"/{score['pieces']} (missed {score['missed']}, split {score['split']}) | all |",
        f"| extra segments (no such piece) | {score['extra']} | 0 |",
        f"| boundaries at cuts and silences | {_errors(score['cut'])} | ≤ 1 s |",
        f"| boundaries at 3 s cross-fades (truth: the fade's far end) | {_errors(score['fade'])} | ≤ 1 s |",
        f"| peak memory | {peak:.0f} MB ({before:.0f} MB before the scan) | bounded |",
    ]
    args.out.write_text("\n".join(report) + "\n")
    print("\n".join(report))


if __name__ == "__main__":
    main()
