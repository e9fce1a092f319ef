"""`make bench-streams`: how many monitored streams one core keeps up with, and how soon
after a song starts its webhook arrives. Written to bench/STREAMS.md.

N endless streams are served from another process, each an MP3 paced at real
time (as a radio's server sends it), playing corpus music in a known order: stretches of
catalog tracks between stretches of music the catalog does not hold (the corpus's
unknown tracks). The service watches them as in production: the streams in its store,
`Watching` claiming them under leases, each decoded and matched in its own thread, every
song start a signed webhook to a local receiver, which notes when it arrived. Then, per
stream: the delay from each catalog song's start to its webhook (median, p95), songs
missed (no webhook within the song), false reports (a track that was not playing), and
the watching process's CPU per stream.

    make bench-streams CORPUS=/path/to/dev-corpus STREAMS=100
"""

from __future__ import annotations

import argparse
import csv
import json
import multiprocessing
import os
import platform
import random
import resource
import shutil
import statistics
import sys
import threading
import time
from dataclasses import dataclass
from fractions import Fraction
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import av
import numpy as np

from bench.scale import log
from bench.tenancy import reference_store
from lib.core.service import Service
from lib.core.worker import Workers
from lib.fingerprint import audio
from lib.fingerprint.config import DEFAULT
from lib.settings import Settings
from lib.store.catalog import REFERENCE

ROOT = Path(__file__).resolve().parent.parent
RATE = DEFAULT.sample_rate
SHOWS = 20  # distinct programmes; streams share them, each starting elsewhere in its loop
STRETCH = (25.0, 45.0)  # seconds of one track in a programme


@dataclass(frozen=True)
class Piece:
    track_id: str | None  # None: music the catalog does not hold
    start: float  # seconds into the programme
    end: float


def programme(
    rng: random.Random, catalog: list[Path], unknown: list[Path], seconds: float
) -> tuple[np.ndarray, list[Piece]]:
    """Alternating stretches of unknown and catalog music, `seconds` long in all."""
    parts, pieces, at, known = [], [], 0.0, False
    while seconds - at >= STRETCH[0]:
        path = rng.choice(catalog if known else unknown)
        samples = audio.load(path)
        if len(samples) / RATE < STRETCH[1] + 1:
            continue  # too short for a stretch
        length = min(rng.uniform(*STRETCH), seconds - at)
        offset = rng.uniform(0, max(len(samples) / RATE - length, 0))
        parts.append(samples[round(offset * RATE) : round((offset + length) * RATE)])
        pieces.append(Piece(path.stem if known else None, at, at + len(parts[-1]) / RATE))
        at = pieces[-1].end
        known = not known
    return np.concatenate(parts), pieces


def encode_mp3(samples: np.ndarray, path: Path) -> None:
    """At the engine's 8 kHz: MPEG-2.5 layer III, whose bitrate tops out at 64 kb/s. Bare
    frames, as a radio sends them: no ID3 tag or Xing frame to meet again at each loop."""
    with av.open(str(path), "w", format="mp3", options={"id3v2_version": "0", "write_xing": "0"}) as out:
        stream = out.add_stream("mp3", rate=RATE)
        stream.bit_rate, stream.layout = 64_000, "mono"
        for start in range(0, len(samples), 4608):
            frame = av.AudioFrame.from_ndarray(
                samples[start : start + 4608].reshape(1, -1), format="flt", layout="mono"
            )
            frame.sample_rate, frame.pts, frame.time_base = RATE, start, Fraction(1, RATE)
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))


