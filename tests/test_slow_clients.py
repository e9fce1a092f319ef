"""Slow clients: uploads trickling in must not hold the threads that answer /healthz, and a
body that arrives slower than CLEARED_BODY_MIN_RATE is cut off with 408 (lib/web/slow_bodies.py).
The server is the deployed entry point (functions-framework: gunicorn) with `make run`'s
THREADS, over real sockets; `make bench-slow` measures the same at full size."""

from __future__ import annotations

import io
import json
import re
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from flask import Flask

from bench.slow_clients import HealthProber, multipart, upload_all
from lib.synth.songs import RATE, demo_song
from tests.support.audio import encode
from tests.support.server_process import ROOT
from tests.support.server_process import server as running
from tests.support.stores import private_copy

CLIENTS = 10
CLIENT_RATE = 20_000  # bytes/s, each
BOUND = 1.0  # seconds /healthz may take meanwhile


def make_default(name: str) -> str:
    found = re.search(rf"^{name} \?= (\S+)$", (ROOT / "Makefile").read_text(), re.M)
    assert found is not None, f"no {name} ?= in the Makefile"
    return found.group(1)


def test_the_image_and_the_function_run_with_make_runs_threads() -> None:
    threads = make_default("THREADS")
    assert re.search(rf"\bTHREADS={threads}\b", (ROOT / "Dockerfile").read_text())
    assert f"--set-env-vars=THREADS={threads}," in (ROOT / "Makefile").read_text()  # deploy-function


class Trickle(io.BytesIO):
    """A body that arrives at most 100 bytes per `delay` seconds."""

    def __init__(self, data: bytes, delay: float) -> None:
        super().__init__(data)
        self.delay = delay

    def read(self, size: int | None = -1) -> bytes:
        time.sleep(self.delay)
        return super().read(100 if size is None or size < 0 else min(100, size))


def test_a_body_past_its_budget_is_answered_408(make_app: Callable[..., Flask]) -> None:
    """Without a socket to time out (the test client), the budget is checked between reads."""
    app = make_app(body_grace_seconds=0.05, body_min_rate=10**9)  # about 0.05 s for any body
    data = b"--b\r\n" + b"x" * 5000
    response = app.test_client().post(
        "/v1/identify/dn",
        input_stream=Trickle(data, delay=0.1),
        content_length=len(data),
        content_type="multipart/form-data; boundary=b",
    )
    assert response.status_code == 408
    body = response.get_json()
    assert body["status"] == "error" and body["error"]["code"] == "request_timeout"
    assert "bytes/s" in body["error"]["message"]


def test_identify_waits_for_the_processs_cpu_gate(make_app: Callable[..., Flask], tmp_path: Path) -> None:
    """Many threads per process, one decode-and-scan at a time (CLEARED_CPU_SLOTS=1)."""
    app = make_app()
    clip = encode(tmp_path / "clip.mp3", demo_song(4, 24.0)[3 * RATE : 8 * RATE], RATE, "mp3")
    gate = app.extensions["cleared"].cpu_gate
    answers: list[int] = []

    def upload() -> None:
        with clip.open("rb") as f:
            answers.append(app.test_client().post("/v1/identify/dn", data={"file": f}).status_code)

    caller = threading.Thread(target=upload)
    with gate:  # another call's CPU work
        caller.start()
        caller.join(timeout=1.0)
        assert caller.is_alive() and not answers
    caller.join(timeout=30)
    assert answers == [200]


@pytest.fixture(scope="module")
def server(catalog_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("slow")
    env = {
        "CLEARED_DB": str(private_copy(catalog_path, folder)),
        "CLEARED_STORAGE": str(folder / "uploads"),
        "CLEARED_AUTH": "open",
        "CLEARED_TASK_WORKERS": "0",
        "CLEARED_BODY_GRACE_SECONDS": "0.5",
        "CLEARED_BODY_MIN_RATE": "15000",  # under the uploaders' 20 KB/s: they are served
        "WORKERS": "1",  # the worst case: every slow client in the one process
        "THREADS": make_default("THREADS"),
        "OPENBLAS_NUM_THREADS": "1",
    }
    with running(env) as (url, _):
        yield url


@pytest.mark.slow
def test_slow_uploads_leave_healthz_answering(server: str, tmp_path: Path) -> None:
    clip = encode(tmp_path / "clip.mp3", demo_song(4, 24.0)[3 * RATE : 15 * RATE], RATE, "mp3")
    body, content_type = multipart(clip)
    with HealthProber(server, every=0.25).running() as prober:
        time.sleep(0.3)
        uploads = upload_all(server, body, content_type, CLIENTS, CLIENT_RATE)
    assert len(body) / CLIENT_RATE > 2.0  # each upload holds its thread for a while
    assert [u.status for u in uploads] == [200] * CLIENTS, [u.error for u in uploads]
    assert len(prober.latencies) >= 4 and not prober.failures
    assert prober.worst <= BOUND, sorted(prober.latencies)


@pytest.mark.slow
def test_a_stalled_body_is_answered_408_in_the_api_format(server: str) -> None:
    """Headers for 20,000 bytes, 1,000 sent, then nothing: cut off once the budget
    (0.5 s + 20,000 B / 15,000 B/s) is spent, not when the client gives up."""
    head = (
        b"POST /v1/identify/dn HTTP/1.1\r\nHost: test\r\nContent-Type: multipart/form-data; boundary=b\r\n"
        b"Content-Length: 20000\r\n\r\n--b\r\n"
        b'Content-Disposition: form-data; name="file"; filename="a.mp3"\r\n\r\n'
    )
    host, port = server.removeprefix("http://").split(":")
    started = time.monotonic()
    with socket.create_connection((host, int(port)), timeout=15) as client:
        client.sendall(head + b"\0" * (1000 - len(head)))
        answer = b""
        while chunk := client.recv(65536):
            answer += chunk
    waited = time.monotonic() - started
    status_line, _, rest = answer.partition(b"\r\n")
    assert status_line.startswith(b"HTTP/1.1 408"), answer[:300]
    body = json.loads(rest.partition(b"\r\n\r\n")[2])
    assert body["status"] == "error" and body["error"]["code"] == "request_timeout"
    assert 1.5 < waited < 5.0
