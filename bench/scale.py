"""`make bench-scale`: query latency and memory at catalog sizes of 10 to 10,000 hours,
for the in-memory index and for PostgreSQL's postings, written to bench/SCALE.md.

Each size is the public corpus (ingested once, as bench/run.py does) plus synthetic
4-minute tracks up to that many hours. A synthetic track's hashes draw each bit field
(anchor bin, the two bin differences, time ratio, span; hashes.py) from that field's
distribution over the real corpus, and its anchors are uniform over the track at the
corpus's density, so a look-up meets about as many entries as it would in real music
of that size. The prints are made from a seed, batch by batch, so the index build
regenerates them for its second pass instead of holding them (Index.streamed).

The queries are a fixed subset of the corpus's (the conditions in QUERY_CONDITIONS,
matching and out-of-catalog), decoded once: the figure is the engine's time, decode
excluded, as bench/run.py's "engine only". Results are kept per (size, backend) in
bench/work/scale/results.json, so sizes can be measured by separate runs
(`--sizes`, `--backends`); SCALE.md is written from all of them.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import gc
import json
import os
import platform
import shutil
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from itertools import chain
from pathlib import Path
from typing import Any

import numpy as np
import psycopg

from bench.run import ensure_corpus
from lib.core.ingest import discover, ingest
from lib.core.recognizer import Recognizer
from lib.fingerprint import audio
from lib.fingerprint.allocator import keep_freed_memory
from lib.fingerprint.config import DEFAULT, EngineConfig
from lib.fingerprint.index import HashIndex, Index, TrackPrint
from lib.fingerprint.live import LiveIndex
from lib.fingerprint.pipeline import identify
from lib.store import Catalog, connect, postings
from lib.store.postings import copy_buffer

ROOT = Path(__file__).resolve().parent.parent
SIZES = (10, 100, 1000, 10000)
QUERY_CONDITIONS = ("clean_10s", "white_snr5", "mp3_64k", "speed_p5", "tempo_m5", "pitch_p1")
TRACK_SECONDS = 240.0  # a synthetic track
BATCH = 256  # synthetic tracks drawn per generator call
SEED = 20261121
PG_URL = os.environ.get("CLEARED_SCALE_PG", "postgresql://postgres@127.0.0.1:5432")
PG_DB = "cleared_scale"
TARGETS = {("memory", 10000): 50.0, ("postgresql", 1000): 100.0}  # query median, ms
COPY_ROWS = 1 << 22  # postings per COPY statement
_TABLE = 1 << 16  # resolution of the inverse-CDF tables: 1/65536


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# --- synthetic fingerprints --------------------------------------------------------


def _fields(config: EngineConfig) -> list[tuple[int, int]]:
    """(shift, bits) of each hash field, most significant first (hashes.warp)."""
    widths = [config.f_bits, config.df_bits, config.df_bits, config.ratio_bits, config.span_bits]
    shifts = np.cumsum(widths[::-1])[::-1] - widths
    return [(int(s), w) for s, w in zip(shifts, widths, strict=True)]


@dataclass(frozen=True)
class Synthetic:
    """Deterministic synthetic prints drawn from the real corpus's field distributions."""

    tables: list[np.ndarray]  # per field: _TABLE values whose histogram is the field's
    fields: list[tuple[int, int]]
    per_track: int  # entries per synthetic track (the corpus's density)
    n_frames: int
    seed: int = SEED

    @classmethod
    def fitted(cls, prints: list[TrackPrint], config: EngineConfig) -> Synthetic:
        hashes = np.concatenate([p.hashes for p in prints]).astype(np.int64)
        fields = _fields(config)
        tables = []
        for shift, bits in fields:
            counts = np.bincount((hashes >> shift) & (2**bits - 1), minlength=2**bits)
            edges = np.cumsum(counts) / counts.sum()
            tables.append(np.searchsorted(edges, (np.arange(_TABLE) + 0.5) / _TABLE, side="right"))
        seconds = sum(p.n_frames for p in prints) * config.frame_seconds
        n_frames = round(TRACK_SECONDS / config.frame_seconds)
        return cls(tables, fields, round(len(hashes) / seconds * TRACK_SECONDS), n_frames)

    def prints(self, n_tracks: int) -> Iterator[TrackPrint]:
        """The first `n_tracks` synthetic tracks, the same on every call."""
        for batch in range(0, n_tracks, BATCH):
            count = min(BATCH, n_tracks - batch)
            rng = np.random.default_rng([self.seed, batch])
            n = count * self.per_track
            code = np.zeros(n, np.uint32)
            for table, (shift, _) in zip(self.tables, self.fields, strict=True):
                code |= table[rng.integers(0, _TABLE, n, dtype=np.uint16)].astype(np.uint32) << np.uint32(shift)
            times = np.sort(rng.integers(0, self.n_frames, (count, self.per_track), dtype=np.uint32), axis=1)
            for k in range(count):
                span = slice(k * self.per_track, (k + 1) * self.per_track)
                yield TrackPrint(f"SYN{batch + k:07d}", code[span], times[k], self.n_frames)


