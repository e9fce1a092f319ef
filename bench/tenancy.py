"""`make bench-tenancy`: does one customer's music cost another anything? Query time with
100 owners x 100 tracks of their own next to the reference catalog, against the same
reference catalog alone, written to bench/TENANCY.md (docs/tenancy.md).

The reference catalog is a corpus's (ingested as bench/run.py does: the dev set's is
about 12 hours). The owners' tracks are synthetic 4-minute prints drawn from the
corpus's own hash statistics (bench/scale.py: `Synthetic`), 667 hours in all. Each query
(a fixed subset of the corpus's, decoded once: engine time only) runs, interleaved, on
the store without owners, on the store with them (reference only), and on the store with
them as one owner with `include_own` (reference and its 100 tracks joined); the answers
of the first two must be the same, track and score. On SQLite and on PostgreSQL, with
the reference index in memory and, on PostgreSQL, in the database's postings.

    make bench-tenancy CORPUS=/path/to/dev-corpus
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import psycopg

from bench.scale import PG_URL, Synthetic, load_queries, log
from lib.core.ingest import discover, ingest
from lib.core.recognizer import Lookups, Recognizer
from lib.fingerprint.config import DEFAULT
from lib.store import Catalog, Track, connect
from lib.store.catalog import REFERENCE

ROOT = Path(__file__).resolve().parent.parent
OWNERS, TRACKS = 100, 100
ASKING = "owner-042"  # the owner whose own collection is joined to the reference


def reference_store(corpus: Path, path: Path) -> Path:
    """The corpus's catalog ingested at `path` (once: kept for the next run)."""
    if not path.exists():
        log("ingesting the reference catalog")
        with Catalog(path) as catalog:
            ingest(catalog, discover(corpus / "catalog.csv"), progress=False)
    return path


def owner(number: int) -> str:
    return f"owner-{number:03d}"


def add_owners(catalog: Catalog, synth: Synthetic) -> float:
    """Every owner's tracks; the seconds it took."""
    start = time.perf_counter()
    prints = synth.prints(OWNERS * TRACKS)
    for number in range(OWNERS):
        for _ in range(TRACKS):
            made = next(prints)
            track_id = f"{owner(number)}-{made.track_id}"
            catalog.add(Track(track_id=track_id), replace(made, track_id=track_id), owner=owner(number))
        if number % 20 == 19:
            log(f"{number + 1} owners added")
    return time.perf_counter() - start


@contextmanager
def postgres_database(name: str) -> Iterator[str]:
    with psycopg.connect(f"{PG_URL}/postgres", autocommit=True) as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.execute(f"CREATE DATABASE {name}")
    try:
        yield f"{PG_URL}/{name}"
    finally:
        with psycopg.connect(f"{PG_URL}/postgres", autocommit=True) as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def copy_reference(source: Catalog, target: Catalog) -> None:
    for fingerprint in source.prints():
        track = source.get(fingerprint.track_id)
        assert track is not None
        target.add(track, fingerprint)


def measure(
    queries: list[Any], alone: Recognizer, crowded: Recognizer
) -> tuple[dict[str, list[float]], int]:  # fmt: skip
    """Per case, each query's engine milliseconds; and how many reference answers differed
    between the store without owners and the one with them."""
    cases = {
        "reference alone": (alone, (REFERENCE,)),
        "reference, 100 owners stored": (crowded, (REFERENCE,)),
        "reference + own 100 tracks (include_own)": (crowded, (REFERENCE, ASKING)),
    }
    for engine, owners in cases.values():  # load every index before timing
        engine.identify(queries[0].samples, owners=owners)
    times: dict[str, list[float]] = {case: [] for case in cases}
    differ = 0
    for query in queries:
        answers = {}
        for case, (engine, owners) in cases.items():
            start = time.perf_counter()
            found = engine.identify(query.samples, owners=owners)
            times[case].append((time.perf_counter() - start) * 1000)
            answers[case] = [(f.track.track_id, f.match.score) for f in found]
        differ += answers["reference alone"] != answers["reference, 100 owners stored"]
    return times, differ


def backend_rows(label: str, times: dict[str, list[float]], differ: int, n: int) -> list[str]:
    base = statistics.median(times["reference alone"])
    rows = []
    for case, ms in times.items():
        median = statistics.median(ms)
        rows.append(
            f"| {label} | {case} | {median:.1f} | {np.percentile(ms, 95):.1f} | {median / base:.2f} |"
            + (f" {differ} of {n} |" if case == "reference, 100 owners stored" else " |")
        )
    return rows


def run(corpus: Path, work: Path, backends: list[str]) -> str:
    work.mkdir(parents=True, exist_ok=True)
    reference_db = reference_store(corpus, work / "reference.db")
    queries = load_queries(corpus, DEFAULT)
    log(f"{len(queries)} queries decoded")
    rows, notes = [], []
    with Catalog(reference_db) as reference:
        synth = Synthetic.fitted(list(reference.prints()), DEFAULT)
        hours = reference.stats()["hours"]
        if "sqlite" in backends:
            crowded_db = work / "owners.db"
            crowded_db.unlink(missing_ok=True)
            with Catalog(crowded_db) as crowded:
                copy_reference(reference, crowded)
                seconds = add_owners(crowded, synth)
                notes.append(f"SQLite: {OWNERS * TRACKS} owners' tracks added in {seconds:.0f} s")
                times, differ = measure(queries, Recognizer(reference), Recognizer(crowded))
                rows += backend_rows("SQLite, index in memory", times, differ, len(queries))
            crowded_db.unlink()
        if "postgresql" in backends:
            with (
                postgres_database("cleared_tenancy_alone") as alone_url,
                postgres_database("cleared_tenancy_owners") as crowded_url,
            ):
                alone, crowded = Catalog(connect(alone_url)), Catalog(connect(crowded_url))
                copy_reference(reference, alone)
                copy_reference(reference, crowded)
                seconds = add_owners(crowded, synth)
                notes.append(f"PostgreSQL: {OWNERS * TRACKS} owners' tracks added in {seconds:.0f} s")
                lookups: Lookups
                for lookups in ("memory", "database"):
                    times, differ = measure(
                        queries, Recognizer(alone, lookups=lookups), Recognizer(crowded, lookups=lookups)
                    )
                    rows += backend_rows(f"PostgreSQL, index in {lookups}", times, differ, len(queries))
                alone.close()
                crowded.close()
    return "\n".join([
        "# Tenancy: query time with other owners' music in the store",
        "",
        f"`make bench-tenancy` (bench/tenancy.py). Reference catalog: {corpus.name}'s, {hours:.1f} h; "
        f"{OWNERS} owners x {TRACKS} synthetic 4-minute tracks ({OWNERS * TRACKS * 4 / 60:.0f} h) beside it. "
        f"{len(queries)} queries (bench/scale.py's conditions), engine time only, the three cases interleaved "
        f"per query. Machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}.",
        "",
        "| backend | searched | median ms | p95 ms | vs alone | reference answers changed |",
        "|---|---|---|---|---|---|",
        *rows,
        "",
        *(f"- {note}" for note in notes),
        "",
    ])  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, required=True)
    parser.add_argument("--work", type=Path, default=ROOT / "bench" / "work" / "tenancy")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "TENANCY.md")
    parser.add_argument("--backends", nargs="+", choices=["sqlite", "postgresql"], default=["sqlite", "postgresql"])
    args = parser.parse_args()
    report = run(args.corpus, args.work, args.backends)
    args.out.write_text(report)
    print(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
