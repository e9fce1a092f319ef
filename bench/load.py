"""`make load`: the identify API under a steady load, written to bench/LOAD.md.

Why: `make bench` times one query at a time in one process; it cannot say whether the
service keeps its latency when calls overlap, when every gunicorn worker decodes,
matches, downloads and counts usage at once on a small machine. The issue's target
(2 cores): identify by URL of a 10 s MP3 served locally, at least 50 calls/s sustained
for 60 s with p99 ≤ 300 ms and no error.

What runs is in load_test.json: the server's processes and threads, the media (cut
from a demo catalog track at a known offset, so every answer is known), and the
scenarios (request, rate, users, ramp, duration, pass criteria). This builds a store of
its own from the demo catalog in the work folder (`python -m lib demo` first when the
catalog is missing), creates an API key with the key CLI, serves the media from a
threaded HTTP server on loopback, starts the deployed entry point as `make run` does
(functions-framework: gunicorn with WORKERS processes of THREADS threads), waits for
/readyz, then runs Locust headless once per scenario in a process of its own (a
constant throughput per user, so the offered rate is the scenario's). The figures are
Locust's own (its CSV stats, percentiles included) over the measured window (the ramp is
left out), checked against the scenario's criteria; the report adds where the CPU went.
Exit status 1 when a criterion fails. The server, Locust and the media server are
stopped whatever happens.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import resource
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from fractions import Fraction
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from importlib.metadata import version
from math import ceil
from pathlib import Path
from typing import Any, Literal
from urllib.parse import quote

import av
import numpy as np
import soundfile
from pydantic import BaseModel, ConfigDict, Field, model_validator

ROOT = Path(__file__).resolve().parent.parent
LOCUSTFILE = Path(__file__).resolve().parent / "locustfile.py"
CODECS = {"mp3": "mp3", "m4a": "aac", "ogg": "libvorbis", "flac": "flac"}  # file extension -> FFmpeg encoder
SERVER_START_SECONDS = 120.0
Errors = list[tuple[str, int]]  # Locust's failure messages, with how often each was seen
NO_CALLS = {"Request Count": "0", "Failure Count": "0", "Requests/s": "0"}  # Locust has no row then


# ---- load_test.json ---------------------------------------------------------------------


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Server(_Strict):
    workers: int = Field(ge=1, description="gunicorn processes (WORKERS)")
    threads: int = Field(ge=1, description="threads per process (THREADS)")
    env: dict[str, str] = Field(default_factory=dict, description="more environment for the server")
    why: str = Field(default="", description="why this configuration (in the report)")


class Media(_Strict):
    track_id: str = Field(description="a demo catalog track (its file is cut)")
    start_seconds: float = Field(ge=0)
    seconds: float = Field(gt=0)
    format: Literal["mp3", "m4a", "ogg", "flac"] = "mp3"
    sample_rate: int = Field(default=44100, gt=0)
    channels: Literal[1, 2] = 2
    bit_rate: int = Field(default=128000, gt=0)


class Request(_Strict):
    method: Literal["GET", "POST"] = "POST"
    path: str = Field(pattern=r"^/", description="'{media_url}' is replaced (URL-encoded here)")
    body: dict[str, Any] | None = Field(default=None, alias="json", description="'{media_url}' is replaced")


class Expect(_Strict):
    track_id: str
    ref_tolerance_ms: int = Field(default=500, ge=0)


class Load(_Strict):
    rate: float = Field(gt=0, description="calls per second offered")
    users: int = Field(ge=1)
    ramp_seconds: int = Field(ge=0, description="users spawned over this long; not measured")
    duration_seconds: int = Field(ge=1, description="measured")


class Criteria(_Strict):
    min_rps: float = Field(ge=0)
    max_p99_ms: float = Field(gt=0)
    max_errors: int = Field(ge=0)


class Scenario(_Strict):
    name: str = Field(pattern=r"^[a-z0-9_]+$")
    description: str = ""
    request: Request
    media: str
    expect: Expect
    load: Load
    criteria: Criteria = Field(alias="pass")


class LoadTest(_Strict):
    description: str = ""
    server: Server
    media: dict[str, Media]
    scenarios: list[Scenario] = Field(min_length=1)

    @model_validator(mode="after")
    def _media_known(self) -> LoadTest:
        for s in self.scenarios:
            if s.media not in self.media:
                raise ValueError(f"scenario {s.name}: no media {s.media!r}")
            if s.expect.track_id != self.media[s.media].track_id:
                raise ValueError(f"scenario {s.name}: expects {s.expect.track_id}, its media is cut from another")
        return self


# ---- the store, the key, the media -------------------------------------------------------


def _env() -> dict[str, str]:
    """Our environment without CLEARED_* settings: the harness sets every one it relies on."""
    return {k: v for k, v in os.environ.items() if not k.startswith("CLEARED_")}


def _lib(*args: str) -> str:
    """`python -m lib ARGS` in the project, its stdout (stderr shown only when it fails)."""
    done = subprocess.run(
        [sys.executable, "-m", "lib", *args], cwd=ROOT, env=_env(), capture_output=True, text=True, check=False
    )
    if done.returncode:
        raise SystemExit(f"python -m lib {' '.join(args)} failed:\n{done.stderr[-2000:]}")
    return done.stdout


def ensure_demo(folder: Path) -> Path:
    """The demo catalog's CSV, written first (`python -m lib demo`) when it is missing."""
    if not (folder / "catalog.csv").exists():
        _lib("demo", str(folder))
    return folder / "catalog.csv"