# --- measuring -----------------------------------------------------------------------


@dataclass(frozen=True)
class Query:
    samples: np.ndarray
    expected: str | None  # source track id, None for out-of-catalog


def load_queries(corpus: Path, config: EngineConfig) -> list[Query]:
    with (corpus / "queries.csv").open() as f:
        rows = [r for r in csv.DictReader(f) if r["condition"] in QUERY_CONDITIONS]
    return [
        Query(audio.load(corpus / r["query_file"], config), r["source_track_id"] if r["expected"] == "match" else None)
        for r in rows
    ]


def run_queries(queries: list[Query], index: HashIndex, config: EngineConfig) -> dict[str, Any]:
    ms, hits, n_match, false_pos, n_none = [], 0, 0, 0, 0
    for q in queries:
        start = time.perf_counter()
        matches = identify(q.samples, index, config)
        ms.append((time.perf_counter() - start) * 1000)
        if q.expected is None:
            n_none += 1
            false_pos += bool(matches)
        else:
            n_match += 1
            hits += bool(matches) and matches[0].track_id == q.expected
    return {
        "median_ms": float(np.median(ms)), "p95_ms": float(np.percentile(ms, 95)),
        "top1": hits, "n_match": n_match, "false_pos": false_pos, "n_none": n_none,
    }  # fmt: skip


def rss() -> tuple[int, int]:
    """(current, peak since the last reset) resident bytes of this process."""
    status = dict(line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines() if ":" in line)
    return int(status["VmRSS"].split()[0]) * 1024, int(status["VmHWM"].split()[0]) * 1024


def reset_peak() -> None:
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")  # Linux: reset VmHWM to the current RSS


def n_synthetic(hours: float, real_seconds: float) -> int:
    return max(0, int(np.ceil((hours * 3600 - real_seconds) / TRACK_SECONDS)))


def measured_index(
    label: str,
    backend: str,
    hours: int,
    build: Callable[[], Index | LiveIndex],
    queries: list[Query],
    config: EngineConfig,
) -> dict[str, Any]:
    """Build an in-memory index with `build`, measuring its time and the process's memory,
    then time the queries on it."""
    gc.collect()
    reset_peak()
    before, _ = rss()
    start = time.perf_counter()
    index = build()
    build_s = time.perf_counter() - start
    after, peak = rss()
    log(f"{label}: built in {build_s:.0f} s, {index.nbytes / 1e9:.2f} GB; peak RSS {peak / 1e9:.2f} GB")
    result = run_queries(queries, index, config)
    log(f"{label}: query median {result['median_ms']:.1f} ms, p95 {result['p95_ms']:.1f} ms")
    entries = index.base.n_entries + index.delta.n_entries if isinstance(index, LiveIndex) else index.n_entries
    result.update(
        hours=hours, backend=backend, entries=entries, tracks=len(index.track_ids), bytes=index.nbytes,
        rss_before=before, rss_after=after, rss_peak=peak, build_s=build_s,
    )  # fmt: skip
    del index
    gc.collect()
    return result


def measure_memory(
    hours: int, real: list[TrackPrint], synth: Synthetic, queries: list[Query], config: EngineConfig
) -> dict[str, Any]:
    n_syn = n_synthetic(hours, sum(p.n_frames for p in real) * config.frame_seconds)
    entries = sum(len(p.hashes) for p in real) + n_syn * synth.per_track
    log(f"memory {hours} h: building the index of {len(real)} + {n_syn} tracks, {entries:,} entries")
    return measured_index(
        f"memory {hours} h", "memory", hours,
        lambda: Index.streamed(lambda: chain(real, synth.prints(n_syn)), config, entries=entries), queries, config,
    )  # fmt: skip


