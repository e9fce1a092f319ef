"""The deployed entry point as a real process: `functions-framework --target=api` serving
main.py over HTTP on a free loopback port, as Cloud Functions runs it (gunicorn)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def server(env: dict[str, str], root: Path = ROOT) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """Start the server in `root` with `env` added to ours; yield its URL and process (its
    own process group: a test may kill it, gunicorn workers included, with `os.killpg`)."""
    port = free_port()
    command = [str(Path(sys.executable).parent / "functions-framework"), "--target=api", "--source=main.py"]
    process = subprocess.Popen(
        [*command, f"--port={port}", "--host=127.0.0.1"], cwd=root, env={**os.environ, **env}, start_new_session=True
    )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                urllib.request.urlopen(url + "/openapi.yaml", timeout=1).close()
                break
            except OSError:
                assert process.poll() is None, "the server exited"
                time.sleep(0.1)
        yield url, process
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=10)
