"""`python -m lib ...`: ingest, identify, tracks, remove, stats, demo, worker, webhook-secret, keys, migrate.

Scriptable: `--json` prints machine-readable output on stdout (one object per input for
identify), progress and errors go to stderr, and a bad file never stops a batch.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
from collections.abc import Sequence
from dataclasses import asdict

from loguru import logger

from gen.models import IdentifyTaskResult
from lib import gcloud_loguru, keys_cli
from lib.endpoints.long_media import long_media_result
from lib.endpoints.product import timecode
from lib.engine import Engine, Identified
from lib.fingerprint.audio import DecodeError
from lib.ingest import discover, ingest
from lib.store import Catalog, LayoutMismatch, connect, schema
from lib.store.db import is_url
from lib.store.keys import KeyStore


def default_db() -> str:
    """The store the server would use: $CLEARED_DATABASE_URL, else $CLEARED_DB, else data/cleared.db."""
    return os.environ.get("CLEARED_DATABASE_URL") or os.environ.get("CLEARED_DB", "data/cleared.db")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m lib", description="Cleared: music fingerprinting and clearance")
    parser.add_argument(
        "--db", default=None, help="the store: an SQLite file or a postgresql:// URL (default: $CLEARED_DATABASE_URL,"
        " else $CLEARED_DB, else data/cleared.db)",
    )  # fmt: skip
    commands = parser.add_subparsers(dest="command", required=True)

    p = commands.add_parser(
        "ingest", help="add a folder of audio files or a CSV of path,title,artist,... to the catalog"
    )
    p.add_argument("source", help="folder (tags read from the files) or CSV (paths relative to it)")
    p.add_argument("--jobs", type=int, default=None, help="worker processes (default: all cores)")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")

    p = commands.add_parser("identify", help="find catalog tracks in audio or video files")
    p.add_argument("files", nargs="+")
    p.add_argument("--json", action="store_true", help="one JSON object per input line")
    p.add_argument("--limit", type=int, default=5, help="at most this many matches per file")
    p.add_argument(
        "--segments", action="store_true", help="long media: every song segment, where it starts and ends, a summary"
    )

    commands.add_parser("migrate", help="bring the store's schema up to date (servers do it at start by default)")

    p = commands.add_parser("tracks", help="list the catalog")
    p.add_argument("--json", action="store_true")

    p = commands.add_parser("remove", help="remove a track and its fingerprints")
    p.add_argument("track_id")

    p = commands.add_parser("stats", help="catalog size")
    p.add_argument("--json", action="store_true")

    p = commands.add_parser("worker", help="run background tasks and webhooks until stopped (SIGINT/SIGTERM)")
    p.add_argument("--threads", type=int, default=None, help="task threads (default: $CLEARED_TASK_WORKERS or 2)")

    commands.add_parser("webhook-secret", help="print the secret webhooks are signed with")
    keys_cli.add_parser(commands)

    p = commands.add_parser("demo", help="write a folder of synthetic demo songs with a catalog.csv")
    p.add_argument("folder")
    p.add_argument("--count", type=int, default=12)
    return parser


def _match_json(found: Identified) -> dict[str, object]:
    track = found.track
    return {
        **asdict(found.match),
        "title": track.title,
        "artist": track.artist,
        "album": track.album,
        "release_date": track.release_date,
        "isrc": track.isrc,
        "label": track.label,
    }


def _identify(engine: Engine, args: argparse.Namespace) -> int:
    failures = 0
    for file in args.files:
        try:
            if args.segments:
                _print_segments(file, long_media_result(engine.scan_file(file), "dn"), args.json)
                continue
            found = engine.identify(file, limit=args.limit)
        except (OSError, DecodeError) as error:
            failures += 1
            print(f"error: {file}: {error}", file=sys.stderr)
            if args.json:
                print(json.dumps({"file": file, "error": str(error), "matches": []}), flush=True)
            continue
        if args.json:
            print(json.dumps({"file": file, "matches": [_match_json(f) for f in found]}), flush=True)
        elif not found:
            print(f"{file}: no match")
        for f in [] if args.json else found:
            m, t = f.match, f.track
            print(
                f"{file}: {t.artist} - {t.title} [{m.track_id}] score {m.score:.0f}, "
                f"query {m.query_start:.1f}-{m.query_end:.1f} s = reference {m.ref_start:.1f}-{m.ref_end:.1f} s, "
                f"speed {m.speed:.3f}, pitch {m.pitch:.3f}"
            )
    return 1 if failures else 0


def _print_segments(file: str, answer: IdentifyTaskResult, as_json: bool) -> None:
    """What the identify API's long-media task reports: every segment, then the summary."""
    if as_json:
        print(json.dumps({"file": file, **answer.model_dump(mode="json", include={"segments", "summary"})}), flush=True)
        return
    for s in answer.segments:
        print(
            f"{file}: {timecode(s.start_offset / 1000)}-{timecode(s.end_offset / 1000)} {s.artist} - {s.title} "
            f"[{s.track_id}] score {s.score:.0f}, reference {s.ref_start / 1000:.1f}-{s.ref_end / 1000:.1f} s, "
            f"speed {s.speed:.3f}"
        )
    summary = answer.summary
    flagged = [v.api_type.value for v in summary.verdicts if not v.cleared]
    print(
        f"{file}: {len(answer.segments)} segments, {summary.matched_seconds:.0f} of {summary.media_seconds:.0f} s "
        f"catalog music ({100 * summary.music_share:.0f} %); flagged by: {', '.join(flagged) or 'none'}"
    )