def measure_postgres(
    hours: int,
    real_catalog: Catalog,
    real: list[TrackPrint],
    synth: Synthetic,
    queries: list[Query],
    config: EngineConfig,
) -> tuple[dict[str, Any], dict[str, Any]]:
    n_syn = n_synthetic(hours, sum(p.n_frames for p in real) * config.frame_seconds)
    with psycopg.connect(f"{PG_URL}/postgres", autocommit=True) as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {PG_DB} WITH (FORCE)")
        admin.execute(f"CREATE DATABASE {PG_DB}")
    url = f"{PG_URL}/{PG_DB}"
    database = connect(url)
    catalog = Catalog(database, config)
    start = time.perf_counter()
    log(f"postgresql {hours} h: the real corpus through Catalog.add ({len(real)} tracks)")
    for p in real:
        track = real_catalog.get(p.track_id)
        assert track is not None
        catalog.add(track, p)
    log(f"postgresql {hours} h: {n_syn} synthetic tracks in bulk")
    with psycopg.connect(url) as conn:
        now = time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime())
        with conn.cursor().copy("COPY tracks (track_id, added_at) FROM STDIN") as copy:
            for k in range(n_syn):
                copy.write_row((f"SYN{k:07d}", now))
        # the blobs are what an instance's in-memory cache loads (database look-ups read postings)
        with conn.cursor().copy("COPY fingerprints (track_id, n_frames, hashes, times) FROM STDIN") as copy:
            for p in synth.prints(n_syn):
                blobs = p.hashes.astype("<u4").tobytes(), p.times.astype("<u4").tobytes()
                copy.write_row((p.track_id, p.n_frames, *blobs))
        rows = conn.execute("SELECT track_id, track_no FROM fingerprints WHERE track_id LIKE 'SYN%'")
        numbers: dict[str, int] = dict(rows)
        conn.execute("DROP INDEX postings_by_hash")
        conn.execute("DROP INDEX postings_by_track")
        conn.commit()
        empty = TrackPrint("", np.empty(0, np.uint32), np.empty(0, np.uint32), 0)
        header, trailer = len(copy_buffer(0, empty)) - 2, 2  # the binary COPY's signature, its end
        parts: list[bytes] = []
        held = 0

        def flush() -> None:
            nonlocal parts, held
            with conn.cursor().copy("COPY postings (hash, track_no, frame) FROM STDIN (FORMAT BINARY)") as copy:
                copy.write(copy_buffer(0, empty)[:header])
                for part in parts:
                    copy.write(part)
                copy.write(b"\xff\xff")
            conn.commit()
            parts, held = [], 0

        for done, p in enumerate(synth.prints(n_syn), 1):
            parts.append(copy_buffer(numbers[p.track_id], p)[header:-trailer])
            held += len(p.hashes)
            if held >= COPY_ROWS:
                flush()
                if done % (BATCH * 16) < BATCH // 8 or done == n_syn:
                    log(f"postgresql {hours} h: copied {done}/{n_syn} tracks, {time.perf_counter() - start:.0f} s")
        if parts:
            flush()
        copied = time.perf_counter()
        copied_rows = sum(len(p.hashes) for p in real) + n_syn * synth.per_track  # what went in, exactly
        log(f"postgresql {hours} h: recreating the postings indexes")
        conn.autocommit = True
        conn.execute("SET maintenance_work_mem = '1GB'")
        conn.execute("CREATE INDEX postings_by_hash ON postings (hash) INCLUDE (track_no, frame)")
        conn.execute("CREATE INDEX postings_by_track ON postings USING brin (track_no)")
        log(f"postgresql {hours} h: listing the crowded hashes")
        with database.transaction() as db:  # what each Catalog.add does for its own hashes
            postings.list_crowded(db, config.query_hash_cap)
        indexed = time.perf_counter()
        log(f"postgresql {hours} h: VACUUM ANALYZE")
        conn.execute("VACUUM ANALYZE")
        load_s = time.perf_counter() - start
        sizes = conn.execute(
            "SELECT pg_table_size('postings'), pg_indexes_size('postings'), pg_database_size(current_database())"
        ).fetchone()
        assert sizes is not None
        table_bytes, index_bytes, db_bytes = sizes
    log(f"postgresql {hours} h: loaded in {load_s:.0f} s; postings {_gb(table_bytes)} + {_gb(index_bytes)} indexes")
    engine = Recognizer(catalog, config, lookups="database")
    result = run_queries(queries, engine.index, config)
    log(f"postgresql {hours} h: query median {result['median_ms']:.1f} ms, p95 {result['p95_ms']:.1f} ms")
    cache = measure_cache(hours, catalog, queries, config)
    result.update(
        hours=hours, backend="postgresql", entries=copied_rows, tracks=len(real) + n_syn,
        bytes=int(table_bytes) + int(index_bytes), table_bytes=int(table_bytes), index_bytes=int(index_bytes),
        db_bytes=int(db_bytes), build_s=load_s, copy_s=copied - start, index_s=indexed - copied,
        vacuum_s=load_s - (indexed - start),
    )  # fmt: skip
    database.close()
    return result, cache