def serve_radio(folder: Path, port: Any, starts: Any) -> None:
    """(`port`: a shared `multiprocessing.Value`, set once listening; `starts`: a managed
    dict of when each stream's first byte went out.)"""

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            """/<show>/<offset>/<stream>: that programme from `offset` seconds, looped, at real time."""
            show, offset, stream = self.path.strip("/").split("/")
            data = (folder / f"{show}.mp3").read_bytes()
            per_second = round(len(data) / (audio.duration(folder / f"{show}.mp3") or 180.0))  # the encoder's real rate
            if stream not in starts:
                starts[stream] = time.time()
            began = starts[stream]  # a reconnection joins the programme where it is now, as on air
            position = round((int(offset) + time.time() - began) * per_second)
            self.send_response(200)
            self.send_header("Content-Type", "audio/mpeg")
            self.end_headers()
            try:
                while True:
                    piece = data[position % len(data) : position % len(data) + per_second // 4]
                    self.wfile.write(piece)
                    position += len(piece)
                    time.sleep(max(0.0, began + position / per_second - int(offset) - time.time()))
            except OSError:
                pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    port.value = server.server_address[1]
    server.serve_forever()


class Receiver(BaseHTTPRequestHandler):
    arrived: ClassVar[list[tuple[float, dict[str, Any]]]] = []

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        Receiver.arrived.append((time.time(), json.loads(body)))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()


def watch(db: Path, work: Path, capacity: int, seconds: float, cpu: Any) -> None:
    """One worker process: its `Workers` watch up to `capacity` streams for `seconds`;
    its CPU time over them goes to the `cpu` queue (the index is loaded before)."""
    settings = Settings(db=db, storage=str(work / "uploads"), allow_private_urls=True, stream_capacity=capacity,
                        stream_lease_seconds=30.0, task_workers=2, auth="open")  # fmt: skip
    service = Service(settings)
    service.recognizer.index  # noqa: B018
    workers = Workers(service, settings.task_workers)
    before = resource.getrusage(resource.RUSAGE_SELF)
    workers.start()
    time.sleep(seconds)
    after = resource.getrusage(resource.RUSAGE_SELF)
    workers.stop()
    cpu.put(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)


def evaluate(
    shows: list[list[Piece]], plan: dict[str, tuple[int, int, int]], starts: dict[str, float],
    arrived: list[tuple[float, dict[str, Any]]], until: float,
) -> tuple[list[float], int, list[dict[str, Any]]]:  # fmt: skip
    """(the delay of each catalog song reported, in s; how many were missed; the false
    reports). A song is expected when it started 20 s before `until` or earlier (a later
    one may not have been reported yet, but is no false report if it was); an event
    counts for it from 5 s before its start to 15 s after its end."""
    delays, missed, false = [], 0, []
    songs = [(at, e) for at, e in arrived if e["event"] == "song"]
    for stream_id, (number, show, offset) in plan.items():
        began = starts.get(f"s{number}")
        if began is None:
            continue
        length = shows[show][-1].end
        played = []  # (track, wall start, wall end) of each catalog piece heard
        for k in range(int((until - began) // length) + 2):
            for piece in shows[show]:
                start, end = piece.start + k * length - offset % length, piece.end + k * length - offset % length
                if piece.track_id and end > 0 and began + max(start, 0) < until:
                    played.append((piece.track_id, began + max(start, 0), began + end))
        mine = [(at, e) for at, e in songs if e["streamId"] == stream_id]
        for track, start, end in [p for p in played if p[1] + 20 < until]:
            hits = [at for at, e in mine if e["track"]["track_id"] == track and start - 5 <= at <= end + 15]
            if hits:
                delays.append(min(hits) - start)
            else:
                missed += 1
        false += [
            {**e, "arrived": at - began}
            for at, e in mine
            if not any(t == e["track"]["track_id"] and s - 5 <= at <= e2 + 15 for t, s, e2 in played)
        ]
    return delays, missed, false


def run(corpus: Path, work: Path, n_streams: int, seconds: float, processes: int) -> str:
    work.mkdir(parents=True, exist_ok=True)
    reference = reference_store(corpus, work / "reference.db")
    rng = random.Random(20261206)
    with (corpus / "catalog.csv").open() as f:
        catalog = [corpus / row["path"] for row in csv.DictReader(f)]
    with (corpus / "unknown.csv").open() as f:
        unknown = [corpus / row["path"] for row in csv.DictReader(f)]
    shows: list[list[Piece]] = []
    loop = 180.0
    for n in range(SHOWS):
        samples, pieces = programme(rng, catalog, unknown, loop)
        encode_mp3(samples, work / f"show{n}.mp3")
        shows.append(pieces)
    loop = shows[0][-1].end
    log(f"{SHOWS} programmes of {loop:.0f} s encoded")

    manager = multiprocessing.Manager()
    starts = manager.dict()
    port = multiprocessing.Value("i", 0)
    radio = multiprocessing.Process(target=serve_radio, args=(work, port, starts), daemon=True)
    radio.start()
    while not port.value:
        time.sleep(0.05)
    receiver = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=receiver.serve_forever, daemon=True).start()

    db = work / "streams.db"
    for stale in work.glob("streams.db*"):
        shutil.rmtree(stale) if stale.is_dir() else stale.unlink()
    shutil.copy(reference, db)
    store = Service(Settings(db=db, storage=str(work / "uploads"), auth="open"))
    plan: dict[str, tuple[int, int, int]] = {}  # stream id: (its number, programme, offset)
    for i in range(n_streams):
        show, offset = i % SHOWS, (i // SHOWS) * 37 % int(loop)
        callback = f"http://127.0.0.1:{receiver.server_address[1]}/hook"
        made = store.streams.create(REFERENCE, f"http://127.0.0.1:{port.value}/show{show}/{offset}/s{i}", callback,
                                    f"s{i}", False, None, None)  # fmt: skip
        assert made is not None
        plan[made.stream_id] = (i, show, offset)
    hours = store.catalog.stats()["hours"]
    store.close()
    cpu: multiprocessing.Queue[float] = multiprocessing.Queue()
    capacity = -(-n_streams // processes)
    watchers = [
        multiprocessing.Process(target=watch, args=(db, work, capacity, seconds, cpu), daemon=True)
        for _ in range(processes)
    ]
    wall0 = time.time()
    for process in watchers:
        process.start()
    cpu_seconds = sum(cpu.get() for _ in watchers)
    wall1 = time.time()
    for process in watchers:
        process.join()
    radio.terminate()
    cores = cpu_seconds / seconds

    raw = {"starts": dict(starts), "plan": plan, "events": Receiver.arrived, "window": [wall0, wall1]}
    (work / "events.json").write_text(json.dumps(raw))  # for a closer look
    delays, missed, false = evaluate(shows, plan, dict(starts), Receiver.arrived, wall1)
    reported = len(delays)
    n_played = reported + missed
    return "\n".join([
        "# Stream monitoring",
        "",
        f"`make bench-streams` (bench/streams.py). {n_streams} streams watched for {seconds:.0f} s by {processes} "
        f"worker processes ({platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}); each "
        f"an MP3 (8 kHz, 64 kb/s) paced at real time from another process, {SHOWS} programmes of {loop:.0f} s of "
        f"{corpus.name} music (catalog stretches of {STRETCH[0]:.0f}-{STRETCH[1]:.0f} s between unknown ones); "
        f"reference catalog {hours:.1f} h.",
        "",
        "| figure | value | target |",
        "|---|---|---|",
        f"| CPU of the worker processes | {cores:.2f} cores ({cores / n_streams * 1000:.1f} ms per stream-second) | |",
        f"| streams per core at that cost | {n_streams / cores:.0f} | ≥ 100 |",
        f"| songs played / reported / missed | {n_played} / {reported} / {missed} | |",
        f"| delay, song start to webhook: median / p95 | {statistics.median(delays):.1f} / "
        f"{np.percentile(delays, 95):.1f} s | ≤ 10 s |" if delays else "| delay | no song reported | |",
        f"| false reports | {len(false)} | 0 |",
        "",
    ])  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, required=True)
    parser.add_argument("--streams", type=int, default=100)
    parser.add_argument("--processes", type=int, default=2, help="worker processes sharing the streams")
    parser.add_argument("--seconds", type=float, default=240.0)
    parser.add_argument("--work", type=Path, default=ROOT / "bench" / "work" / "streams")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "STREAMS.md")
    args = parser.parse_args()
    report = run(args.corpus, args.work, args.streams, args.seconds, args.processes)
    args.out.write_text(report)
    print(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