def _ingest(engine: Engine, args: argparse.Namespace) -> int:
    summary = ingest(engine, discover(args.source), jobs=args.jobs, progress=not args.json)
    report = {
        "added": summary.added,
        "skipped": summary.skipped,
        "failed": summary.failed,
        "tracks": engine.catalog.count(),
        "hours_added": round(summary.seconds_audio / 3600, 3),
        "seconds": round(summary.seconds_wall, 2),
        "x_realtime": round(summary.realtime, 1),
    }
    if args.json:
        print(json.dumps({**report, "errors": summary.errors}))
    else:
        print(
            f"added {report['added']} tracks ({report['hours_added']} h), skipped {report['skipped']} already present, "
            f"{report['failed']} failed; {report['seconds']} s, {report['x_realtime']}x realtime; "
            f"catalog: {report['tracks']} tracks"
        )
    return 1 if summary.failed and not summary.added and not summary.skipped else 0


def _migrate(location: str) -> int:
    database = connect(location, migrate=False)
    try:
        ran = schema.migrate(database)
        for migration in ran:
            print(f"applied {migration.version}: {migration.name}")
        print(f"schema at version {schema.applied(database)[-1]}" + ("" if ran else " (nothing to do)"))
    finally:
        database.close()
    return 0


def _service_command(args: argparse.Namespace) -> int:
    """Commands that act on the service's store, configured like the server (CLEARED_*)."""
    from lib.service import Service
    from lib.settings import Settings
    from lib.worker import Workers

    store = {"database_url": args.db} if args.db and is_url(args.db) else {"db": args.db} if args.db else {}
    settings = Settings(**store)
    service = Service(settings)
    if args.command == "webhook-secret":
        print(service.webhook_secret.decode())
        return 0
    gcloud_loguru.setup(settings.log_format, settings.log_level)
    workers = Workers(service, args.threads or settings.task_workers or 2)
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    workers.start()
    logger.bind(threads=workers.threads).info("worker started")
    stop.wait()
    workers.stop()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "demo":
        from lib.synth import write_catalog

        print(write_catalog(args.folder, count=args.count))
        return 0
    if args.command in ("worker", "webhook-secret"):
        return _service_command(args)
    if args.command == "migrate":
        return _migrate(args.db or default_db())
    if args.command == "keys":
        store = KeyStore(args.db or default_db())
        try:
            return keys_cli.run(store, args)
        finally:
            store.close()
    try:
        catalog = Catalog(args.db or default_db())
    except LayoutMismatch as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    with catalog:
        engine = Engine(catalog)
        if args.command == "ingest":
            try:
                return _ingest(engine, args)
            except (FileNotFoundError, ValueError) as error:
                print(f"error: {error}", file=sys.stderr)
                return 2
        if args.command == "identify":
            return _identify(engine, args)
        if args.command == "tracks":
            tracks = catalog.tracks()
            if args.json:
                print(json.dumps([t.model_dump() for t in tracks]))
            for t in [] if args.json else tracks:
                print(f"{t.track_id}\t{t.artist}\t{t.title}\t{t.album}\t{t.label}\t{t.duration:.1f}s")
            return 0
        if args.command == "remove":
            if engine.remove(args.track_id):
                print(f"removed {args.track_id}")
                return 0
            print(f"error: no track {args.track_id}", file=sys.stderr)
            return 1
        stats = catalog.stats()
        print(json.dumps(stats) if args.json else "\n".join(f"{k}: {v}" for k, v in stats.items()))
        return 0


if __name__ == "__main__":
    sys.exit(main())