def measure_cache(hours: int, catalog: Catalog, queries: list[Query], config: EngineConfig) -> dict[str, Any]:
    """The default PostgreSQL deployment (`CLEARED_INDEX=memory`): an instance loads every
    fingerprint blob into its in-memory index once, then answers from it."""

    def load() -> LiveIndex:
        index = Recognizer(catalog, config).index
        assert isinstance(index, LiveIndex)
        return index

    return measured_index(f"postgresql {hours} h, memory cache", "cache", hours, load, queries, config)


def postgres_free_bytes() -> int | None:
    for path in ("/var/lib/postgresql", "/"):
        try:
            return shutil.disk_usage(path).free
        except OSError:
            continue
    return None


# --- report --------------------------------------------------------------------------


def _gb(n: float) -> str:
    return f"{n / 1e9:.2f} GB" if n >= 1e9 else f"{n / 1e6:.0f} MB"


def render(results: dict[str, dict[str, Any]], info: dict[str, Any]) -> str:
    lines = [
        "# Benchmark: catalog scale",
        "",
        f"Machine: {info['machine']}. Timings are from a shared machine and noisy.",
        "",
        f"Corpus: {info['corpus']}. Queries: {info['queries']}.",
        "",
        "Method: `python -m bench.scale` (bench/scale.py's docstring). Each size is the real corpus plus "
        f"synthetic {TRACK_SECONDS / 60:.0f}-minute tracks; a synthetic hash draws each bit field "
        "(anchor bin, two bin differences, time ratio, span) independently from that field's distribution "
        "over the real corpus, anchors uniform in the track at the corpus's density "
        f"({info.get('per_track', '?')} entries per track). In memory: `Index.streamed` regenerates the "
        "prints for its second pass; memory is the index's arrays, and the process's peak resident set "
        "during the build (the query audio and the real prints included). PostgreSQL: the real corpus "
        "through `Catalog.add`; synthetic tracks and fingerprints rows (with their blobs) by COPY, their "
        "postings by binary COPY (`copy_buffer`) with the postings indexes dropped, then recreated "
        "(maintenance_work_mem 1GB) and VACUUM ANALYZE; load time covers all of it. Disk is the "
        "postings table plus its indexes. The 'postgresql, memory cache' rows are the default PostgreSQL "
        "deployment (`CLEARED_INDEX=memory`): each instance loads the fingerprint blobs once into its "
        "in-memory index and answers from it (load time: `Recognizer(catalog).index` from PostgreSQL). "
        "Query times: `identify` on pre-decoded samples (engine only), "
        "each query once, in corpus order, after the build or load (PostgreSQL's pages mostly in the OS cache).",
        "",
        'Where the time goes, and what would close the gaps: docs/engine.md, "Catalog scale".',
        "",
        "| size | backend | entries | memory or disk | build/load time | query median | p95 | top-1 "
        "| false positives |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for hours in SIZES:
        for backend in ("memory", "postgresql", "cache"):
            r = results.get(f"{hours}/{backend}")
            if backend == "cache" and r is None:
                continue
            target = TARGETS.get((backend, hours))
            mark = f" (target ≤ {target:.0f} ms)" if target else ""
            if r is None or "skipped" in (r or {}):
                reason = (r or {}).get("skipped", "not measured")
                lines.append(f"| {hours:,} h | {backend} | | | | {reason}{mark} | | | |")
                continue
            if backend != "postgresql":
                space = f"index {_gb(r['bytes'])}, peak RSS {_gb(r['rss_peak'])}"
            else:
                space = f"{_gb(r['table_bytes'])} table + {_gb(r['index_bytes'])} indexes"
            met = ""
            if target:
                met = " ✓" if r["median_ms"] <= target else " ✗"
            label = {"cache": "postgresql, memory cache"}.get(backend, backend)
            lines.append(
                f"| {hours:,} h | {label} | {r['entries']:,} | {space} | {r['build_s']:.0f} s "
                f"| {r['median_ms']:.1f} ms{met}{mark} | {r['p95_ms']:.1f} ms "
                f"| {r['top1']}/{r['n_match']} | {r['false_pos']}/{r['n_none']} |"
            )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", type=Path, default=ROOT / ".corpus")
    parser.add_argument("--work", type=Path, default=ROOT / "bench" / "work" / "scale")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "SCALE.md")
    parser.add_argument("--sizes", default=",".join(map(str, SIZES)), help="hours, comma-separated")
    parser.add_argument("--backends", default="memory,postgresql")
    parser.add_argument("--pg-max-hours", type=int, default=1000, help="larger PostgreSQL sizes are skipped")
    parser.add_argument("--report-only", action="store_true", help="rewrite SCALE.md from the saved results")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    backends = args.backends.split(",")
    config = DEFAULT
    keep_freed_memory()  # as the engine does: query buffers stay mapped
    ensure_corpus(args.corpus)
    args.work.mkdir(parents=True, exist_ok=True)
    results_file = args.work / "results.json"
    results: dict[str, dict[str, Any]] = json.loads(results_file.read_text()) if results_file.exists() else {}
    if args.report_only:
        args.out.write_text(render(results, results["_info"]))
        print(args.out.read_text())
        return

    db = args.work / "real.db"
    with Catalog(db, config) as real_catalog:
        if real_catalog.count() == 0:
            log("ingesting the real corpus")
            ingest(real_catalog, discover(args.corpus / "catalog.csv"), jobs=os.cpu_count() or 1)
        real = list(real_catalog.prints())
        real_seconds = sum(p.n_frames for p in real) * config.frame_seconds
        synth = Synthetic.fitted(real, config)
        queries = load_queries(args.corpus, config)
        n_none = sum(q.expected is None for q in queries)
        info = {
            "machine": f"{platform.machine()}, {os.cpu_count()} cores, "
            f"{os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30:.0f} GiB RAM, "
            f"Python {platform.python_version()}, NumPy {np.__version__}",
            "corpus": f"{len(real)} tracks, {real_seconds / 3600:.2f} h, "
            f"{sum(len(p.hashes) for p in real):,} entries "
            f"({sum(len(p.hashes) for p in real) / real_seconds * 3600:,.0f} per hour)",
            "queries": f"{len(queries) - n_none} matching and {n_none} out-of-catalog, conditions "
            + ", ".join(QUERY_CONDITIONS),
            "per_track": synth.per_track,
        }
        results["_info"] = info
        log(f"corpus: {info['corpus']}; {info['queries']}")
        for hours in sizes:
            for backend in backends:
                key = f"{hours}/{backend}"
                if backend == "memory":
                    results[key] = measure_memory(hours, real, synth, queries, config)
                else:
                    # 44 bytes a row in the table, 32 in its indexes (measured at 100 and 1,000
                    # h), 8 in the fingerprint blobs
                    need = 84 * sum(len(p.hashes) for p in real) / real_seconds * hours * 3600
                    free = postgres_free_bytes()
                    if free is not None and need > free * 0.8:
                        results[key] = {"skipped": f"skipped: needs ~{_gb(need)} on disk, {_gb(free)} free"}
                        log(f"postgresql {hours} h: {results[key]['skipped']}")
                    elif hours > args.pg_max_hours:
                        results[key] = {"skipped": f"not run (over --pg-max-hours {args.pg_max_hours})"}
                    else:
                        results[key], results[f"{hours}/cache"] = measure_postgres(
                            hours, real_catalog, real, synth, queries, config
                        )
                results_file.write_text(json.dumps(results, indent=1))
                args.out.write_text(render(results, info))
    report = render(results, info)
    args.out.write_text(report)
    print(report)


if __name__ == "__main__":
    main()
