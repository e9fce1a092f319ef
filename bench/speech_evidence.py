"""Offline measurements for music under speech (`voiceover`, `bgm_quiet`): how much of a
clean reference survives in a query, by band and over the whole catalog.

The engine decodes to 8 kHz and reads 200-3600 Hz, the speech band. Two questions were
asked before building anything (docs/engine.md, "Music under speech: the high band and
a whole-catalog peak scan, the voice masked"):

- `bands`: does a higher band keep more of the music? Query and source excerpt are
  decoded at 22.05 kHz on one sample grid, put on a 200 Hz - 10.9 kHz log axis (24 bins
  an octave, 128 ms window, 32 ms hop) and their peaks picked (a) over the whole axis,
  (b) within each band alone, at the engine's densities per octave. A reference peak
  survives when the query picked one within a frame and a bin; chance is the same peaks
  1-2 s off. It also fits the query as gain x excerpt + rest and counts the reference
  peaks whose cell has more music than rest (the ceiling of any peak picking).
- `scan`: with a perfect search, do single peaks tell the track? Every offset of every
  catalog track is scored by the stored anchor peaks (verify.py's) heard in the query,
  as a z-score against the query's per-bin chance rate (`--chance bins`) or against
  the same offset's 20 neighbours 0.5-3 s away (`--chance local`, verify.py's rule);
  `--ref-peaks` stores denser reference peaks than the print's 14 a second.

    python -m bench.speech_evidence bands --corpus /work/corpora/dev --conditions voiceover,bgm_quiet
    python -m bench.speech_evidence scan --corpus /work/corpora/dev --conditions voiceover --out scan.json
"""

from __future__ import annotations

import argparse
import csv
import json
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path

import numpy as np

from lib.fingerprint import audio
from lib.fingerprint.config import DEFAULT, EngineConfig
from lib.fingerprint.filters import dilated, maximum_2d
from lib.fingerprint.peaks import Peaks, find_peaks
from lib.fingerprint.pipeline import reference_print
from lib.fingerprint.spectrogram import spectrogram
from lib.fingerprint.verify import anchor_peaks

WIDE = EngineConfig(sample_rate=22050, n_fft=2822, hop=706, n_bins=138, f_bits=8)
EDGES_HZ = (200, 400, 800, 1600, 3600, 5000, 8000, 10900)
EDGES = np.array([round(24 * np.log2(hz / 200)) for hz in EDGES_HZ])
REF_PER_OCTAVE = DEFAULT.ref_peaks_per_second / (DEFAULT.n_bins / DEFAULT.bins_per_octave)
QUERY_PER_OCTAVE = DEFAULT.query_peaks_per_second / (DEFAULT.n_bins / DEFAULT.bins_per_octave)
BAND_SHIFTS = (-62, -47, -31, 31, 47, 62)  # frames: chance placements 1-2 s off
LOCAL_SHIFTS = tuple(s for s in range(-96, 97, 8) if abs(s) >= 16)  # verify.py's
EDGE = DEFAULT.peak_time_radius


def _queries(corpus: Path, conditions: list[str], expected: str, per: int) -> Iterator[dict[str, str]]:
    with (corpus / "queries.csv").open() as f:
        rows = list(csv.DictReader(f))
    for condition in conditions:
        yield from [r for r in rows if r["condition"] == condition and r["expected"] == expected][:per]


def _mask(peaks: Peaks, shape: tuple[int, int]) -> np.ndarray:
    """Cells within a frame and a bin of a peak."""
    mask = np.zeros(shape, bool)
    mask[peaks.t, np.clip(np.rint(peaks.f).astype(np.int64), 0, shape[1] - 1)] = True
    return dilated(mask, (3, 3))