def build_store(db: Path, catalog_csv: Path) -> None:
    db.parent.mkdir(parents=True, exist_ok=True)
    _lib("--db", str(db), "ingest", str(catalog_csv))


def create_key(db: Path, rate: str) -> str:
    created = json.loads(_lib("--db", str(db), "keys", "create", "--owner", "load-test", "--rate", rate, "--json"))
    key: str = created["key"]
    return key


def key_rate(config: LoadTest) -> str:
    """Twice the highest offered rate: the limiter never refuses a call of the test (and it
    counts per gunicorn process, so each process allows that much on its own)."""
    return f"{ceil(2 * max(s.load.rate for s in config.scenarios))}/second"


def track_file(catalog_csv: Path, track_id: str) -> Path:
    with catalog_csv.open(newline="") as f:
        for row in csv.DictReader(f):
            if row.get("track_id") == track_id:
                return catalog_csv.parent / row["path"]
    raise SystemExit(f"{track_id} is not in {catalog_csv}")


def encode(path: Path, samples: np.ndarray, rate: int, media: Media) -> Path:
    """Float samples (frames × channels) at `rate`, written with FFmpeg's encoder for the
    format at the media's rate, channels and bit rate (PyAV resamples and re-frames)."""
    planar = np.ascontiguousarray(samples.T, dtype=np.float32)
    source_layout = "mono" if planar.shape[0] == 1 else "stereo"
    with av.open(str(path), "w") as out:
        stream = out.add_stream(CODECS[media.format], rate=media.sample_rate)
        assert isinstance(stream, av.AudioStream)
        stream.layout = "mono" if media.channels == 1 else "stereo"
        stream.bit_rate = media.bit_rate
        for start in range(0, planar.shape[1], 4096):
            frame = av.AudioFrame.from_ndarray(planar[:, start : start + 4096], format="fltp", layout=source_layout)
            frame.sample_rate, frame.pts, frame.time_base = rate, start, Fraction(1, rate)
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return path


def cut(catalog_csv: Path, media: Media, path: Path) -> Path:
    """The media's excerpt of its catalog track, encoded to `path`."""
    source = track_file(catalog_csv, media.track_id)
    rate = soundfile.info(str(source)).samplerate
    frames = round(media.seconds * rate)
    samples, _ = soundfile.read(
        source, start=round(media.start_seconds * rate), frames=frames, dtype="float32", always_2d=True
    )
    if len(samples) < frames:
        raise SystemExit(f"{media.track_id} ends before {media.start_seconds + media.seconds} s")
    path.parent.mkdir(parents=True, exist_ok=True)
    return encode(path, samples, rate, media)


