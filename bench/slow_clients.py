"""`make bench-slow`: slow uploads against the real server while /healthz is timed; the
report goes to bench/SLOW_CLIENTS.md.

Why: the hardening issue saw five uploads sending 20 KB/s stall /healthz for 22.8 s: each
upload held one of gunicorn's few threads for as long as its body took to arrive. The
requirement: with 10 clients uploading at 20 KB/s, /healthz answers within 1 s.

What runs: a store of its own holding the demo catalog (bench/load.py's helpers), the
deployed entry point as `make run` starts it (functions-framework: gunicorn, WORKERS
processes of THREADS threads, OPENBLAS_NUM_THREADS=1) with CLEARED_AUTH=open, and, over
real sockets on loopback: GET /healthz every 0.25 s, each call on a new connection in a
thread of its own, from a second before the uploads until a second after; `--clients` (10)
uploaders at once, each sending a multipart `file` (an MP3 cut from a demo catalog track)
to POST /v1/identify/dn, paced to `--rate` (20 KB/s) in tenths of a second, and reading
the answer. Exit status 1 when a /healthz call took longer than `--bound` (1 s) or failed.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import shutil
import signal
import statistics
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from bench.load import (
    ROOT,
    Media,
    Server,
    api_server,
    build_store,
    cut,
    ensure_demo,
    machine,
    server_env,
)

PATH = "/v1/identify/dn"
TRACK = "DEMO03"
PIECES_PER_SECOND = 10  # an uploader sends rate/10 bytes every 0.1 s


@dataclass(frozen=True)
class Upload:
    status: int | None  # None: no answer (the error says why)
    seconds: float  # from connecting to the whole answer
    tracks: tuple[str, ...] = ()
    error: str = ""


def multipart(path: Path) -> tuple[bytes, str]:
    """A multipart/form-data body with `path` as its `file` field, and its Content-Type."""
    boundary = uuid.uuid4().hex
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{path.name}"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode()
    return head + path.read_bytes() + f"\r\n--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


def _connection(url: str, timeout: float) -> http.client.HTTPConnection:
    parts = urlsplit(url)
    return http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=timeout)


def slow_upload(url: str, body: bytes, content_type: str, rate: float, path: str = PATH) -> Upload:
    """POST `body` to `url` + `path` at `rate` bytes/s (paced against the clock, so time lost
    to a blocked send is not made up later than it would be by a real slow link)."""
    started = time.monotonic()
    connection = _connection(url, timeout=120)
    piece = max(1, round(rate / PIECES_PER_SECOND))
    try:
        connection.putrequest("POST", path)
        connection.putheader("Content-Type", content_type)
        connection.putheader("Content-Length", str(len(body)))
        connection.endheaders()
        for n, start in enumerate(range(0, len(body), piece)):
            time.sleep(max(0.0, started + n / PIECES_PER_SECOND - time.monotonic()))
            connection.send(body[start : start + piece])
        response = connection.getresponse()
        answer = response.read()
        tracks: tuple[str, ...] = ()
        if response.status == 200:
            tracks = tuple(s["track_id"] for s in json.loads(answer)["result"][0]["songs"])
        error = "" if response.status == 200 else answer[:200].decode(errors="replace")
        return Upload(response.status, time.monotonic() - started, tracks, error)
    except (OSError, http.client.HTTPException) as error:
        return Upload(None, time.monotonic() - started, error=f"{type(error).__name__}: {error}")
    finally:
        connection.close()


class HealthProber:
    """GET /healthz every `every` seconds on a new connection, each call in a thread of its
    own (a stalled call does not delay the next: every call says how long a client arriving
    then would wait); a call that fails counts as taking `timeout`, and among the failures."""

    def __init__(self, url: str, every: float = 0.25, timeout: float = 30.0) -> None:
        self.url, self.every, self.timeout = url, every, timeout
        self.latencies: list[float] = []
        self.failures: list[str] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._calls: list[threading.Thread] = []

    def _call(self) -> None:
        started = time.monotonic()
        connection = _connection(self.url, self.timeout)
        try:
            connection.request("GET", "/healthz")
            response = connection.getresponse()
            response.read()
            failure = "" if response.status == 200 else f"status {response.status}"
            latency = time.monotonic() - started
        except (OSError, http.client.HTTPException) as error:
            failure, latency = f"{type(error).__name__}: {error}", self.timeout
        finally:
            connection.close()
        with self._lock:
            self.latencies.append(latency)
            if failure:
                self.failures.append(failure)

    def _run(self) -> None:
        next_call = time.monotonic()
        while not self._stop.is_set():
            call = threading.Thread(target=self._call, daemon=True)
            call.start()
            self._calls.append(call)
            next_call += self.every
            self._stop.wait(max(0.0, next_call - time.monotonic()))

    @contextmanager
    def running(self) -> Iterator[HealthProber]:
        self._thread.start()
        try:
            yield self
        finally:
            self._stop.set()
            self._thread.join()
            for call in self._calls:
                call.join()

    @property
    def worst(self) -> float:
        return max(self.latencies, default=float("inf"))


def upload_all(url: str, body: bytes, content_type: str, clients: int, rate: float) -> list[Upload]:
    """`clients` slow uploads at once, each in a thread of its own; their results in order."""
    results: list[Upload | None] = [None] * clients

    def one(i: int) -> None:
        results[i] = slow_upload(url, body, content_type, rate)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return [r for r in results if r is not None]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def report(server: Server, args: argparse.Namespace, size: int, prober: HealthProber, uploads: list[Upload]) -> str:
    ms = [1000 * s for s in prober.latencies]
    worst = 1000 * prober.worst
    passed = worst <= 1000 * args.bound and not prober.failures
    answered = [u for u in uploads if u.status == 200]
    found = sum(TRACK in u.tracks for u in answered)
    counted = Counter(str(u.status or "no answer") for u in uploads)
    statuses = ", ".join(f"{n} × {status}" for status, n in counted.items())
    lines = [
        "# Slow clients: /healthz while uploads trickle in",
        "",
        "`make bench-slow` (bench/slow_clients.py): the deployed entry point as `make run` starts it, on loopback, "
        "with its own SQLite store holding the demo catalog, CLEARED_AUTH=open, CLEARED_TASK_WORKERS=0.",
        "",
        f"Machine: {machine()}; load average {os.getloadavg()[0]:.2f} after the run.",
        "",
        f"Server: `functions-framework --target=api`, gunicorn {server.workers} workers × {server.threads} threads, "
        f"OPENBLAS_NUM_THREADS=1.",
        "",
        f"Load: {args.clients} clients at once, each sending `POST {PATH}` with a multipart `file` of {size} bytes "
        f"({args.seconds:g} s of {TRACK} as a 128 kb/s MP3) at {args.rate / 1000:g} KB/s on its own connection; "
        f"meanwhile `GET /healthz` on a new connection every {args.every:g} s (each in a thread of its own), "
        "from 1 s before the uploads to 1 s after.",
        "",
        f"Result: {'PASS' if passed else '**FAIL**'} (bound: every /healthz within {args.bound:g} s).",
        "",
        "| /healthz | |",
        "|---|---|",
        f"| calls | {len(ms)} |",
        f"| failed | {len(prober.failures)} |",
        f"| median | {statistics.median(ms):.1f} ms |" if ms else "| median | – |",
        f"| p95 | {percentile(ms, 0.95):.1f} ms |" if ms else "| p95 | – |",
        f"| max | {worst:.1f} ms |",
        "",
        f"Uploads: {statuses}; {found} of {len(answered)} answers name {TRACK}; each took "
        f"{min(u.seconds for u in uploads):.1f}–{max(u.seconds for u in uploads):.1f} s "
        f"(sending alone: {size / args.rate:.1f} s).",
    ]
    errors = sorted({u.error for u in uploads if u.error} | set(prober.failures))
    if errors:
        lines += ["", "Errors:", "", *[f"- {e}" for e in errors[:10]]]
    return "\n".join(lines) + "\n"


def _sigterm(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)  # unwinds: the server is stopped on the way out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--demo", type=Path, default=ROOT / "data" / "demo", help="the demo catalog's folder")
    parser.add_argument("--work", type=Path, default=ROOT / "bench" / "work" / "slow", help="emptied first")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "SLOW_CLIENTS.md")
    parser.add_argument("--workers", type=int, default=2, help="WORKERS, as make run")
    parser.add_argument("--threads", type=int, default=16, help="THREADS, as make run")
    parser.add_argument("--clients", type=int, default=10)
    parser.add_argument("--rate", type=float, default=20_000, help="bytes/s per client")
    parser.add_argument("--seconds", type=float, default=20.0, help="of music in each upload")
    parser.add_argument("--every", type=float, default=0.25, help="seconds between /healthz calls")
    parser.add_argument("--bound", type=float, default=1.0, help="seconds a /healthz call may take")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, _sigterm)
    work = args.work.resolve()
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    catalog_csv = ensure_demo(args.demo.resolve())
    db = work / "store" / "slow.db"
    build_store(db, catalog_csv)
    clip = cut(catalog_csv, Media(track_id=TRACK, start_seconds=8.0, seconds=args.seconds), work / "clip.mp3")
    body, content_type = multipart(clip)
    server = Server(workers=args.workers, threads=args.threads, env={"OPENBLAS_NUM_THREADS": "1"})
    env = {**server_env(db, work, server), "CLEARED_AUTH": "open"}
    with api_server(env, work / "api.log") as (url, _), HealthProber(url, args.every).running() as prober:
        time.sleep(1.0)
        uploads = upload_all(url, body, content_type, args.clients, args.rate)
        time.sleep(1.0)
    text = report(server, args, len(body), prober, uploads)
    args.out.write_text(text)
    print(text)
    return 0 if prober.worst <= args.bound and not prober.failures else 1


if __name__ == "__main__":
    sys.exit(main())