def _band_counts(ref: Peaks, heard: np.ndarray) -> np.ndarray:
    """Per band: reference peaks, heard at the alignment, heard by chance (expected)."""
    n_bands = len(EDGES) - 1
    t, f = ref.t, np.clip(np.rint(ref.f).astype(np.int64), 0, heard.shape[1] - 1)
    band = np.minimum(np.searchsorted(EDGES, f, side="right") - 1, n_bands)
    out = np.zeros((3, n_bands + 1))
    out[0] = np.bincount(band, minlength=n_bands + 1)
    out[1] = np.bincount(band, weights=heard[t, f], minlength=n_bands + 1)
    hits, placed = np.zeros(n_bands + 1), np.zeros(n_bands + 1)
    for shift in BAND_SHIFTS:
        ts = t + shift
        ok = (ts >= EDGE) & (ts < heard.shape[0] - EDGE)
        hits += np.bincount(band[ok], weights=heard[ts[ok], f[ok]], minlength=n_bands + 1)
        placed += np.bincount(band[ok], minlength=n_bands + 1)
    out[2] = hits / np.maximum(placed, 1) * out[0]
    return out[:, :n_bands]


def bands(corpus: Path, conditions: list[str], per: int) -> None:
    with (corpus / "catalog.csv").open() as f:
        paths = {r["track_id"]: r["path"] for r in csv.DictReader(f)}

    @lru_cache(maxsize=64)
    def track(track_id: str) -> np.ndarray:
        return audio.load(corpus / paths[track_id], WIDE)

    n_bands = len(EDGES) - 1
    for condition in conditions:
        whole, alone, music_above = np.zeros((3, n_bands)), np.zeros((3, n_bands)), np.zeros((2, n_bands))
        n = 0
        for query in _queries(corpus, [condition], "match", per):
            y = audio.load(corpus / query["query_file"], WIDE).astype(np.float64)
            start = round(float(query["start_s"]) * WIDE.sample_rate)
            x = track(query["source_track_id"])[start : start + len(y)].astype(np.float64)
            y = y[: len(x)]
            spec_q, spec_r = spectrogram(y, WIDE), spectrogram(x, WIDE)
            octaves = WIDE.n_bins / WIDE.bins_per_octave
            ref = find_peaks(spec_r, REF_PER_OCTAVE * octaves, WIDE)
            picked = find_peaks(spec_q, QUERY_PER_OCTAVE * octaves, WIDE)
            whole += _band_counts(ref, _mask(picked, spec_q.shape))
            for b in range(n_bands):
                lo, hi = int(EDGES[b]), int(EDGES[b + 1])
                ctx_lo, ctx_hi = max(lo - 3, 0), min(hi + 3, WIDE.n_bins)  # maxima at the band's edge are real ones
                width = (hi - lo) / WIDE.bins_per_octave
                r = find_peaks(spec_r[:, ctx_lo:ctx_hi], REF_PER_OCTAVE * width, WIDE)
                q = find_peaks(spec_q[:, ctx_lo:ctx_hi], QUERY_PER_OCTAVE * width, WIDE)
                inside = (r.f + ctx_lo >= lo - 0.5) & (r.f + ctx_lo < hi - 0.5)
                r = Peaks(r.t[inside], r.f[inside] + ctx_lo, r.strength[inside])
                heard = np.zeros(spec_q.shape, bool)
                heard[:, ctx_lo:ctx_hi] = _mask(q, (len(spec_q), ctx_hi - ctx_lo))
                alone[:, b] += _band_counts(r, heard)[:, b]
            gain = float(x @ y / max(x @ x, 1e-12))
            music = spectrogram((gain * x).astype(np.float32), WIDE)
            rest = spectrogram((y - gain * x).astype(np.float32), WIDE)
            f = np.clip(np.rint(ref.f).astype(np.int64), 0, WIDE.n_bins - 1)
            band = np.minimum(np.searchsorted(EDGES, f, side="right") - 1, n_bands)
            above = (music - rest)[ref.t, f]
            for k, margin in enumerate((0.0, 6.0)):
                music_above[k] += np.bincount(band, weights=above > margin, minlength=n_bands + 1)[:n_bands]
            n += 1

        def row(label: str, values: np.ndarray) -> None:
            print(f"  {label:34s}" + " ".join(f"{v:6.2f}" for v in values))

        print(f"{condition} ({n} queries)")
        row("band from (kHz)", np.array(EDGES_HZ[:-1]) / 1000)
        row("reference peaks, share", whole[0] / max(whole[0].sum(), 1))
        row("whole axis: survive", whole[1] / np.maximum(whole[0], 1))
        row("whole axis: chance", whole[2] / np.maximum(whole[0], 1))
        row("band alone: survive", alone[1] / np.maximum(alone[0], 1))
        row("band alone: chance", alone[2] / np.maximum(alone[0], 1))
        row("band alone: reference peaks/query", alone[0] / max(n, 1))
        row("music above the rest, > 0 / 6 dB", music_above[0] / np.maximum(whole[0], 1))
        row("", music_above[1] / np.maximum(whole[0], 1))