# ---- the processes: media server, API server, Locust -------------------------------------


class MediaServer(ThreadingHTTPServer):
    """Serves a folder on loopback, one thread per connection, and counts the GETs (each is
    one identify call's download)."""

    daemon_threads = True

    def __init__(self, folder: Path) -> None:
        super().__init__(("127.0.0.1", 0), partial(_MediaHandler, directory=str(folder)))
        self.gets = 0
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _MediaHandler(SimpleHTTPRequestHandler):
    server: MediaServer

    def log_message(self, format: str, *args: Any) -> None:  # 50 lines a second say nothing
        pass

    def do_GET(self) -> None:
        with self.server.lock:
            self.server.gets += 1
        super().do_GET()


@contextmanager
def serve_media(folder: Path) -> Iterator[MediaServer]:
    server = MediaServer(folder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def server_env(db: Path, work: Path, server: Server) -> dict[str, str]:
    """The API's settings for the test: keys auth, loopback media allowed, no task threads."""
    return {
        **_env(),
        "CLEARED_DB": str(db),
        "CLEARED_STORAGE": str(work / "uploads"),
        "CLEARED_AUTH": "keys",
        "CLEARED_ALLOW_PRIVATE_URLS": "true",
        "CLEARED_TASK_WORKERS": "0",
        "CLEARED_LOG_FORMAT": "json",
        "WORKERS": str(server.workers),
        "THREADS": str(server.threads),
        **server.env,
    }


def _wait_ready(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + SERVER_START_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"the API exited ({process.returncode}):\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url + "/readyz", timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.2)
    raise SystemExit(f"the API was not ready after {SERVER_START_SECONDS:.0f} s:\n{log.read_text()[-3000:]}")


def _stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the whole process group (gunicorn's arbiter and workers), SIGKILL if it lingers."""
    if process.poll() is not None:
        return
    for sig, wait in ((signal.SIGTERM, 30), (signal.SIGKILL, 10)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


@contextmanager
def api_server(env: dict[str, str], log: Path) -> Iterator[tuple[str, int]]:
    """The deployed entry point, as `make run` starts it; yields its URL and process group."""
    port = free_port()
    command = [str(Path(sys.executable).parent / "functions-framework"), "--target=api", "--source=main.py"]
    with log.open("wb") as out:
        process = subprocess.Popen(
            [*command, f"--port={port}", "--host=127.0.0.1"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(url, process, log)
        yield url, process.pid
    finally:
        _stop(process)


def group_cpu_seconds(pgid: int) -> float:
    """CPU time (user + system) of the live processes in a process group, from /proc."""
    ticks = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # gone meanwhile
            continue
        if int(fields[2]) == pgid:  # after the name: state, ppid, pgrp, ..., utime (12th), stime (13th)
            ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def machine_busy() -> tuple[float, float]:
    """Seconds of CPU, all cores: (busy, total) since boot, from /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]  # idle, iowait
    total = sum(values[:8])  # without guest time, already counted in user
    return (total - idle) / os.sysconf("SC_CLK_TCK"), total / os.sysconf("SC_CLK_TCK")


# ---- one scenario --------------------------------------------------------------------------


@dataclass
class Result:
    scenario: Scenario
    stats: dict[str, str]
    errors: Errors
    cpu: dict[str, float]
    checks: list[tuple[str, str, bool]] = field(default_factory=list)  # (figure, criterion, met)

    @property
    def passed(self) -> bool:
        return all(met for _, _, met in self.checks)


def _substitute(value: Any, media_url: str) -> Any:
    if isinstance(value, str):
        return value.replace("{media_url}", media_url)
    if isinstance(value, dict):
        return {k: _substitute(v, media_url) for k, v in value.items()}
    if isinstance(value, list):
        return [_substitute(v, media_url) for v in value]
    return value


def scenario_file(scenario: Scenario, media: Media, media_url: str, key: str, path: Path) -> Path:
    """What the Locust user sends and expects (bench/locustfile.py reads it)."""
    request = scenario.request
    spec = {
        "name": scenario.name,
        "request": {
            "method": request.method,
            "path": request.path.replace("{media_url}", quote(media_url, safe="")),
            "json": _substitute(request.body, media_url),
        },
        "headers": {"X-API-Key": key},
        "per_user_rate": scenario.load.rate / scenario.load.users,
        "expect": {
            "track_id": scenario.expect.track_id,
            "ref_offset_ms": round(media.start_seconds * 1000),
            "ref_tolerance_ms": scenario.expect.ref_tolerance_ms,
        },
    }
    path.write_text(json.dumps(spec, indent=2))
    return path


def run_locust(scenario: Scenario, spec: Path, api_url: str, work: Path) -> tuple[dict[str, str], Errors]:
    """Locust headless for the ramp and the measured window; its stats row and errors."""
    load = scenario.load
    prefix = work / scenario.name
    command = [
        sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--headless", "--host", api_url,
        "--users", str(load.users), "--spawn-rate", f"{load.users / max(load.ramp_seconds, 1):g}",
        "--run-time", f"{load.ramp_seconds + load.duration_seconds}s", "--reset-stats",  # measure after the ramp
        "--stop-timeout", "10",  # calls under way at the end finish and count
        "--csv", str(prefix), "--only-summary", "--loglevel", "WARNING", "--logfile", f"{prefix}.log",
    ]  # fmt: skip
    with open(f"{prefix}.out", "wb") as out:
        done = subprocess.run(
            command,
            cwd=ROOT,
            env={**_env(), "LOAD_SCENARIO": str(spec)},
            stdout=out,
            stderr=subprocess.STDOUT,
            timeout=load.ramp_seconds + load.duration_seconds + 120,
            check=False,
        )
    stats_csv = Path(f"{prefix}_final_stats.csv")  # bench/locustfile.py writes them when Locust quits
    if done.returncode not in (0, 1) or not stats_csv.exists():  # 1: some calls failed, which the report says
        raise SystemExit(f"locust failed ({done.returncode}):\n{Path(f'{prefix}.out').read_text()[-3000:]}")
    with stats_csv.open(newline="") as f:
        row = next((r for r in csv.DictReader(f) if r["Name"] == scenario.name), NO_CALLS)
    with open(f"{prefix}_final_failures.csv", newline="") as f:
        errors = [(r["Error"], int(r["Occurrences"])) for r in csv.DictReader(f)]
    return row, sorted(errors, key=lambda e: -e[1])


def _number(stats: dict[str, str], column: str) -> float | None:
    try:
        return float(stats[column])
    except (KeyError, ValueError):  # "N/A" when no call succeeded
        return None


def check(result: Result) -> None:
    criteria = result.scenario.criteria
    rps = _number(result.stats, "Requests/s") or 0.0
    p99 = _number(result.stats, "99%")
    errors = int(result.stats["Failure Count"])
    result.checks = [
        ("requests/s", f"≥ {criteria.min_rps:g}", rps >= criteria.min_rps),
        ("p99", f"≤ {criteria.max_p99_ms:g} ms", p99 is not None and p99 <= criteria.max_p99_ms),
        ("errors", f"≤ {criteria.max_errors}", errors <= criteria.max_errors),
    ]


@dataclass(frozen=True)
class Usage:
    """CPU seconds so far: the API's processes, our children (Locust, once reaped), this
    process (the media server), the machine (busy, all cores' total), and media downloads."""

    server: float
    children: float
    own: float
    busy: float
    total: float
    downloads: int


def _rusage(who: int) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def usage(server_group: int, media_server: MediaServer) -> Usage:
    busy, total = machine_busy()
    return Usage(group_cpu_seconds(server_group), _rusage(resource.RUSAGE_CHILDREN), _rusage(resource.RUSAGE_SELF),
                 busy, total, media_server.gets)  # fmt: skip


def cpu_figures(before: Usage, after: Usage) -> dict[str, float]:
    seconds = (after.total - before.total) / (os.cpu_count() or 1)  # wall time
    calls = after.downloads - before.downloads  # every identify call downloads the media once, ramp included
    figures = {
        "calls": calls,
        "seconds": seconds,
        "server_ms_per_call": 1000 * (after.server - before.server) / max(calls, 1),
        "server_cores": (after.server - before.server) / seconds,
        "locust_cores": (after.children - before.children) / seconds,
        "media_server_cores": (after.own - before.own) / seconds,
        "machine_busy": (after.busy - before.busy) / (after.total - before.total),
    }
    ours = figures["server_cores"] + figures["locust_cores"] + figures["media_server_cores"]
    figures["other_cores"] = max(figures["machine_busy"] * (os.cpu_count() or 1) - ours, 0.0)
    return figures


def run_scenario(scenario: Scenario, media: Media, media_server: MediaServer, api: tuple[str, int], key: str,
                 work: Path) -> Result:  # fmt: skip
    api_url, server_group = api
    media_url = f"{media_server.url}/{scenario.media}.{media.format}"
    spec = scenario_file(scenario, media, media_url, key, work / f"{scenario.name}.json")
    before = usage(server_group, media_server)
    stats, errors = run_locust(scenario, spec, api_url, work)
    result = Result(scenario, stats, errors, cpu_figures(before, usage(server_group, media_server)))
    check(result)
    return result


# ---- the report ----------------------------------------------------------------------------


def machine() -> str:
    cpuinfo = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    model = next((line.split(":", 1)[1].strip() for line in cpuinfo.splitlines() if line.startswith("model name")), "?")
    pages = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    return (
        f"{platform.machine()}, {os.cpu_count()} cores ({model}), {pages / 2**30:.0f} GiB; Linux {platform.release()}; "
        f"Python {platform.python_version()}; Locust {version('locust')}, gunicorn {version('gunicorn')}, "
        f"functions-framework {version('functions-framework')}"
    )


def _ms(stats: dict[str, str], column: str) -> str:
    value = _number(stats, column)
    return "–" if value is None else f"{value:.0f} ms"


def scenario_section(result: Result, media: Media) -> list[str]:
    s, stats, cpu = result.scenario, result.stats, result.cpu
    met = {figure: (criterion, ok) for figure, criterion, ok in result.checks}

    def row(figure: str, value: str) -> str:
        criterion, ok = met.get(figure, ("", None))
        return f"| {figure} | {value} | {criterion} | {'' if ok is None else 'pass' if ok else '**FAIL**'} |"

    body = json.dumps(s.request.body) if s.request.body else ""
    lines = [
        f"### {s.name}: {'PASS' if result.passed else 'FAIL'}",
        "",
        f"{s.description}. `{s.request.method} {s.request.path}` {body} with `X-API-Key`; the media: "
        f"{media.seconds:g} s of {media.track_id} from {media.start_seconds:g} s, {media.format.upper()} "
        f"{media.sample_rate} Hz, {media.channels} ch, {media.bit_rate // 1000} kb/s. Offered: {s.load.rate:g} calls/s "
        f"from {s.load.users} users, after a {s.load.ramp_seconds} s ramp, measured for {s.load.duration_seconds} s.",
        "",
        "| figure | measured | criterion | |",
        "|---|---|---|---|",
        row("requests", stats["Request Count"]),
        row("requests/s", f"{_number(stats, 'Requests/s') or 0:.1f}"),
        row("p50", _ms(stats, "50%")),
        row("p95", _ms(stats, "95%")),
        row("p99", _ms(stats, "99%")),
        row("max", _ms(stats, "Max Response Time")),
        row("errors", stats["Failure Count"]),
        "",
        f"CPU over the whole run ({cpu['seconds']:.0f} s, {cpu['calls']:.0f} calls, ramp included): the API "
        f"{cpu['server_ms_per_call']:.1f} ms per call ({cpu['server_cores']:.2f} cores), Locust "
        f"{cpu['locust_cores']:.2f} cores, the media server {cpu['media_server_cores']:.2f} cores, other processes "
        f"{cpu['other_cores']:.2f} cores; the machine was {100 * cpu['machine_busy']:.0f} % busy.",
    ]
    if result.errors:
        lines += ["", "Errors (Locust's count):", ""]
        lines += [f"- {count} × {error}" for error, count in result.errors[:10]]
    return lines


def report(config: LoadTest, server: Server, results: list[Result], load_before: float) -> str:
    kind = "sync workers" if server.threads == 1 else "gthread workers"  # gunicorn's choice for 1 thread
    environment = "".join(f", {k}={v}" for k, v in server.env.items())
    failed = [r.scenario.name for r in results if not r.passed]
    verdict = f"FAILED ({', '.join(failed)})" if failed else "every scenario passed"
    lines = [
        "# Load test: the identify API",
        "",
        "`make load` (bench/load.py, scenarios in load_test.json); figures are Locust's over the measured window "
        "(percentiles are Locust's, rounded to 2 significant digits above 100 ms).",
        "",
        f"Machine: {machine()}; load average {load_before:.2f} before the run.",
        "",
        f"Server: `functions-framework --target=api`, gunicorn {server.workers} {kind} × {server.threads} "
        f"thread{'s' if server.threads > 1 else ''}{environment}, CLEARED_AUTH=keys (one key, rate limit "
        f"{key_rate(config)} per process), CLEARED_TASK_WORKERS=0, CLEARED_ALLOW_PRIVATE_URLS=true, its own SQLite "
        "store holding the demo catalog, JSON request logs to a file. Media from a threaded HTTP server on "
        "127.0.0.1 (HTTP/1.0, one connection per download); Locust on the same machine, each user calling at "
        "its share of the rate from a random moment of its first interval.",
        "",
        *([f"Why this configuration: {server.why}", ""] if server.why else []),
        f"Result: {verdict}.",
        "",
    ]
    for result in results:
        lines += [*scenario_section(result, config.media[result.scenario.media]), ""]
    return "\n".join(lines)


# ---- main ----------------------------------------------------------------------------------


def run(config: LoadTest, server: Server, demo: Path, work: Path) -> list[Result]:
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    catalog_csv = ensure_demo(demo)
    db = work / "store" / "load.db"
    build_store(db, catalog_csv)
    key = create_key(db, key_rate(config))
    files = work / "media"
    for name, media in config.media.items():
        cut(catalog_csv, media, files / f"{name}.{media.format}")
    with serve_media(files) as media_server, api_server(server_env(db, work, server), work / "api.log") as api:
        return [
            run_scenario(s, config.media[s.media], media_server, api, key, work)
            for s in config.scenarios
        ]  # fmt: skip


def _sigterm(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)  # unwinds: the server and Locust are stopped on the way out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", type=Path, default=ROOT / "load_test.json")
    parser.add_argument("--demo", type=Path, default=ROOT / "data" / "demo", help="the demo catalog's folder")
    parser.add_argument("--work", type=Path, default=ROOT / "bench" / "work" / "load", help="emptied first")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "LOAD.md")
    parser.add_argument("--workers", type=int, default=None, help="instead of the config's")
    parser.add_argument("--threads", type=int, default=None, help="instead of the config's")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, _sigterm)
    config = LoadTest.model_validate_json(args.config.read_text())
    server = config.server.model_copy(
        update={"workers": args.workers or config.server.workers, "threads": args.threads or config.server.threads}
    )
    load_before = os.getloadavg()[0]
    results = run(config, server, args.demo.resolve(), args.work.resolve())
    text = report(config, server, results, load_before)
    args.out.write_text(text)
    print(text)
    return 0 if all(r.passed for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
