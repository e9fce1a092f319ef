"""`python -m lib ...`: ingest, identify, tracks, remove, stats, demo, worker, webhook-secret, keys, migrate.

Scriptable: `--json` prints machine-readable output on stdout (one object per input for
identify), progress and errors go to stderr, and a bad file never stops a batch.

Each command imports what it needs when it runs. `identify` of a clip opens the store
and the index snapshot, nothing else: no service, no task machinery, no API models, no
web stack. That start is the one a script pays per call, and the rest was three
quarters of it (docs/engine.md, "One clip from the command line").
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
from typing import TYPE_CHECKING

from lib.analysis import Identified
from lib.cli import keys as keys_cli
from lib.core.recognizer import Recognizer
from lib.fingerprint.audio import DecodeError
from lib.store import Catalog, LayoutMismatch, connect, is_url, schema
from lib.store.settings import InvalidStoreSetting, StoreSettings

if TYPE_CHECKING:
    from gen.models import IdentifyTaskResult
    from lib.core.service import Service
    from lib.settings import Settings


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

    p = commands.add_parser(
        "webhook-secret",
        help="an owner's webhook signing secret, shown once when made (without --owner: the operator's)",
    )
    p.add_argument("--owner", help="the customer whose deliveries it signs")
    p.add_argument("--rotate", action="store_true", help="a new one; the old stays valid for 24 h")
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


def _identify(engine: Recognizer, args: argparse.Namespace) -> int:
    failures = 0
    for file in args.files:
        try:
            if args.segments:
                from lib.products.long_media import long_media_result

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
    from lib.products.rules import timecode

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


def _ingest(engine: Recognizer, args: argparse.Namespace) -> int:
    from lib.core.ingest import discover, ingest

    summary = ingest(engine.catalog, discover(args.source), jobs=args.jobs, progress=not args.json)
    if engine.snapshot is not None:
        engine.index  # noqa: B018  (built and saved now: the next start, or one clip's identify, maps it)
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
        print(json.dumps({**report, "errors": summary.errors, "warnings": summary.warnings}))
    else:
        print(
            f"added {report['added']} tracks ({report['hours_added']} h), skipped {report['skipped']} already present, "
            f"{report['failed']} failed; {report['seconds']} s, {report['x_realtime']}x realtime; "
            f"catalog: {report['tracks']} tracks"
        )
    return 1 if summary.failed and not summary.added and not summary.skipped else 0


def _identify_alone(settings: StoreSettings, args: argparse.Namespace) -> int:
    """`identify` with the store and its index only (the module docstring says why)."""
    recognizer = Recognizer.from_settings(settings)
    try:
        return _identify(recognizer, args)
    finally:
        recognizer.catalog.close()


def _with_service(settings: Settings, args: argparse.Namespace) -> int:
    from lib.core.service import Service

    service = Service(settings)
    try:
        return _run(service, args)
    finally:
        service.close()


def _settings(args: argparse.Namespace) -> Settings:
    """The server's settings (CLEARED_*), with `--db` naming the store when given."""
    from lib.settings import Settings

    if not args.db:
        return Settings()
    return Settings(database_url=args.db) if is_url(args.db) else Settings(db=args.db, database_url=None)


def _migrate(settings: StoreSettings) -> int:
    database = connect(settings.store, settings.database_pool_size, migrate=False)
    try:
        ran = schema.migrate(database)
        for migration in ran:
            print(f"applied {migration.version}: {migration.name}")
        print(f"schema at version {schema.applied(database)[-1]}" + ("" if ran else " (nothing to do)"))
    finally:
        database.close()
    return 0


def _worker(service: Service, threads: int | None) -> int:
    """Run tasks and webhooks until SIGINT or SIGTERM."""
    from loguru import logger

    from lib.core.worker import Workers
    from lib.ops import logging as logs

    settings = service.settings
    logs.setup(settings.log_format, settings.log_level)
    workers = Workers(service, threads or settings.task_workers or 2)
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    workers.start()
    logger.bind(threads=workers.threads).info("worker started")
    stop.wait()
    workers.stop()
    return 0


def _tracks(catalog: Catalog, as_json: bool) -> int:
    tracks = catalog.tracks()
    if as_json:
        print(json.dumps([t.as_dict() for t in tracks]))
    for t in [] if as_json else tracks:
        print(f"{t.track_id}\t{t.artist}\t{t.title}\t{t.album}\t{t.label}\t{t.duration:.1f}s")
    return 0


def _remove(catalog: Catalog, track_id: str) -> int:
    if catalog.remove(track_id):
        print(f"removed {track_id}")
        return 0
    print(f"error: no track {track_id}", file=sys.stderr)
    return 1


def _webhook_secret(service: Service, owner: str | None, rotate: bool) -> int:
    if owner is None:
        if rotate:
            print("error: the operator's secret is CLEARED_WEBHOOK_SECRET (or the store's); --rotate needs --owner")
            return 2
        print(service.webhook_secret.decode())
        return 0
    secret = service.webhook_secrets.rotate(owner) if rotate else service.webhook_secrets.create(owner)
    if secret is None:
        print(
            f"error: {owner} has a webhook secret already (shown when made); --rotate makes a new one", file=sys.stderr
        )
        return 1
    print(secret)
    return 0


def _run(service: Service, args: argparse.Namespace) -> int:
    command, recognizer = args.command, service.recognizer
    if command == "ingest":
        try:
            return _ingest(recognizer, args)
        except (FileNotFoundError, ValueError) as error:
            print(f"error: {error}", file=sys.stderr)
            return 2
    if command == "tracks":
        return _tracks(service.catalog, args.json)
    if command == "remove":
        return _remove(service.catalog, args.track_id)
    if command == "keys":
        return keys_cli.run(service.keys, service.webhook_secrets, args)
    if command == "webhook-secret":
        return _webhook_secret(service, args.owner, args.rotate)
    if command == "worker":
        return _worker(service, args.threads)
    stats = service.catalog.stats()
    print(json.dumps(stats) if args.json else "\n".join(f"{k}: {v}" for k, v in stats.items()))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "demo":
        from lib.synth.songs import write_catalog

        print(write_catalog(args.folder, count=args.count))
        return 0
    try:
        if args.command == "identify":
            return _identify_alone(StoreSettings.from_environment(os.environ, args.db), args)
        if args.command == "migrate":
            return _migrate(StoreSettings.from_environment(os.environ, args.db))
        return _with_service(_settings(args), args)
    except (LayoutMismatch, InvalidStoreSetting) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