class Catalog:
    """Every catalog track's stored anchor peaks on one timeline, grouped by bin."""

    def __init__(self, corpus: Path, per_second: float | None = None) -> None:
        with (corpus / "catalog.csv").open() as f:
            tracks = list(csv.DictReader(f))
        times, bins, self.starts, self.ids = [], [], [], []
        clock = 0
        for row in tracks:
            samples = audio.load(corpus / row["path"])
            if per_second is None:  # the stored print's
                fingerprint = reference_print(row["track_id"], samples)
                t, f = anchor_peaks(fingerprint, DEFAULT)
                n_frames = fingerprint.n_frames
            else:  # denser than the stored print
                spec = spectrogram(samples)
                peaks = find_peaks(spec, per_second)
                t, f = peaks.t.astype(np.int64), np.rint(peaks.f).astype(np.int64)
                n_frames = len(spec)
            times.append(t + clock)
            bins.append(f)
            self.starts.append(clock)
            self.ids.append(row["track_id"])
            clock += n_frames + 64  # a gap: no window counts two tracks' peaks as one
        self.end = clock
        t, f = np.concatenate(times), np.concatenate(bins)
        order = np.lexsort((t, f))
        self.t, self.f = t[order], f[order]
        self.bin_start = np.searchsorted(self.f, np.arange(DEFAULT.n_bins + 1))

    def track_at(self, frame: int) -> str:
        return self.ids[int(np.searchsorted(self.starts, frame, side="right")) - 1]

    def z(self, heard: np.ndarray, chance: str) -> np.ndarray:
        """z-score of every offset o (index o + frames): the stored peaks in the query's
        window heard against chance."""
        frames = len(heard)
        valid = np.zeros(frames, bool)
        valid[EDGE : frames - EDGE] = True
        counts = np.zeros(self.end + frames)
        for b in range(DEFAULT.n_bins):
            tq = np.nonzero(heard[:, b] & valid)[0]
            tr = self.t[self.bin_start[b] : self.bin_start[b + 1]]
            offsets = (tr[:, None] - tq[None, :]).ravel() + frames
            counts += np.bincount(offsets[offsets >= 0], minlength=self.end + frames)[: self.end + frames]
        o = np.arange(self.end + frames) - frames
        lo, hi = np.clip(o + EDGE, 0, self.end + 1), np.clip(o + frames - EDGE, 0, self.end + 1)

        def window_sum(weights: np.ndarray) -> np.ndarray:
            cumulative = np.concatenate([[0.0], np.cumsum(np.bincount(self.t, weights, minlength=self.end + 1))])
            return cumulative[hi] - cumulative[lo]

        if chance == "local":
            placed = window_sum(np.ones(len(self.t)))
            padded = np.pad(counts, 96)
            base = sum(padded[96 + s : 96 + s + len(counts)] for s in LOCAL_SHIFTS) / len(LOCAL_SHIFTS)
            rate = np.clip(base / np.maximum(placed, 1), 0.01, 0.99)
            spread = np.sqrt(np.maximum(placed, 1) * rate * (1 - rate))
            return np.where(placed > 20, (counts - base) / spread, 0.0)
        rate = heard[valid].mean(axis=0)[self.f]
        expected, variance = window_sum(rate), window_sum(rate * (1 - rate))
        return np.where(variance > 4, (counts - expected) / np.sqrt(np.maximum(variance, 1e-9)), 0.0)


