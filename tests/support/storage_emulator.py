"""A local stand-in for Cloud Storage: gcp-storage-emulator, a separate process serving the
JSON API that the real google-cloud-storage client talks to (`STORAGE_EMULATOR_HOST`).
Google's own service cannot be reached from here; this fake is the only one in the tests."""

from __future__ import annotations

import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.support.server_process import free_port

BUCKET = "cleared-test"


@contextmanager
def storage_emulator() -> Iterator[str]:
    """Run the emulator with an empty in-memory bucket `BUCKET`; yield its URL."""
    port = free_port()
    command = [str(Path(sys.executable).parent / "gcp-storage-emulator"), "start", "--in-memory", "--quiet"]
    process = subprocess.Popen([*command, f"--port={port}", "--host=127.0.0.1", f"--default-bucket={BUCKET}"])
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(f"{url}/storage/v1/b/{BUCKET}", timeout=1).close()
                break
            except OSError:
                assert process.poll() is None, "the storage emulator exited"
                time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)