def scan(
    corpus: Path,
    conditions: list[str],
    unknown_conditions: list[str],
    per: int,
    picking: str,
    chance: str,
    ref_peaks: float | None,
    out: Path,
) -> None:
    catalog = Catalog(corpus, ref_peaks)
    fs = DEFAULT.frame_seconds
    results = []
    for expected, listed in (("match", conditions), ("none", unknown_conditions)):
        for query in _queries(corpus, listed, expected, per):
            spec = spectrogram(audio.load(corpus / query["query_file"]))
            if picking == "picked":
                heard = _mask(find_peaks(spec, DEFAULT.query_peaks_per_second), spec.shape)
            else:  # every local maximum over 5 x 5 cells
                maxima = spec == maximum_2d(spec, (5, 5))
                maxima[:EDGE] = maxima[len(spec) - EDGE :] = False
                heard = dilated(maxima, (3, 3))
            z = catalog.z(heard, chance)
            frames = len(spec)
            best = int(np.argmax(z))
            result = {
                "query": query["query_file"],
                "condition": query["condition"],
                "expected": expected,
                "named": catalog.track_at(best - frames + frames // 2),
                "z_best": float(z[best]),
            }
            if expected == "match":
                source = query["source_track_id"]
                truth = catalog.starts[catalog.ids.index(source)] + round(float(query["start_s"]) / fs) + frames
                result["z_true"] = float(z[truth - 2 : truth + 3].max())
                result["right"] = result["named"] == source
            results.append(result)
    out.write_text(json.dumps(results))
    for condition in dict.fromkeys(conditions + unknown_conditions):
        rows = [r for r in results if r["condition"] == condition]
        true = np.array([r["z_true"] for r in rows if r["expected"] == "match"])
        unknown = np.array([r["z_best"] for r in rows if r["expected"] == "none"])
        if len(true):
            print(f"{condition}: true z median {np.median(true):.1f}, p10 / p90 "
                  f"{np.percentile(true, 10):.1f} / {np.percentile(true, 90):.1f}; "
                  f"named right at z >= 7 / 8 / 9 / 10: " + " / ".join(
                      f"{np.mean([r['right'] and r['z_best'] >= bar for r in rows if r['expected'] == 'match']):.2f}"
                      for bar in (7, 8, 9, 10)))  # fmt: skip
        if len(unknown):
            print(f"{condition}: unknown strongest z median {np.median(unknown):.1f}, max {unknown.max():.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("what", choices=("bands", "scan"))
    parser.add_argument("--corpus", type=Path, required=True)
    parser.add_argument("--conditions", required=True, help="comma-separated")
    parser.add_argument("--unknown-conditions", help="comma-separated (scan; default: --conditions)")
    parser.add_argument("--per-condition", type=int, default=48)
    parser.add_argument("--picking", choices=("picked", "max5"), default="max5")
    parser.add_argument("--chance", choices=("bins", "local"), default="bins")
    parser.add_argument("--ref-peaks", type=float, help="reference peaks a second (default: the stored print's)")
    parser.add_argument("--out", type=Path, default=Path("speech_scan.json"))
    args = parser.parse_args()
    conditions = args.conditions.split(",")
    if args.what == "bands":
        bands(args.corpus, conditions, args.per_condition)
    else:
        unknown = args.unknown_conditions.split(",") if args.unknown_conditions else conditions
        scan(args.corpus, conditions, unknown, args.per_condition, args.picking, args.chance, args.ref_peaks, args.out)


if __name__ == "__main__":
    main()
